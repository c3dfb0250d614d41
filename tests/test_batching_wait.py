"""The batching wait of ``deployready serve``: adaptive (no wait unless the queue is
already long) or fixed (``--fixed-wait``)."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deployready.errors import InputError
from deployready.serving.batching import MicroBatcher, Stats
from deployready.serving.options import ServeOptions


def _validate(rows: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(r["x"]) for r in rows]})


def _run(options: ServeOptions, gap_s: float, n: int, predict_s: float
         ) -> tuple[list[float], Stats]:
    """``n`` one-row requests ``gap_s`` apart; each request's latency in seconds."""
    stats = Stats()

    def predict(frame: pd.DataFrame) -> np.ndarray:
        time.sleep(predict_s)
        return frame["x"].to_numpy()

    async def main() -> list[float]:
        batcher = MicroBatcher(_validate, predict, options, stats)
        batcher.start()

        async def one(i: int) -> float:
            await asyncio.sleep(i * gap_s)
            started = time.perf_counter()
            await batcher.submit([{"x": i}])
            return time.perf_counter() - started

        try:
            return list(await asyncio.gather(*(one(i) for i in range(n))))
        finally:
            await batcher.stop()

    return asyncio.run(main()), stats


def test_light_load_is_not_kept_waiting() -> None:
    # one request every 100 ms, 1 ms predicts: nothing arrives during a predict (the
    # bound is loose: on a loaded machine a predict's round trip takes tens of ms)
    latencies, _ = _run(ServeOptions(max_wait_ms=1000), gap_s=0.1, n=8, predict_s=0.001)
    assert statistics.median(latencies) < 0.5  # the fixed wait holds each for 1 s


def test_fixed_wait_waits_whatever_the_load() -> None:
    latencies, _ = _run(ServeOptions(max_wait_ms=200, adaptive_wait=False), gap_s=0.05,
                        n=4, predict_s=0.001)
    assert min(latencies) >= 0.05


def test_a_short_queue_is_not_kept_waiting() -> None:
    # one request every 2 ms, 5 ms predicts: two or three queue during each predict —
    # natural batches, well under a quarter of 128 rows: nothing waits
    latencies, stats = _run(ServeOptions(max_wait_ms=200), gap_s=0.002, n=60,
                            predict_s=0.005)
    assert stats.waited_batches == 0
    assert statistics.median(latencies) < 0.2  # the fixed wait holds each ≥ 200 ms


def test_heavy_load_still_forms_batches() -> None:
    # one request every 2 ms, 20 ms predicts: ten queue during each predict, a long
    # queue for batches of 16 rows, so the batcher waits to fill them
    _, stats = _run(ServeOptions(max_wait_ms=30, max_batch_size=16), gap_s=0.002, n=80,
                    predict_s=0.02)
    assert stats.waited_batches > 0
    assert stats.batches < 20 and stats.max_batch_rows >= 8


def test_fixed_wait_flag_is_validated() -> None:
    with pytest.raises(InputError, match="max-wait"):
        ServeOptions(max_wait_ms=-1).check()
