"""Load-test commands: ``loadtest`` (the dry deployment) and ``serve`` (the HTTP server)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from deployready.checks import Check, Status, status_mark
from deployready.cli.common import (
    add_json_arg,
    add_workspace_arg,
    print_json,
    resolve_version,
    workspace_of,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "loadtest",
        help="dry-deployment load test of a package (exit 0 pass, 1 thresholds failed, 2 error)",
        description="Serve the package with 'deployready serve' on a loopback port (or target "
        "an endpoint), drive it from a separate worker process and check the result against "
        "the policy's [load_test] section. Defaults come from the policy. The load profile "
        "passes only when the run held the policy's concurrency in flight (closed or open "
        "loop): an open loop holds rate x latency requests in flight.",
    )
    add_workspace_arg(p)
    p.add_argument("--version", default=None, help="package version (default: newest)")
    p.add_argument("--mode", choices=["closed", "open"], default="closed",
                   help="closed: N clients back to back; open: fixed arrival rate")
    p.add_argument("--concurrency", type=int, default=None,
                   help="closed-loop clients / open-loop connection pool (default: policy)")
    p.add_argument("--requests", type=int, default=None, help="measured requests (default: policy)")
    p.add_argument("--rate", type=float, default=None, help="open loop: requests per second")
    p.add_argument("--arrival", choices=["constant", "poisson"], default=None,
                   help="open loop: arrival process (default constant)")
    p.add_argument("--timeout-ms", type=float, default=None,
                   help="per-request timeout (default: policy)")
    p.add_argument("--target", default=None,
                   help="an endpoint URL speaking the prediction protocol (default: serve the "
                   "package on 127.0.0.1)")
    p.add_argument("--no-batching", action="store_true", help="serve without micro-batching")
    p.add_argument("--max-batch-size", type=int, default=None)
    p.add_argument("--max-wait-ms", type=float, default=None)
    p.add_argument("--max-seconds", type=float, default=None,
                   help="bound of the measured phase (default: policy)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_loadtest)

    p = sub.add_parser("serve", help="HTTP prediction server for a package (loopback by default)")
    p.add_argument("path", type=Path, help="package folder, e.g. models/v1.1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (off by default)")
    p.add_argument("--max-batch-size", type=int, default=128,
                   help="rows per predict call (default 128: the checklist's 100 in one call)")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="how long a partial batch waits for more requests")
    p.add_argument("--no-batching", action="store_true", help="one predict call per request")
    p.add_argument("--max-body-bytes", type=int, default=1_048_576)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for predict")
    p.add_argument("--log-dir", type=Path, default=None,
                   help="prediction log folder (default: <workspace>/data/production when the "
                   "package is in a workspace)")
    p.add_argument("--no-log", action="store_true", help="do not write the prediction log")
    p.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_serve)


def _bar(fraction: float, width: int = 30) -> str:
    filled = round(fraction * width)
    return "#" * filled + "-" * (width - filled)


def _progress_line(snap: Any) -> str:
    lat = snap.latency_ms or {}
    p99 = f" p99 {lat['p99']:.1f} ms" if lat.get("p99") is not None else ""
    errors = f" errors {snap.errors}" if snap.errors else ""
    return (f"\r[{_bar(snap.fraction)}] {snap.done}/{snap.total} {snap.phase:<16}"
            f"{p99}{errors}   ")


def _follow(job: Any) -> Any:
    """Show a running job's progress on stderr until it finishes (Ctrl-C cancels it);
    its last snapshot."""
    tty = sys.stderr.isatty()
    last_line = ""
    try:
        while True:
            snap = job.snapshot()
            if snap.finished:
                break
            line = _progress_line(snap)
            if tty:
                sys.stderr.write(line)
                sys.stderr.flush()
            elif line.split("]")[0] != last_line:
                last_line = line.split("]")[0]
                sys.stderr.write(line.strip("\r").rstrip() + "\n")
            time.sleep(0.2)
    except KeyboardInterrupt:
        sys.stderr.write("\ncancelling...\n")
        job.cancel()
        snap = job.wait(60.0)
    if tty:
        sys.stderr.write(_progress_line(snap) + "\n")
    return snap


def _print_summary(run_id: int, version: str, mode: str, r: dict[str, Any],
                   checks: list[Check], concurrency: int) -> None:
    """A completed run as text: load, latency, server, noise floor and each check."""
    from deployready.loadtest.results import profile_text

    lat = r["latency_ms"]
    print(f"load test #{run_id} of {version}: {mode} loop, "
          f"{r['requests']['planned']} requests, throughput {r.get('throughput_rps')} req/s")
    print(f"  profile: {profile_text(r, concurrency)}")
    print("  latency ms: " + ", ".join(
        f"{k} {lat[k]}" for k in ("p50", "p95", "p99", "p99_9", "mean", "max")) +
        f" (n={lat['count']})")
    health = (r.get("target") or {}).get("health") or {}
    if "preprocessing" in health:
        print(f"  server: batching {'on' if health.get('batching') else 'off'}, "
              f"preprocessing {health['preprocessing']}")
    noise = r.get("noise") or {}
    if "latency_ms" in noise:
        print(f"  harness noise (no-op): p50 {noise['latency_ms']['p50']} ms, "
              f"p99 {noise['latency_ms']['p99']} ms")
    if "open_loop" in r:
        o = r["open_loop"]
        print(f"  open loop: target {o['target_rate_rps']} req/s, achieved "
              f"{o['achieved_rate_rps']} req/s, late sends {o['late_sends']}")
    for c in checks:
        print(f"  {status_mark(c.status):<7} {c.name:<24} {c.threshold:<28} {c.message}")


def cmd_loadtest(args: argparse.Namespace) -> int:
    from deployready.loadtest import JobRegistry, LoadTestConfig, checks_from_result
    from deployready.loadtest.results import run_profile
    from deployready.loadtest.runs import RUN_SOURCE

    ws = workspace_of(args)
    version = resolve_version(ws, args.version)
    policy = ws.policy()
    config = LoadTestConfig.from_policy(
        version, policy.load_test, mode=args.mode, concurrency=args.concurrency,
        requests=args.requests, rate=args.rate, arrival=args.arrival, timeout_ms=args.timeout_ms,
        target=args.target, batching=False if args.no_batching else None,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
        max_seconds=args.max_seconds)
    registry = JobRegistry()
    job, started = registry.start(ws, config)
    if not started:
        print(f"deployready: a load test is already running in this workspace (run "
              f"#{job.run_id}); following it", file=sys.stderr)
    snap = _follow(job)
    if snap.status != "completed" or snap.result is None:
        print(f"deployready: load test #{snap.run_id} {snap.status}: {snap.error or ''}",
              file=sys.stderr)
        if args.json:
            print_json({"run_id": snap.run_id, "status": snap.status, "error": snap.error})
        return 2
    from deployready.checks import Evidence

    evidence = Evidence(source=RUN_SOURCE.format(id=snap.run_id),
                        package_sha256=(snap.result.get("package") or {}).get("sha256"))
    checks = checks_from_result(snap.result, policy.load_test, evidence)
    ok = all(c.status is Status.PASS for c in checks)
    if args.json:
        print_json({"run_id": snap.run_id, "status": snap.status, "passed": ok,
                    "profile": run_profile(snap.result, policy.load_test.concurrency),
                    "result": snap.result, "checks": [c.as_dict() for c in checks]})
    else:
        _print_summary(snap.run_id, version, config.mode, snap.result, checks,
                       policy.load_test.concurrency)
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from deployready.serving.options import ServeOptions
    from deployready.serving.server import default_log_dir, serve

    log_dir = None if args.no_log else (args.log_dir or default_log_dir(args.path))
    options = ServeOptions(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                           batching=not args.no_batching, max_body_bytes=args.max_body_bytes,
                           threads=args.threads, log_dir=log_dir)
    if log_dir is None and not args.no_log:
        print("deployready serve: no --log-dir and the package is not in a workspace: "
              "predictions are not logged", file=sys.stderr)
    serve(args.path, host=args.host, port=args.port, options=options,
          allow_remote=args.allow_remote, ready_file=args.ready_file, parent_pid=args.parent_pid)
    return 0
