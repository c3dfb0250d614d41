"""A model wrapper that stalls once, when the benchmark asks it to.

Importable by the server subprocess (``PYTHONPATH`` includes this folder). The stall is
triggered from outside, at a known time, by creating the file named in
``$DEPLOYREADY_BENCH_STALL_FILE``: the next ``predict_proba`` call removes it and sleeps
``stall_s``. Without the variable (export, validation) it never stalls.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

STALL_FILE_ENV = "DEPLOYREADY_BENCH_STALL_FILE"


class TriggeredStall:
    """Delegates to a fitted classifier; one ``stall_s`` sleep per trigger file."""

    def __init__(self, inner: Any, stall_s: float = 0.5) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.stall_s = stall_s

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.inner.predict(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        out = np.asarray(self.inner.predict_proba(x))
        path = os.environ.get(STALL_FILE_ENV)
        if path:
            try:
                os.unlink(path)  # claiming the trigger: exactly one call stalls
            except FileNotFoundError:
                pass
            else:
                time.sleep(self.stall_s)
        return out
