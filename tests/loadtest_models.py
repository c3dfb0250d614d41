"""Small picklable models and a workspace builder for the load-test and server tests.

The faulty wrappers only misbehave when ``DEPLOYREADY_TEST_FAULTS=1`` is in the
environment of the process that predicts (the server subprocess inherits it), so that
exporting the package (which predicts the holdout, the profile and SHAP) stays clean.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FAULTS_ENV = "DEPLOYREADY_TEST_FAULTS"
NUMERIC = ["amount", "age", "score", "tenure"]
CATEGORICAL = ["channel"]
FEATURES = NUMERIC + CATEGORICAL


def _armed() -> bool:
    return os.environ.get(FAULTS_ENV) == "1"


class _Wrapper:
    """Delegates to a fitted classifier; subclasses add a fault."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.calls = 0

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.inner.predict(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        self.calls += 1
        return np.asarray(self.inner.predict_proba(x))


class StallOnce(_Wrapper):
    """Sleeps ``stall_s`` once, on predict call number ``at_call`` (when armed)."""

    def __init__(self, inner: Any, stall_s: float = 0.3, at_call: int = 150) -> None:
        super().__init__(inner)
        self.stall_s = stall_s
        self.at_call = at_call

    def predict_proba(self, x: Any) -> np.ndarray:
        out = super().predict_proba(x)
        if _armed() and self.calls == self.at_call:
            time.sleep(self.stall_s)
        return out


class FailEvery(_Wrapper):
    """Raises on every ``every``-th predict call (1 % of calls by default, when armed)."""

    def __init__(self, inner: Any, every: int = 100) -> None:
        super().__init__(inner)
        self.every = every

    def predict_proba(self, x: Any) -> np.ndarray:
        out = super().predict_proba(x)
        if _armed() and self.calls % self.every == 0:
            raise RuntimeError("injected model failure")
        return out


class Noisy(_Wrapper):
    """Adds random noise to every probability (non-deterministic, when armed)."""

    def predict_proba(self, x: Any) -> np.ndarray:
        out = np.array(super().predict_proba(x), dtype=np.float64)
        if _armed():
            noise = np.random.default_rng().uniform(-0.05, 0.05, len(out))
            p = np.clip(out[:, 1] + noise, 0.0, 1.0)
            out = np.column_stack([1.0 - p, p])
        return out


def training_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "amount": rng.gamma(2.0, 50.0, n),
        "age": rng.integers(18, 80, n).astype("int64"),
        "score": rng.normal(0.0, 1.0, n),
        "tenure": rng.uniform(0.0, 10.0, n),
        "channel": rng.choice(["web", "store", "phone"], n),
    })
    web = (frame["channel"] == "web").astype(float)
    logit = 0.01 * (frame["amount"] - 100) + 0.8 * frame["score"] + 0.3 * web
    frame["target"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return frame


def fit(frame: pd.DataFrame) -> tuple[Any, Any]:
    scaler = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    x = scaler.fit_transform(frame[FEATURES])
    model = LogisticRegression(max_iter=500).fit(x, frame["target"])
    return model, scaler


def make_workspace(root: Path, wrap: Any = None, *, policy: str = "",
                   seed: int = 0) -> tuple[Path, str]:
    """A workspace with one package (v1.0); ``wrap(model)`` wraps the fitted model;
    another ``seed`` fits another model."""
    from deployready.package.export import export_package

    root.mkdir(parents=True, exist_ok=True)
    (root / "deployready.toml").write_text(policy)
    frame = training_frame(seed=seed)
    model, scaler = fit(frame)
    if wrap is not None:
        model = wrap(model)
    info = export_package(root / "models", model=model, scaler=scaler, train=frame.iloc[:500],
                          features=FEATURES, target_column="target", holdout=frame.iloc[500:],
                          holdout_rows=100, shap_max_rows=50, shap_time_budget_s=5.0)
    return root, info.version
