"""The batching wait of ``deployready serve``: adaptive (no wait while fewer than one
request is expected to arrive during a predict) or fixed (``--fixed-wait``)."""

from __future__ import annotations

import asyncio
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
    # one request every 50 ms, 1 ms predicts: nothing arrives during a predict
    latencies, _ = _run(ServeOptions(max_wait_ms=200), gap_s=0.05, n=12, predict_s=0.001)
    assert max(latencies[2:]) < 0.1  # the fixed wait would hold each for 200 ms


def test_fixed_wait_waits_whatever_the_load() -> None:
    latencies, _ = _run(ServeOptions(max_wait_ms=200, adaptive_wait=False), gap_s=0.05,
                        n=4, predict_s=0.001)
    assert min(latencies) >= 0.05


def test_heavy_load_still_forms_batches() -> None:
    # one request every 2 ms, 20 ms predicts: ten arrive during each predict, so the
    # batcher waits for more instead of predicting one row at a time
    _, stats = _run(ServeOptions(max_wait_ms=30, max_batch_size=16), gap_s=0.002, n=80,
                    predict_s=0.02)
    assert stats.batches < 20 and stats.max_batch_rows >= 8


def test_fixed_wait_flag_is_validated() -> None:
    with pytest.raises(InputError, match="max-wait"):
        ServeOptions(max_wait_ms=-1).check()
