"""The options of ``deployready serve``, and the limit on the BLAS/OpenMP threads of
the process that predicts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deployready.errors import InputError

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class ServeOptions:
    max_batch_size: int = 128  # rows per predict call: the checklist's 100 in-flight in one
    max_wait_ms: float = 2.0  # how long a partial batch waits for more requests
    adaptive_wait: bool = True  # wait only when the queue is already long
    batching: bool = True
    max_body_bytes: int = 1_048_576
    max_rows_per_request: int = 1000
    max_queue_rows: int = 20_000  # more queued rows than this → 503
    threads: int = 1  # BLAS/OpenMP threads of the predict thread
    log_dir: Path | None = None
    flush_seconds: float = 1.0
    warmup: bool = True

    def check(self) -> None:
        if self.max_batch_size < 1:
            raise InputError("must be >= 1", location="--max-batch-size",
                             expected="an integer >= 1")
        if not 0 <= self.max_wait_ms <= 1000:
            raise InputError("out of range", location="--max-wait-ms",
                             expected="a number of milliseconds between 0 and 1000")
        if self.max_body_bytes < 1024:
            raise InputError("too small", location="--max-body-bytes", expected=">= 1024")
        if self.threads < 1:
            raise InputError("must be >= 1", location="--threads", expected="an integer >= 1")


def limit_threads(threads: int = 1) -> None:
    """Limit BLAS/OpenMP pools of this process (env for children, threadpoolctl now)."""
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
