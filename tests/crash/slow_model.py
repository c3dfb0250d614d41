"""A picklable classifier wrapper whose predictions take a while (exports become killable)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class SlowProba:
    """Delegates to a fitted classifier, sleeping ``delay_s`` on every ``predict_proba``."""

    def __init__(self, inner: Any, delay_s: float = 0.02) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.coef_ = inner.coef_  # explained like the linear model it is
        self.intercept_ = inner.intercept_
        self.delay_s = delay_s

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.inner.predict(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.asarray(self.inner.predict_proba(x))
