"""What a certification-history value may be: the columns, their order and bounds, and
the validation of one cell or one run's scores — shared by reading
(:func:`~deployready.certification.history.load_history`) and writing
(:func:`~deployready.certification.history.append_run`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.metrics import METRIC_NAMES, REGISTRY
from deployready.errors import HistoryError
from deployready.policy import Policy

FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
HISTORY_STEM = "history"
HISTORY_FILE_EXPECTED = "a history file: .csv, .parquet or .jsonl"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "trained_at",
    "cv_metric",
    "cv_fold_scores",
    "cv_folds",
    "synthetic_ratio",
    "noise",
    "feature_entropy",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "model_version",
    "n_train",
    "n_test",
    "n_real",
    "n_synthetic",
    "dataset_sha256",
    "notes",
)
JSON_COLUMNS: tuple[str, ...] = ("cv_fold_scores", "cv_folds", "feature_entropy")
INT_COLUMNS: tuple[str, ...] = ("n_train", "n_test", "n_real", "n_synthetic")
FOLD_KEYS: tuple[str, ...] = ("train_start", "train_end", "test_start", "test_end")
#: The closed interval of each evidence column (each value, for ``feature_entropy``);
#: the metric columns and fold scores take theirs from the metric registry.
EVIDENCE_BOUNDS: dict[str, tuple[float, float]] = {
    "synthetic_ratio": (1.0, math.inf),  # (real + synthetic) / real training rows
    "noise": (0.0, math.inf),  # a median distance
    "feature_entropy": (0.0, 1.0),  # normalized entropy
}


def column_order(metrics: Sequence[str] = METRIC_NAMES) -> list[str]:
    return [
        "run_id",
        "trained_at",
        "model_version",
        *metrics,
        "cv_metric",
        "cv_fold_scores",
        "cv_folds",
        "synthetic_ratio",
        "noise",
        "feature_entropy",
        *INT_COLUMNS,
        "dataset_sha256",
        "notes",
    ]

def parse_time(value: Any) -> datetime:
    """An ISO 8601 time as an aware datetime (naive = UTC); ValueError otherwise — also
    for a number, which could be seconds, milliseconds or nanoseconds since 1970."""
    if type(value) is str and value.strip():  # the common case first
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    if value is pd.NaT:
        raise ValueError("missing time (NaT)")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool | int | float | np.number):
        raise ValueError(f"a bare number is not a time: {value!r} (seconds? nanoseconds?)")
    elif isinstance(value, str) and value.strip():
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float) and math.isnan(value)


def as_number(value: Any) -> float:
    """A finite number (numeric text included); ValueError otherwise (booleans too)."""
    if isinstance(value, bool):
        raise ValueError("a boolean")
    try:
        if isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            raise ValueError(f"{type(value).__name__}")
    except OverflowError:
        raise ValueError("too large for a number") from None
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice (``json`` would silently keep the last)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicated key {key!r}")


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


_STRICT = json.JSONDecoder(object_pairs_hook=unique_object)


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses a key repeated in any object (DuplicateKeyError)."""
    if type(text) is not str or text.startswith("\ufeff"):  # json.loads' own errors
        return json.loads(text, object_pairs_hook=unique_object)
    return _STRICT.decode(text)  # one decoder, not one per cell


def as_json(value: Any) -> Any:
    """A JSON cell as Python: text is parsed (CSV, Parquet), anything else is as read."""
    return loads_strict(value) if isinstance(value, str) else value


def bounds_of(column: str) -> tuple[float, float] | None:
    """The closed interval of a numeric history column (None: not range-checked here)."""
    if column in REGISTRY:
        return REGISTRY[column].bounds
    return EVIDENCE_BOUNDS.get(column)


def _bounds_text(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f">= {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g}]"


def in_bounds(number: float, bounds: tuple[float, float] | None) -> float:
    """``number`` when inside ``bounds`` (closed); ValueError saying so otherwise."""
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"out of range: not {_bounds_text(bounds)}")
    return number


