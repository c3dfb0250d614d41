"""deployready side of the benchmark: ``python ours_driver.py CONFIG.json`` (from bench.py).

Drives ``deployready.loadtest.loadgen`` the way the load-test worker does: one aiohttp
session with a keep-alive pool of ``concurrency`` connections, a closed-loop warm-up
(discarded), then the measured phase (closed loop, or open loop at a constant rate with
latency from the scheduled send). Writes raw samples and this process's CPU time over
the measured phase (psutil) to the ``out`` file named in the config.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from deployready.loadtest.loadgen import make_session, run_phase


async def drive(cfg: dict[str, Any]) -> dict[str, Any]:
    bodies = [b.encode() for b in json.loads(Path(cfg["bodies"]).read_text())]
    body_rows = np.arange(len(bodies), dtype=np.int32)
    url = cfg["base_url"] + cfg["path"]
    timeout_s = float(cfg["timeout_s"])
    concurrency = int(cfg["concurrency"])
    proc = psutil.Process()
    session = make_session(concurrency, timeout_s)
    async with session:
        if cfg["warmup"]:
            await run_phase(session, url, bodies, body_rows, mode="closed",
                            requests=int(cfg["warmup"]), concurrency=concurrency, rate=0.0,
                            arrival="constant", timeout_s=timeout_s, max_seconds=60.0,
                            should_stop=lambda: False, expect_predictions=False)
        if cfg.get("started"):
            Path(cfg["started"]).touch()
        cpu0 = proc.cpu_times()
        t0 = time.time()
        samples = await run_phase(
            session, url, bodies, body_rows, mode=cfg["mode"], requests=int(cfg["requests"]),
            concurrency=concurrency, rate=float(cfg["rate"]), arrival="constant",
            timeout_s=timeout_s, max_seconds=float(cfg["max_seconds"]),
            should_stop=lambda: False, expect_predictions=cfg["path"] == "/predict")
        t1 = time.time()
        cpu1 = proc.cpu_times()
    return {
        "latency_us": samples.latency_us.tolist(), "lag_us": samples.lag_us.tolist(),
        "offset_us": samples.offset_us.tolist(), "kind": samples.kind.tolist(),
        "duration_s": samples.duration_s, "dispatch_s": samples.dispatch_s,
        "cpu_s": cpu1.user + cpu1.system - cpu0.user - cpu0.system, "t0": t0, "t1": t1,
    }


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(drive(cfg))
    Path(cfg["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
