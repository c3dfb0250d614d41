"""The serving path of a package: the model's probabilities for a frame, and whether a
scaler and a model can serve a schema's features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from deployready.errors import InputError


def predict_frame(model: Any, scaler: Any, features: list[str], frame: pd.DataFrame,
                  transform: Callable[[pd.DataFrame], Any] | None = None) -> np.ndarray:
    """The serving path: ``model.predict_proba(scaler.transform(frame[features]))[:, 1]``.

    ``transform``: a verified replacement for ``scaler.transform(frame[features])`` (see
    ``deployready.package.preprocess``)."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InputError(
            f"missing feature columns {missing}",
            location="columns",
            expected="every schema feature",
        )
    transformed = scaler.transform(frame[features]) if transform is None else transform(frame)
    proba = np.asarray(model.predict_proba(transformed), dtype=np.float64)
    return np.ascontiguousarray(proba[:, 1])


def schema_model_problems(
    features: list[str], scaler: Any, model: Any, holdout: pd.DataFrame | None
) -> list[str]:
    """Why ``scaler`` and ``model`` cannot serve the schema's features (empty: they can)."""
    problems: list[str] = []
    names = getattr(scaler, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != features:
        problems.append(
            f"scaler was fitted on {list(map(str, names))}, the schema lists {features}"
        )
    elif getattr(scaler, "n_features_in_", len(features)) != len(features):
        problems.append(
            f"scaler expects {scaler.n_features_in_} features, the schema has {len(features)}"
        )
    if not hasattr(model, "predict_proba"):
        problems.append(f"model {type(model).__name__} has no predict_proba")
    if problems:
        return problems
    width: int | None = None
    if holdout is not None and len(holdout):
        try:
            width = int(scaler.transform(holdout.head(5)[features]).shape[1])
        except Exception as exc:  # any transformer failure is a mismatch to report
            problems.append(f"scaler cannot transform the holdout rows: {exc}")
    elif hasattr(scaler, "get_feature_names_out"):
        width = len(scaler.get_feature_names_out())
    n_in = getattr(model, "n_features_in_", None)
    if width is not None and n_in is not None and int(n_in) != width:
        problems.append(f"scaler outputs {width} columns, the model expects {n_in}")
    return problems