def _check_json(column: str, value: Any) -> Any:
    """Parse and validate one JSON cell; ValueError with a reason otherwise."""
    try:
        parsed = as_json(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None
    if column == "cv_fold_scores":
        if not isinstance(parsed, list):
            raise ValueError("not a JSON list")
        return [as_number(v) for v in parsed]
    if column == "cv_folds":
        if not isinstance(parsed, list) or not all(isinstance(f, dict) for f in parsed):
            raise ValueError("not a JSON list of fold objects")
        for i, fold in enumerate(parsed, start=1):
            for key in FOLD_KEYS:
                if key not in fold:
                    raise ValueError(f"fold {i} has no {key}")
                try:
                    parse_time(fold[key])
                except ValueError as exc:
                    raise ValueError(f"fold {i} {key}: {exc}") from None
            for key in ("n_train", "n_test"):
                if key in fold:
                    try:
                        _count(fold[key])
                    except ValueError as exc:
                        raise ValueError(f"fold {i} {key}: {exc}") from None
            if "score" in fold:
                try:
                    as_number(fold["score"])
                except ValueError as exc:
                    raise ValueError(f"fold {i} score: {exc}") from None
        return parsed
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    bounds = EVIDENCE_BOUNDS["feature_entropy"]
    out: dict[str, float] = {}
    for key, v in parsed.items():
        try:
            out[str(key)] = in_bounds(as_number(v), bounds)
        except ValueError as exc:
            raise ValueError(f"feature {key!r}: {exc}") from None
    return out


def _count(value: Any) -> int:
    number = as_number(value)
    if number < 0 or number != int(number):
        raise ValueError("not a count")
    return int(number)


def check_scores(values: Mapping[str, Any], path: Path, where: str) -> None:
    """The fold scores of a validated run lie in its ``cv_metric``'s interval."""
    metric = values.get("cv_metric")
    if metric not in REGISTRY:
        return
    bounds = REGISTRY[metric].bounds
    scores = values.get("cv_fold_scores") or []
    folds = values.get("cv_folds") or []
    found = [("cv_fold_scores", f"score {i}", s) for i, s in enumerate(scores, start=1)]
    found += [
        ("cv_folds", f"fold {i} score", as_number(f["score"]))
        for i, f in enumerate(folds, start=1)
        if isinstance(f, dict) and "score" in f
    ]
    for column, which, score in found:
        try:
            in_bounds(score, bounds)
        except ValueError as exc:
            raise HistoryError(
                f"bad value {score!r}: {which} is {exc} for cv_metric {metric}",
                source=path,
                location=f"{where}, column {column}",
                expected=f"{metric} scores {_bounds_text(bounds)}",
            ) from None


def cell_value(column: str, value: Any, path: Path, where: str) -> Any:
    """One validated history cell (JSON columns parsed); HistoryError naming ``where``."""
    original = value
    try:
        if column in METRIC_NAMES or column in ("synthetic_ratio", "noise"):
            if _is_missing(value):
                raise ValueError("missing value")
            return in_bounds(as_number(value), bounds_of(column))
        if column in INT_COLUMNS:
            if _is_missing(value):
                return None
            return _count(value)
        if column in JSON_COLUMNS:
            return _check_json(column, value)
        if column == "trained_at":
            parsed = parse_time(value)
            return value if isinstance(value, str) else parsed.isoformat()
        if column in ("run_id", "cv_metric"):
            if _is_missing(value):
                raise ValueError("missing value")
            value = str(value)
            if column == "cv_metric" and value not in METRIC_NAMES:
                raise ValueError("unknown metric " + repr(value))
            return value
        if column in OPTIONAL_COLUMNS:
            return "" if _is_missing(value) else str(value)
    except (ValueError, TypeError) as exc:
        shown = repr(original)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise HistoryError(
            f"bad value {shown}: {exc}",
            source=path,
            location=where,
            expected=expected_of(column),
        ) from None
    return value


def expected_of(column: str) -> str:
    if column in METRIC_NAMES or column in ("synthetic_ratio", "noise"):
        bounds = bounds_of(column)
        return "a finite number" + (f" {_bounds_text(bounds)}" if bounds else "")
    if column in INT_COLUMNS:
        return "a whole number >= 0"
    if column == "trained_at":
        return "an ISO 8601 time, e.g. 2024-05-01T12:00:00+00:00"
    if column == "cv_fold_scores":
        return "a JSON list of numbers"
    if column == "cv_folds":
        return "a JSON list of objects with " + ", ".join(FOLD_KEYS) + " (ISO 8601 times)"
    if column == "feature_entropy":
        return "a JSON object feature -> number in [0, 1], each feature once"
    if column == "cv_metric":
        return "one of " + ", ".join(METRIC_NAMES)
    return "a non-empty string"


def required_columns(policy: Policy | None) -> list[str]:
    """The columns every run must have: the fixed ones, with the policy's metrics."""
    required = list(REQUIRED_COLUMNS)
    if policy is not None:
        required[2:2] = list(policy.certification.metrics)
    return required
