"""The arguments of an export, checked before anything is written: an InputError naming
the argument and what was expected instead of a library's own error later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from deployready.errors import InputError, require_file
from deployready.package.pipeline import (
    MODEL_EXPECTED,
    scaler_expected,
    short_reason,
    split_pipeline,
)


def check_inputs(
    model: Any, train: pd.DataFrame, features: list[str], target: str, holdout: pd.DataFrame | None
) -> None:
    if not features or len(set(features)) != len(features):
        raise InputError(
            "empty or duplicated feature list",
            location="features",
            expected="distinct column names",
        )
    missing = [f for f in [*features, target] if f not in train.columns]
    if missing:
        raise InputError(
            f"columns {missing} not in the training frame",
            source="train",
            location="columns",
            expected="every feature and the target",
        )
    if target in features:
        raise InputError(
            "the target is also a feature",
            location="features",
            expected="features without the target column",
        )
    if len(train) == 0:
        raise InputError("the training frame is empty", source="train", expected="rows")
    if holdout is not None and [f for f in features if f not in holdout.columns]:
        raise InputError(
            "the holdout frame lacks feature columns",
            source="holdout",
            location="columns",
            expected="every feature",
        )
    if not hasattr(model, "predict_proba"):
        raise InputError(
            f"{type(model).__name__} has no predict_proba",
            location="model",
            expected="a fitted binary classifier",
        )


def check_fits(model: Any, scaler: Any, rows: pd.DataFrame) -> None:
    """The scaler takes the training features and the model its output (on a few rows);
    an InputError naming which one does not, and what to pass, instead of the library's
    own ValueError or TypeError."""
    sample = rows.head(20)
    try:
        transformed = scaler.transform(sample)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"the scaler {type(scaler).__name__} cannot transform the training features: "
            f"{short_reason(exc)}",
            location="scaler",
            expected="the fitted " + scaler_expected(rows).removeprefix("a "),
        ) from exc
    try:
        model.predict_proba(transformed)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"the model {type(model).__name__} cannot predict from the scaler's output: "
            f"{short_reason(exc)}",
            location="model",
            expected="a fitted " + MODEL_EXPECTED.removeprefix("a "),
        ) from exc


def checked_model(
    model: Any,
    scaler: Any,
    train: pd.DataFrame,
    features: list[str],
    target: str,
    holdout: pd.DataFrame | None,
) -> tuple[Any, Any]:
    """The model and the scaler (a Pipeline split in two), the arguments checked."""
    model, scaler = split_pipeline(model, scaler)
    check_inputs(model, train, features, target, holdout)
    if scaler is None:
        raise InputError(
            "no scaler",
            location="scaler",
            expected="the fitted preprocessing the model was trained behind (RunResult.scaler "
            "of record_run), or the whole fitted Pipeline as the model",
        )
    return model, scaler


def read_frame(path: Path, what: str | None = None) -> pd.DataFrame:
    """A training or holdout table (.csv or .parquet); InputError naming ``what`` (default
    the path) when it cannot be read."""
    source = what or path
    require_file(path, expected="a .csv or .parquet file")
    if path.suffix not in (".csv", ".parquet"):
        raise InputError("unknown file type", source=source, expected="a .csv or .parquet file")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for bad files
        raise InputError(f"cannot read: {exc}", source=source,
                         expected="a readable table") from exc


def frame_features(train: pd.DataFrame, target: str, features: list[str] | None,
                   source: str | Path) -> list[str]:
    """The feature columns of an export: ``features``, or every column of ``train`` but the
    target; InputError naming ``source`` when the target or a feature is not a column."""
    if target not in train.columns:
        raise InputError(f"no column {target!r}", source=source, location="columns",
                         expected="the --target column")
    chosen = features or [str(c) for c in train.columns if c != target]
    missing = [f for f in chosen if f not in train.columns]
    if missing:
        raise InputError(f"missing feature columns {missing}", source=source,
                         location="columns", expected="every --features column")
    return chosen
