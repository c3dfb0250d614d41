"""The same certified package served four ways — ``deployready serve``, MLServer, BentoML
and ``mlflow models serve`` — load-tested by the project's own generator through the CLI,
rounds interleaved; optionally checked against ``wrk`` (Debian package) on the same server.

    .venv/bin/python bench/peers/bench_peers.py --repeats 3 [--servers NAME ...] [--wrk NAME ...]

The peers run from their cached venvs (``scripts/peers.sh``) on the package's export
(``deployready package-export``), one OpenMP thread each. Each round runs every scenario
once per server, the servers' order rotating from round to round. Medians, the 1-minute
load average before each run, and every run go to ``bench/peers/results/peers-*.json``;
the table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from tests.peers import servers, venvs  # noqa: E402

PROTOCOL = {"deployready serve": [], "MLServer": ["--protocol", "oip", "--model",
                                                  servers.MODEL_NAME],
            "BentoML": ["--protocol", "bentoml"], "mlflow models serve": ["--protocol", "mlflow"]}
PEER = {"MLServer": "mlserver", "BentoML": "bentoml", "mlflow models serve": "mlflow"}
SCENARIOS: dict[str, list[str]] = {
    "closed 100 conn.": ["--mode", "closed", "--concurrency", "100", "--requests", "5000"],
    "open 1000 req/s": ["--mode", "open", "--rate", "1000", "--requests", "5000",
                        "--concurrency", "100"],
}
KEYS = ("throughput_rps", "p50", "p99", "errors", "loadavg")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def run_once(ws: Path, version: str, target: str | None, extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "deployready", "loadtest", "-w", str(ws), "--version", version,
            "--json", "--max-seconds", "120", "--timeout-ms", "5000", *extra]
    if target:
        argv += ["--target", target]
    proc = subprocess.run(argv, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)["result"]
    return {"throughput_rps": result["throughput_rps"], "p50": result["latency_ms"]["p50"],
            "p99": result["latency_ms"]["p99"], "errors": result["requests"]["errors"],
            "reproduces": (result.get("behaviour") or {}).get("reproduces")}


@contextlib.contextmanager
def started(name: str, ws: Path, version: str, work: Path) -> Iterator[str | None]:
    """The target URL of ``name`` (None: the load test serves the package itself)."""
    if name not in PEER:
        yield None
        return
    from deployready.stacks.export import export_to_stack

    peer = venvs.build([PEER[name]])[PEER[name]]
    if peer is None:
        raise RuntimeError(f"the {PEER[name]} venv could not be built")
    out = work / PEER[name]
    if not out.exists():
        export_to_stack(ws, version, PEER[name], out)
    # two worker processes for MLflow, as its table in the issue (BentoML's are in service.py)
    workers = 2 if name == "mlflow models serve" else 1
    with servers.serve(PEER[name], peer, out, work, workers=workers) as running:
        yield running.url


@contextlib.contextmanager
def own_server(ws: Path, version: str) -> Iterator[str]:
    """``deployready serve`` of the package on a free loopback port, as its own process."""
    port = servers.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "deployready", "serve",
                             str(ws / "models" / version), "--port", str(port), "--no-log"],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not servers._ready(url + "/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"deployready serve did not start at {url}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wrk_check(ws: Path, version: str, work: Path, server: str,
              seconds: int = 10) -> dict[str, Any]:
    """``wrk`` (2 threads, 100 connections) and the project's closed loop (100
    connections) on the same running server, one after the other: req/s and latency."""
    from deployready.package.load import load_package

    package = load_package(ws / "models" / version)
    peer = PEER.get(server, "deployready")
    body = json.dumps(servers.request_body(peer, package.schema, package.request_rows(1)))
    script = work / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body)}\n")
    path = servers.PREDICT_PATH.get(peer, "/predict")
    serving = (own_server(ws, version) if server == "deployready serve"
               else started(server, ws, version, work))
    with serving as url:
        assert url is not None
        done = subprocess.run(["wrk", "-t2", "-c100", f"-d{seconds}s", "--timeout", "10s",
                               "--latency", "-s", str(script), url + path],
                              capture_output=True, text=True, timeout=seconds + 60)
        ours = run_once(ws, version, url, [*SCENARIOS["closed 100 conn."], *PROTOCOL[server]])
    return {"server": server, "wrk": done.stdout, "ours": ours}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--wrk", nargs="*", choices=list(PROTOCOL), default=None,
                        metavar="SERVER", help="also compare with wrk on these servers")
    parser.add_argument("--servers", nargs="+", choices=list(PROTOCOL), default=list(PROTOCOL),
                        metavar="SERVER", help="only these servers (default: all four)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deployready-peers-"))
    ws = args.workspace or work / "demo"
    if not (ws / "models").is_dir():
        subprocess.run([sys.executable, "-m", "deployready", "demo", str(ws), "--no-loadtest"],
                       check=True, cwd=REPO, env=_env())
    version = sorted(p.name for p in (ws / "models").iterdir() if p.name.startswith("v"))[-1]
    names = list(args.servers)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {n: [] for n in names}
                                                       for s in SCENARIOS}
    for i in range(args.repeats):
        for name in names[i % len(names):] + names[:i % len(names)]:
            with started(name, ws, version, work) as url:
                for scenario, extra in SCENARIOS.items():
                    load = os.getloadavg()[0]
                    try:
                        out = run_once(ws, version, url, [*extra, *PROTOCOL[name]])
                    except RuntimeError as exc:  # a server that collapsed: kept, not a median
                        out = {"failed": str(exc)[-300:]}
                    out["loadavg"] = load
                    runs[scenario][name].append(out)
                    print(f"{scenario} | {name} [{i + 1}/{args.repeats}]: {json.dumps(out)}",
                          file=sys.stderr)
    table = {s: {n: {k: round(statistics.median(float(r[k]) for r in rs if k in r), 2)
                     if any(k in r for r in rs) else None for k in KEYS}
                 for n, rs in by.items()} for s, by in runs.items()}
    report: dict[str, Any] = {"cores": os.cpu_count(), "repeats": args.repeats,
                              "medians": table, "runs": runs}
    if args.wrk:
        report["wrk_check"] = [wrk_check(ws, version, work, server) for server in args.wrk]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"peers-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(f"\nmedians of {args.repeats} interleaved rounds ({os.cpu_count()} cores)\n")
    print("| scenario | server | req/s | P50 ms | P99 ms | errors | load avg |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for scenario, by in table.items():
        for name, m in by.items():
            print(f"| {scenario} | {name} | " + " | ".join(str(m[k]) for k in KEYS) + " |")
    for check in report.get("wrk_check", []):
        print(f"\nwrk on {check['server']}:\n" + check["wrk"])
        print("ours:", json.dumps(check["ours"]))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
