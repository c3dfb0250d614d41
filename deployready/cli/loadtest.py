"""Load-test commands: ``loadtest`` (the dry deployment) and ``serve`` (the HTTP server)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployready.checks import Check, pass_fail, status_mark
from deployready.cli.common import (
    add_actor_arg,
    add_json_arg,
    add_workspace_arg,
    authorized,
    print_json,
    resolve_version,
    workspace_of,
)
from deployready.errors import InputError

if TYPE_CHECKING:  # the engine is imported when a command runs, not to parse arguments
    from deployready.loadtest.results import LoadTestResult
    from deployready.loadtest.runs import StoredRun
    from deployready.policy import LoadTestPolicy
    from deployready.workspace import Workspace


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
                   help="an endpoint URL speaking --protocol (default: serve the "
                   "package on 127.0.0.1)")
    p.add_argument("--protocol", choices=["auto", "deployready", "oip", "mlflow", "bentoml"],
                   default=None,
                   help="the target's protocol: deployready's /predict, the Open Inference "
                   "Protocol (oip), MLflow's /invocations, a BentoML 'rows' method; auto "
                   "(default) asks the server")
    p.add_argument("--model", default=None,
                   help="oip: the model name in /v2/models/{name}/infer (default: the only "
                   "model the server lists; the package version for 'serve')")
    p.add_argument("--no-batching", action="store_true", help="serve without micro-batching")
    p.add_argument("--max-batch-size", type=int, default=None)
    p.add_argument("--max-wait-ms", type=float, default=None)
    p.add_argument("--fixed-wait", action="store_true",
                   help="the served package's batches always wait --max-wait-ms")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="bound of the measured phase (default: policy)")
    _add_stored_args(p)
    add_actor_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_loadtest)
    _register_serve(sub)


def _register_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="HTTP prediction server for a package (loopback by default)")
    p.add_argument("path", type=Path, help="package folder, e.g. models/v1.1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (off by default)")
    p.add_argument("--max-batch-size", type=int, default=128,
                   help="rows per predict call (default 128: the checklist's 100 in one call)")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="the longest a partial batch waits for more requests")
    p.add_argument("--fixed-wait", action="store_true",
                   help="always wait --max-wait-ms (default: wait only when the queue "
                   "already holds a quarter of --max-batch-size rows)")
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


def _add_stored_args(p: argparse.ArgumentParser) -> None:
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--show", type=int, default=None, metavar="RUN",
                       help="show a stored run with the verdict it was given (and what it is "
                       "under the current policy, when that changed) instead of running one")
    shown.add_argument("--history", action="store_true",
                       help="list the stored runs (of --version when given) instead of running one")


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


def _print_summary(run: StoredRun, result: LoadTestResult, concurrency: int) -> None:
    """A completed run as text: load, latency, server and the noise floor."""
    from deployready.loadtest.checks import profile_text

    lat = result.latency_ms
    print(f"load test #{run.id} of {run.version}: {run.mode} loop, "
          f"{result.requests.planned} requests, throughput {result.throughput_rps} req/s")
    print(f"  profile: {profile_text(result, concurrency)}")
    print("  latency ms: " + ", ".join(
        f"{k} {getattr(lat, k)}" for k in ("p50", "p95", "p99", "p99_9", "mean", "max")) +
        f" (n={lat.count})")
    health = result.target.get("health") or {}
    if result.target.get("protocol"):
        print(f"  target: {result.target.get('predict_url')} "
              f"({result.target['protocol']} protocol)")
    if result.behaviour.checked:
        print(f"  behaviour: {result.behaviour.finding()}")
    if "preprocessing" in health:
        print(f"  server: batching {'on' if health.get('batching') else 'off'}, "
              f"preprocessing {health['preprocessing']}")
    if result.noise is not None:
        print(f"  harness noise (no-op): p50 {result.noise.latency_ms.p50} ms, "
              f"p99 {result.noise.latency_ms.p99} ms")
    if result.open_loop is not None:
        o = result.open_loop
        print(f"  open loop: target {o.target_rate_rps} req/s, achieved "
              f"{o.achieved_rate_rps} req/s, late sends {o.late_sends}")


def _check_line(c: Check) -> str:
    return f"  {status_mark(c.status):<7} {c.name:<24} {c.threshold:<28} {c.message}"


def _show_run(run: StoredRun, policy: LoadTestPolicy, as_json: bool) -> int:
    """A stored run with its verdict as stored: exit 0 passed, 1 failed, 2 no result."""
    from deployready.loadtest.checks import run_profile, run_verdict, verdict_text

    verdict = run_verdict(run, policy)
    if verdict is None or run.result is None:
        print(f"deployready: load test #{run.id} {run.status}: {run.error or 'no result'}",
              file=sys.stderr)
        if as_json:
            print_json({"run_id": run.id, "status": run.status, "error": run.error})
        return 2
    if as_json:
        print_json({"run_id": run.id, "status": run.status, "passed": verdict.passed,
                    "profile": run_profile(run.result, policy.concurrency).as_dict(),
                    "result": run.result.as_dict(),
                    "checks": [c.as_dict() for c in verdict.checks],
                    "checks_stored": verdict.stored,
                    "reevaluation": verdict.reevaluation.as_dict()
                    if verdict.reevaluation else None})
    else:
        _print_summary(run, run.result, policy.concurrency)
        for c in verdict.checks:
            print(_check_line(c))
        print(verdict_text(verdict))
        if verdict.reevaluation is not None:
            print(verdict.reevaluation.message)
    return 0 if verdict.passed else 1


def _history(ws: Workspace, version: str | None, policy: LoadTestPolicy,
             as_json: bool) -> int:
    """The stored runs, newest first, each with its stored verdict."""
    from deployready.loadtest.checks import run_verdict
    from deployready.loadtest.runs import list_runs

    runs = list_runs(ws, version) if ws.store_path.exists() else []
    again = [getattr(run_verdict(run, policy), "reevaluation", None) for run in runs]
    if as_json:
        print_json([{"run_id": run.id, "version": run.version, "mode": run.mode,
                     "status": run.status, "started_at": run.started_at,
                     "passed": run.passed, "error": run.error,
                     "reevaluation": None if r is None else r.as_dict()}
                    for run, r in zip(runs, again, strict=True)])
        return 0
    for run, r in zip(runs, again, strict=True):
        stored = "—" if run.passed is None else status_mark(pass_fail(run.passed))
        print(f"#{run.id:<5} {run.version:<10} {run.mode:<7} {run.status:<12} "
              f"{run.started_at}  {stored}" + (f"  ({r.message})" if r else "")
              + (f"  {run.error}" if run.error else ""))
    if not runs:
        print("no load tests in this workspace yet")
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    from deployready.loadtest import JobRegistry, LoadTestConfig
    from deployready.loadtest.runs import load_run

    ws = workspace_of(args)
    policy = ws.policy()
    if args.history:
        return _history(ws, args.version, policy.load_test, args.json)
    if args.show is not None:
        run = load_run(ws, args.show) if ws.store_path.exists() else None
        if run is None:
            raise InputError(f"no load test #{args.show}", source=ws.store_path,
                             location="--show", expected="a run number from --history")
        return _show_run(run, policy.load_test, args.json)
    version = resolve_version(ws, args.version)
    config = LoadTestConfig.from_policy(
        version, policy.load_test, mode=args.mode, concurrency=args.concurrency,
        requests=args.requests, rate=args.rate, arrival=args.arrival, timeout_ms=args.timeout_ms,
        target=args.target, protocol=args.protocol, model_name=args.model,
        batching=False if args.no_batching else None,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
        fixed_wait=args.fixed_wait or None, max_seconds=args.max_seconds)
    authorized(ws, args, "loadtest", version, policy)
    registry = JobRegistry()
    job, started = registry.start(ws, config)
    if not started:
        print(f"deployready: a load test is already running in this workspace (run "
              f"#{job.run_id}); following it", file=sys.stderr)
    snap = _follow(job)
    run = load_run(ws, snap.run_id)
    if snap.status != "completed" or run is None or run.result is None:
        print(f"deployready: load test #{snap.run_id} {snap.status}: {snap.error or ''}",
              file=sys.stderr)
        if args.json:
            print_json({"run_id": snap.run_id, "status": snap.status, "error": snap.error})
        return 2
    return _show_run(run, policy.load_test, args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    from deployready.serving.options import ServeOptions
    from deployready.serving.server import default_log_dir, serve

    log_dir = None if args.no_log else (args.log_dir or default_log_dir(args.path))
    options = ServeOptions(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                           batching=not args.no_batching, max_body_bytes=args.max_body_bytes,
                           threads=args.threads, log_dir=log_dir,
                           adaptive_wait=not args.fixed_wait)
    if log_dir is None and not args.no_log:
        print("deployready serve: no --log-dir and the package is not in a workspace: "
              "predictions are not logged", file=sys.stderr)
    serve(args.path, host=args.host, port=args.port, options=options,
          allow_remote=args.allow_remote, ready_file=args.ready_file, parent_pid=args.parent_pid)
    return 0
