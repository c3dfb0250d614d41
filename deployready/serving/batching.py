"""Micro-batching for ``deployready serve``.

**Dynamic micro-batching.** Requests are put on an asyncio queue. One batching task
takes everything already queued, then waits at most ``max_wait_ms`` for more, up to
``max_batch_size`` rows (default 128: the checklist's 100 concurrent requests fit one
call), and runs one ``validate_rows`` + one ``predict`` for the whole
batch in a single worker thread (BLAS/OpenMP limited to ``threads`` threads by
threadpoolctl, so a gradient-boosting model does not oversubscribe the cores). Results
are fanned back to each request's future. While a batch is predicting, the event loop
keeps accepting requests, which form the next batch. A row that fails validation is
re-validated per request so only its own request gets the 422. A model exception fails
every request of that batch (500, error kind ``internal``) — it is not retried, so the
error rate of a flaky model stays visible. ``--no-batching`` sends each request alone
through the same single worker thread.

**Adaptive wait** (the default; ``--fixed-wait`` restores the fixed one). Waiting for
more requests only pays when the server is the bottleneck: while it keeps up, the
requests that arrive during one predict already form the next batch ("natural"
batching), and a wait only adds to every request's latency. So the batcher first takes
everything queued, and waits only when that is already a long queue — at least
``max_batch_size // 4`` rows (:data:`LONG_QUEUE_FRACTION`) — and then for at most
``min(max_wait_ms, P)``, P the smoothed time of one batch. Measured side by side on the
demo package (``bench/loadtest/results-adaptive.md``): an open loop of 1000 req/s
finds ~7 rows queued per batch and is no longer held (P50 as with no wait, below the
fixed 2 ms wait's); a closed loop of 100 clients finds ~40 and still gathers its batch.
A lone request never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deployready.errors import InputError
from deployready.serving.options import ServeOptions, limit_threads
from deployready.serving.requests import RequestError, request_error


@dataclass
class _Item:
    rows: list[Any]
    future: asyncio.Future[np.ndarray]
    submitted: float = 0.0  # time.perf_counter() at submit


@dataclass
class Stats:
    """Counters, and where the time went (seconds, summed over batches or requests)."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    max_batch_rows: int = 0
    queue_s: float = 0.0  # submit → its batch starts on the predict thread, per request
    validate_s: float = 0.0  # validate_rows, per batch
    predict_s: float = 0.0  # predict, per batch
    predict_thread_cpu_s: float = 0.0  # CPU time of the predict thread inside batches
    waited_batches: int = 0  # batches that waited for more requests

    def as_dict(self) -> dict[str, Any]:
        batches = self.batches or 1
        timing = {"queue_s": self.queue_s, "validate_s": self.validate_s,
                  "predict_s": self.predict_s, "predict_thread_cpu_s": self.predict_thread_cpu_s,
                  "mean_queue_ms": 1e3 * self.queue_s / (self.requests or 1),
                  "mean_validate_ms": 1e3 * self.validate_s / batches,
                  "mean_predict_ms": 1e3 * self.predict_s / batches,
                  "process_cpu_s": time.process_time()}
        return {"requests": self.requests, "rows": self.rows, "batches": self.batches,
                "mean_batch_rows": self.rows / self.batches if self.batches else 0.0,
                "max_batch_rows": self.max_batch_rows, "errors": dict(self.errors),
                "waited_batches": self.waited_batches,
                "timing": {k: round(v, 6) for k, v in timing.items()}}


#: Weight of the newest measurement in the smoothed batch time.
SMOOTHING = 0.3
#: The adaptive wait waits only when the queue already holds this share of a full batch.
LONG_QUEUE_FRACTION = 0.25


