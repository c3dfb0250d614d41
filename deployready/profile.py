"""Reference profiles: the binning a package is monitored against.

A profile is fitted on the training data when a package is exported and stored in the
package as ``reference_profile.json``. Drift (PSI) is always computed against these
stored bins, never refitted on current data, so every result is reproducible.

Numeric feature: ``edges`` are the reference quantiles at i/bins (i = 1..bins-1),
de-duplicated. A value ``x`` falls in bin ``#{e in edges : e < x}`` — bins are closed on
the right, the outer ones open (-inf, e1] ... (e_last, +inf). NaN has its own bin.

Categorical feature: one bin per reference category (in ``categories`` order), then one
``other`` bin for unseen categories, then the NaN bin.

``proportions`` holds the reference share of every bin, NaN bin last; it sums to 1.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

PROFILE_FORMAT = 1
PROFILE_FILE = "reference_profile.json"

Kind = Literal["numeric", "categorical"]


def feature_kind(series: pd.Series) -> Kind:
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def fit_numeric(values: np.ndarray, bins: int) -> dict[str, Any]:
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        edges = np.array([], dtype=np.float64)
    else:
        qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        edges = np.unique(np.quantile(finite, qs))
    counts = numeric_counts(edges, values)
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "proportions": (counts / max(values.size, 1)).tolist(),
        "count": int(values.size),
    }


def numeric_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts per bin (len(edges) + 1 value bins, then the NaN bin)."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~nan], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, float(nan.sum()))


def fit_categorical(values: pd.Series) -> dict[str, Any]:
    as_str = values.astype("string")
    present = as_str.dropna()
    categories = sorted(present.unique().tolist())
    counts = categorical_counts(categories, values)
    return {
        "kind": "categorical",
        "categories": categories,
        "proportions": (counts / max(len(values), 1)).tolist(),
        "count": len(values),
    }


def categorical_counts(categories: list[str], values: pd.Series) -> np.ndarray:
    """Counts per category, then ``other``, then NaN."""
    as_str = values.astype("string")
    nan = int(as_str.isna().sum())
    present = as_str.dropna()
    vc = present.value_counts()
    known = np.array([float(vc.get(c, 0)) for c in categories])
    other = float(len(present) - known.sum())
    return np.concatenate([known, [other, float(nan)]])


def fit_profile(
    frame: pd.DataFrame, predictions: np.ndarray | None = None, *, bins: int = 10
) -> dict[str, Any]:
    """Fit the reference profile of every column (and of the predictions)."""
    features: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        if feature_kind(column) == "numeric":
            features[str(name)] = fit_numeric(
                column.to_numpy(dtype=np.float64, na_value=np.nan), bins
            )
        else:
            features[str(name)] = fit_categorical(column)
    profile: dict[str, Any] = {"format": PROFILE_FORMAT, "bins": bins, "features": features}
    if predictions is not None:
        profile["prediction"] = fit_numeric(np.asarray(predictions, dtype=np.float64), bins)
    return profile
