"""The rows of a training run: the data given to
:func:`~deployready.certification.training.record_run` checked column by column, and cut
in time into a training part and a test window (definitions in
:mod:`deployready.certification.training`)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from deployready.errors import InputError

TIME_EXPECTED = (
    "datetimes or ISO 8601 text (without a UTC offset read as UTC); a bare number could "
    "be seconds, milliseconds or nanoseconds since 1970"
)


@dataclass(frozen=True)
class TrainingData:
    """``data`` checked and split: rows ``[:cut]`` train, the real rows after it test."""

    data: pd.DataFrame
    features: list[str]
    #: the columns the dataset hash covers: time, features, target, synthetic marker
    used: list[str]
    #: times in ns since 1970 (UTC), labels 0/1 and the synthetic marker, one per row
    t: np.ndarray
    y: np.ndarray
    syn: np.ndarray
    cut: int

    @property
    def train(self) -> pd.DataFrame:
        return self.data.iloc[: self.cut]

    @property
    def test(self) -> pd.DataFrame:
        """The real rows of the test window."""
        return self.data.iloc[self.cut:][~self.syn[self.cut:]]

    @property
    def y_test(self) -> np.ndarray:
        real: np.ndarray = self.y[self.cut:][~self.syn[self.cut:]]
        return real


def dataset_sha256(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(list(columns)).encode("utf-8"))
    hashed = pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()
    digest.update(np.ascontiguousarray(hashed).tobytes())
    return digest.hexdigest()


def iso_time(ns: int) -> str:
    return str(pd.Timestamp(ns, tz="UTC").isoformat())


def _times(column: pd.Series, name: str) -> pd.Series:
    """The time column as UTC timestamps (NaT where a value is not a time).

    Datetime columns (naive = UTC) and ISO 8601 text are times; numbers and booleans are
    refused (pandas would read an integer as nanoseconds since 1970)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column, utc=True)
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        raise InputError(
            f"a {column.dtype} column is not a time column",
            source="data",
            location=f"column {name}",
            expected=TIME_EXPECTED,
        )
    values = column.to_numpy(dtype=object)
    for i, value in enumerate(values):
        if value is not None and not isinstance(value, str | datetime | np.datetime64):
            if isinstance(value, float) and math.isnan(value):
                continue  # missing: reported as "not a time" below
            raise InputError(
                f"not a time: {value!r}",
                source="data",
                location=f"row {i + 1}, column {name}",
                expected=TIME_EXPECTED,
            )
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce",
                          format="ISO8601")


def _time_order(data: pd.DataFrame, time_column: str) -> np.ndarray:
    """The time column in ns since 1970; InputError for a value that is not a time or a
    row older than the one before it."""
    times = _times(data[time_column], time_column)
    if times.isna().any():
        bad = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise InputError(
            f"not a time: {data[time_column].iloc[bad]!r}",
            source="data",
            location=f"row {bad + 1}, column {time_column}",
            expected=TIME_EXPECTED,
        )
    t: np.ndarray = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    if t.size > 1 and (np.diff(t) < 0).any():
        bad = int(np.flatnonzero(np.diff(t) < 0)[0]) + 1
        raise InputError(
            "rows are not in time order",
            source="data",
            location=f"row {bad + 1}, column {time_column}",
            expected=f"rows sorted by {time_column} (sort before recording; "
            "rows are never reordered silently)",
        )
    return t


def _labels(data: pd.DataFrame, target: str) -> np.ndarray:
    """The target as 0/1 integers; InputError for any other label."""
    not_binary = InputError(
        "target is not 0/1", source="data", location=f"column {target}",
        expected="labels 0 and 1",
    )
    y_all = data[target].to_numpy()
    try:
        y: np.ndarray = y_all.astype(np.int64)
    except (TypeError, ValueError):
        raise not_binary from None
    if not np.isin(y, (0, 1)).all() or not np.array_equal(y, y_all.astype(np.float64)):
        raise not_binary
    return y


def _columns(
    data: pd.DataFrame,
    target: str,
    time_column: str,
    features: list[str] | None,
    synthetic_column: str | None,
) -> tuple[list[str], bool]:
    """The feature columns, and whether the synthetic marker column is there."""
    for column in (target, time_column):
        if column not in data.columns:
            raise InputError(
                "missing column",
                source="data",
                location=f"column {column}",
                expected="the target and time columns",
            )
    has_syn = synthetic_column is not None and synthetic_column in data.columns
    excluded = {target, time_column, synthetic_column}
    features = list(features) if features else [str(c) for c in data.columns if c not in excluded]
    missing = [f for f in features if f not in data.columns]
    if missing or not features:
        raise InputError(
            f"missing feature columns {missing}",
            source="data",
            location=f"column {missing[0]}" if missing else None,
            expected="feature columns present in the data",
        )
    return features, has_syn


def _cut(t: np.ndarray, syn: np.ndarray, test_size: float) -> int:
    """The first test row: the last ``test_size`` share, moved past rows sharing the
    boundary time; InputError without a real test row or a real training row."""
    n = len(t)
    cut = round(n * (1.0 - test_size))
    while 0 < cut < n and t[cut] == t[cut - 1]:
        cut += 1
    if not 0 < cut < n or (~syn[cut:]).sum() == 0:
        raise InputError(
            "no test rows after the time split",
            source="data",
            expected="more rows or a larger test_size",
        )
    if int((~syn[:cut]).sum()) == 0:
        raise InputError(
            "no real training rows", source="data", expected="real (non-synthetic) rows"
        )
    return cut


def training_data(
    data: pd.DataFrame,
    *,
    target: str,
    time_column: str,
    features: list[str] | None,
    synthetic_column: str | None,
    test_size: float,
    min_folds: int,
) -> TrainingData:
    """``data`` checked (InputError naming the column, row or argument) and split in time."""
    features, has_syn = _columns(data, target, time_column, features, synthetic_column)
    if not 0.0 < test_size < 1.0:
        raise InputError(
            f"test_size = {test_size}", location="test_size", expected="a share in (0, 1)"
        )
    if len(data) < 2 * (min_folds + 1):
        raise InputError(
            f"{len(data)} rows", source="data", expected="enough rows for the CV folds"
        )
    t = _time_order(data, time_column)
    y = _labels(data, target)
    syn = (
        data[synthetic_column].fillna(False).to_numpy(dtype=bool)
        if has_syn and synthetic_column is not None
        else np.zeros(len(data), dtype=bool)
    )
    used = [time_column, *features, target] + ([str(synthetic_column)] if has_syn else [])
    return TrainingData(data, features, used, t, y, syn, _cut(t, syn, test_size))
