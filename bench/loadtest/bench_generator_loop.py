"""The load generator's event loop: asyncio vs uvloop, CPU per request, side by side.

    .venv/bin/python bench/loadtest/bench_generator_loop.py DEMO/models/v1.0 --repeats 3

Serves the package with ``deployready serve`` (no prediction log) and drives ``/noop`` and
``/predict`` with the product's ``run_phase`` (closed loop, 100 connections, 300 warm-up
requests, then ``--requests`` measured), alternating the two loops run by run. Reports
the generator process's CPU time per request and the throughput, medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from deployready.loadtest.loadgen import make_session, payload_bodies, run_phase
from deployready.package.load import load_package

PATHS = ("/noop", "/predict")


async def drive(url: str, path: str, bodies: list[bytes], rows: Any, n: int
                ) -> tuple[float, float]:
    """(CPU µs per request, requests per second) of one measured phase."""
    common: dict[str, Any] = {"mode": "closed", "concurrency": 100, "rate": 1.0,
                              "arrival": "constant", "timeout_s": 5.0, "max_seconds": 60.0,
                              "should_stop": lambda: False}
    async with make_session(100, 5.0) as session:
        await run_phase(session, url + path, bodies, rows, requests=300,
                        expect_predictions=False, **common)
        cpu, wall = time.process_time(), time.perf_counter()
        await run_phase(session, url + path, bodies, rows, requests=n,
                        expect_predictions=path == "/predict", **common)
        return (time.process_time() - cpu) / n * 1e6, n / (time.perf_counter() - wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    package = load_package(args.package)
    bodies, rows = payload_bodies(package.request_rows(), 1, 1000)
    ready = Path(tempfile.mkdtemp(prefix="deployready-genloop-")) / "ready.json"
    server = subprocess.Popen([sys.executable, "-m", "deployready", "serve", str(package.path),
                               "--port", "0", "--ready-file", str(ready), "--no-log"],
                              stderr=subprocess.DEVNULL)
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop] | None] = {
        "asyncio": None, "uvloop": uvloop.new_event_loop}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("deployready serve did not start")
            time.sleep(0.1)
        url = json.loads(ready.read_text())["url"]
        for i in range(args.repeats):
            for name in (("asyncio", "uvloop") if i % 2 == 0 else ("uvloop", "asyncio")):
                with asyncio.Runner(loop_factory=loops[name]) as runner:
                    for path in PATHS:
                        out = runner.run(drive(url, path, bodies, rows, args.requests))
                        results.setdefault((name, path), []).append(out)
                        print(f"{name} {path} [{i + 1}]: {out[0]:.1f} µs CPU/request, "
                              f"{out[1]:.0f} req/s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(30)
    print(f"\nmedians of {args.repeats} runs × {args.requests} requests, 100 concurrent\n")
    print("| path | loop | CPU per request | req/s |")
    print("|---|---|---:|---:|")
    for path in PATHS:
        for name in loops:
            runs = results[(name, path)]
            print(f"| {path} | {name} | {statistics.median(r[0] for r in runs):.1f} µs | "
                  f"{statistics.median(r[1] for r in runs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
