"""Models for the load-test benchmark (importable by the server subprocess via PYTHONPATH)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

STALL_ENV = "DEPLOYREADY_BENCH_STALL_AT"


class StallOnce:
    """Delegates to a fitted classifier; sleeps ``stall_s`` once, on predict call number
    ``$DEPLOYREADY_BENCH_STALL_AT`` (never when the variable is unset)."""

    def __init__(self, inner: Any, stall_s: float = 0.5) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.stall_s = stall_s
        self.calls = 0

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.inner.predict(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        self.calls += 1
        out = np.asarray(self.inner.predict_proba(x))
        at = os.environ.get(STALL_ENV)
        if at and self.calls == int(at):
            time.sleep(self.stall_s)
        return out