class MicroBatcher:
    """Collects requests into batches; one predict per batch on one worker thread."""

    def __init__(self, validate: Callable[[list[Any]], pd.DataFrame],
                 predict: Callable[[pd.DataFrame], np.ndarray], options: ServeOptions,
                 stats: Stats) -> None:
        self.validate = validate
        self.predict = predict
        self.max_rows = options.max_batch_size if options.batching else 1
        self.max_wait = options.max_wait_ms / 1000.0 if options.batching else 0.0
        self.max_queue_rows = options.max_queue_rows
        self.threads = options.threads
        self.stats = stats
        self.queued_rows = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        #: The one predict thread (the service warms the model up and profiles on it).
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict",
                                           initializer=limit_threads, initargs=(options.threads,))
        self._task: asyncio.Task[None] | None = None
        self._validated = 0.0  # perf_counter when the current batch finished validating
        self.adaptive = options.adaptive_wait
        self.batch_s = 0.0  # P, smoothed seconds per batch (validate + predict)
        self.long_queue_rows = max(2, int(self.max_rows * LONG_QUEUE_FRACTION))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, rows: list[Any]) -> np.ndarray:
        if self.queued_rows + len(rows) > self.max_queue_rows:
            raise RequestError(503, "overload", {"error": "server overloaded: queue full",
                                                 "field": None, "expected": None})
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self.queued_rows += len(rows)
        self._queue.put_nowait(_Item(rows, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list[_Item]:
        """The next batch: everything queued, then whatever arrives within the wait
        (:meth:`_wait`), up to ``max_batch_size`` rows. (Counting the wait from the first
        request's arrival instead was measured: it splits a closed loop's clients into
        two cohorts, two predicts per cycle, and cost ~20 % of closed-loop throughput.)"""
        first = await self._queue.get()
        batch, rows = [first], len(first.rows)
        while rows < self.max_rows and not self._queue.empty():
            item = self._queue.get_nowait()
            batch.append(item)
            rows += len(item.rows)
        deadline = time.perf_counter() + self._wait(rows)
        while rows < self.max_rows:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            else:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            rows += len(item.rows)
        return batch

    def _wait(self, queued_rows: int) -> float:
        """How long this batch may wait for more requests, given the rows it already
        took from the queue: ``max_wait``, or with the adaptive wait ``min(max_wait, P)``
        when those rows make a long queue (see the module's documentation), else 0."""
        if not self.adaptive or self.max_wait <= 0:
            return self.max_wait
        if queued_rows < self.long_queue_rows or queued_rows >= self.max_rows:
            return 0.0
        self.stats.waited_batches += 1
        return min(self.max_wait, self.batch_s)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            for item in batch:
                self.queued_rows -= len(item.rows)
            started = time.perf_counter()
            try:
                outcomes = await loop.run_in_executor(self.executor, self._process, batch)
            except Exception as exc:  # executor shut down, or a bug: fail the batch
                outcomes = [RequestError(500, "internal", {"error": str(exc)})] * len(batch)
            self.batch_s += SMOOTHING * (time.perf_counter() - started - self.batch_s)
            for item, outcome in zip(batch, outcomes, strict=True):
                if item.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            # Let this batch's handlers write their responses before the next batch
            # starts: both need the GIL, and a predict thread started now would delay
            # every one of these responses by its switch interval.
            await asyncio.sleep(0)

    def _process(self, batch: list[_Item]) -> list[np.ndarray | RequestError]:
        """Runs on the predict thread: validate and predict the whole batch at once."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        stats = self.stats
        rows = [r for item in batch for r in item.rows]
        stats.batches += 1
        stats.max_batch_rows = max(stats.max_batch_rows, len(rows))
        stats.queue_s += sum(started - item.submitted for item in batch)
        try:
            return self._validate_predict(batch, rows)
        finally:
            validated = self._validated
            ended = time.perf_counter()
            stats.validate_s += validated - started
            stats.predict_s += ended - validated
            stats.predict_thread_cpu_s += time.thread_time() - cpu_started

    def _validate_predict(self, batch: list[_Item], rows: list[Any]
                          ) -> list[np.ndarray | RequestError]:
        self._validated = time.perf_counter()
        outcomes: list[np.ndarray | RequestError | None] = [None] * len(batch)
        try:
            frame = self.validate(rows)
            good = list(range(len(batch)))
        except InputError:
            # find the offending request(s); the others still get predictions
            frames, good = [], []
            for i, item in enumerate(batch):
                try:
                    frames.append(self.validate(item.rows))
                    good.append(i)
                except InputError as exc:
                    outcomes[i] = request_error(exc)
            if not frames:
                self._validated = time.perf_counter()
                return [o for o in outcomes if o is not None]
            frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        self._validated = time.perf_counter()
        try:
            predictions = np.asarray(self.predict(frame), dtype=np.float64)
            if predictions.shape != (len(frame),):
                raise ValueError(f"predict returned shape {predictions.shape} "
                                 f"for {len(frame)} rows")
        except Exception as exc:  # any model failure is this batch's internal error
            error = RequestError(500, "internal", {"error": f"{type(exc).__name__}: {exc}",
                                                   "field": None, "expected": None})
            for i in good:
                outcomes[i] = error
            return [o for o in outcomes if o is not None]
        start = 0
        for i in good:
            n = len(batch[i].rows)
            outcomes[i] = predictions[start:start + n]
            start += n
        return [o for o in outcomes if o is not None]
