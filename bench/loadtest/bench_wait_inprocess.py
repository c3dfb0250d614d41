"""The batching wait without HTTP: the demo package's real validate + predict behind
``MicroBatcher`` in one process, driven by an in-process open loop (1000 req/s, latency
from the scheduled time) and closed loop (100 clients back to back), the three waits
interleaved. Isolates what the wait costs or saves from the HTTP stack and the load
generator, which dominate on a loaded machine.

    .venv/bin/python bench/loadtest/bench_wait_inprocess.py WORKSPACE/models/v1.0 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from deployready.package.load import load_package
from deployready.serving.batching import MicroBatcher, Stats
from deployready.serving.options import ServeOptions, limit_threads

VARIANTS = {
    "fixed 2 ms": ServeOptions(max_wait_ms=2.0, adaptive_wait=False),
    "no wait (0 ms)": ServeOptions(max_wait_ms=0.0),
    "adaptive (≤ 2 ms)": ServeOptions(max_wait_ms=2.0),
}


async def _open(batcher: MicroBatcher, rows: list[Any], rate: float, n: int) -> list[float]:
    start = time.perf_counter()
    latencies: list[float] = []

    async def one(k: int, at: float) -> None:
        await batcher.submit([rows[k % len(rows)]])
        latencies.append(time.perf_counter() - at)

    tasks = []
    for k in range(n):
        at = start + k / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(k, at)))
    await asyncio.gather(*tasks)
    return latencies


async def _closed(batcher: MicroBatcher, rows: list[Any], clients: int, n: int
                  ) -> tuple[list[float], float]:
    counter = iter(range(n))
    latencies: list[float] = []

    async def client() -> None:
        for k in counter:
            sent = time.perf_counter()
            await batcher.submit([rows[k % len(rows)]])
            latencies.append(time.perf_counter() - sent)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, n / (time.perf_counter() - start)


async def _round(package: Any, options: ServeOptions, rows: list[Any]) -> dict[str, float]:
    stats = Stats()
    batcher = MicroBatcher(package.validate_rows, package.predict, options, stats)
    batcher.start()
    try:
        await _open(batcher, rows, 1000.0, 300)  # warm-up
        opened = np.array(await _open(batcher, rows, 1000.0, 3000)) * 1e3
        batches_open = stats.batches
        closed, rps = await _closed(batcher, rows, 100, 5000)
    finally:
        await batcher.stop()
    closed_ms = np.array(closed) * 1e3
    return {"open_p50": float(np.percentile(opened, 50)),
            "open_p99": float(np.percentile(opened, 99)),
            "open_batches": float(batches_open),
            "closed_p50": float(np.percentile(closed_ms, 50)),
            "closed_p99": float(np.percentile(closed_ms, 99)),
            "closed_rps": rps, "loadavg": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    limit_threads(1)
    package = load_package(args.package)
    rows = package.request_rows()
    names = list(VARIANTS)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in names}
    for i in range(args.repeats):
        for name in names[i % 3:] + names[:i % 3]:
            out = asyncio.run(_round(package, VARIANTS[name], rows))
            runs[name].append(out)
            print(f"{name} [{i + 1}/{args.repeats}]: {out}", file=sys.stderr)
    keys = ("open_p50", "open_p99", "closed_p50", "closed_p99", "closed_rps", "loadavg")
    print(f"\nmedians of {args.repeats} interleaved rounds (ms; closed loop req/s)\n")
    print("| wait | open 1000 req/s P50 | open P99 | closed 100 P50 | closed P99 | "
          "closed req/s | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        print(f"| {name} | " + " | ".join(
            f"{statistics.median(r[k] for r in rs):.2f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
