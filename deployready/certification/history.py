"""The certification history: one row per retrain run, in CSV, Parquet or JSON lines.

The history lives in ``data/certification/history.{csv,parquet,jsonl}``.
:func:`load_history` reads and strictly validates any of the three formats;
:func:`append_run` appends one run atomically (under a lock on the folder), keeping the
file's format and columns. The rows are computed by
:func:`deployready.certification.training.record_run` and evaluated by
:mod:`deployready.certification.checks`.

History columns: ``run_id``, ``trained_at`` (ISO 8601; without a UTC offset it is read
as UTC), ``model_version``, one column per metric, ``cv_metric``, ``cv_fold_scores``
(JSON list), ``cv_folds`` (JSON list of fold objects), ``synthetic_ratio``, ``noise``,
``feature_entropy`` (JSON object feature → value), ``n_train``, ``n_test``, ``n_real``,
``n_synthetic``, ``dataset_sha256``, ``notes``. In CSV and Parquet the JSON columns hold
JSON text, in JSONL native lists and objects. Rows are numbered 1, 2, ... in file order
(the first data row is row 1), which is how errors and evidence name them.

Every value is checked against what :func:`~deployready.certification.training.record_run` can
compute, so a hand-edited or foreign row cannot turn a check green:

- each metric column lies in its metric's interval (:attr:`MetricSpec.bounds
  <deployready.certification.metrics.MetricSpec.bounds>`: ``[0, 1]``, ``log_loss``
  ``[0, inf)``), and
  so does every CV fold score (the interval of the row's ``cv_metric``, also for a
  fold object's own ``score``);
- ``synthetic_ratio >= 1``, ``noise >= 0``, every ``feature_entropy`` value in
  ``[0, 1]``, the counts whole numbers ``>= 0``;
- ``trained_at`` and every fold bound are ISO 8601 text or a stored timestamp — a bare
  number (seconds? nanoseconds?) or a boolean is refused;
- a column may appear once: a duplicated CSV/Parquet column name or JSON key (also
  inside a JSON cell) is refused, never silently dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.history_columns import check_rows, validated_columns
from deployready.certification.history_files import (
    json_default,
    locked,
    plain,
    read_raw,
    remove_stale_temps,
    write_rows,
)
from deployready.certification.history_schema import (
    FORMATS,
    HISTORY_STEM,
    INT_COLUMNS,
    cell_value,
    check_scores,
    column_order,
    expected_of,
    parse_time,
    required_columns,
)
from deployready.certification.metrics import METRIC_NAMES
from deployready.errors import HistoryError, InputError
from deployready.policy import Policy


def load_history(path: str | Path, policy: Policy | None = None) -> pd.DataFrame:
    """Read and strictly validate a certification history (any of the three formats).

    Required columns: :data:`REQUIRED_COLUMNS`, at least one registry metric, and every
    metric of ``policy`` when given. Every registry-metric column must hold finite
    numbers. Returns the rows sorted by ``trained_at`` (stable), the JSON columns parsed,
    indexed by their 1-based row number in the file; ``df.attrs["source"]`` is the path.
    """
    path = Path(path)
    return validate_raw(read_raw(path), path, policy)


def validate_raw(raw: pd.DataFrame, path: Path, policy: Policy | None = None) -> pd.DataFrame:
    """:func:`load_history` of a history already read into ``raw`` (one row per run, the
    cells as read from ``path``)."""
    if len(raw) == 0:
        raise HistoryError("no retrain runs", source=path, expected="one row per retrain run")
    columns = [str(c) for c in raw.columns]
    raw.columns = columns
    required = required_columns(policy)
    for column in required:
        if column not in columns:
            raise HistoryError(
                f"missing column {column}",
                source=path,
                location=f"column {column}",
                expected="columns " + ", ".join(column_order()[:8]) + ", ...",
            )
    metric_columns = [c for c in columns if c in METRIC_NAMES]
    if not metric_columns:
        raise HistoryError(
            "no metric column", source=path, expected="at least one of " + ", ".join(METRIC_NAMES)
        )
    out, bad = validated_columns(raw, path)
    check_rows(out, bad.row - 1 if bad is not None else len(raw), path)
    if bad is not None:
        raise bad.error
    times = [parse_time(value).timestamp() for value in out["trained_at"]]
    frame = pd.DataFrame(out, index=pd.RangeIndex(1, len(raw) + 1, name="row"))
    for column in INT_COLUMNS:
        if column in frame and frame[column].notna().all():
            frame[column] = frame[column].astype(np.int64)
    order = np.argsort(np.array(times), kind="stable")
    frame = frame.iloc[order]
    frame.attrs["source"] = str(path)
    return frame


# --------------------------------------------------------------------------- writing


def resolve_history_path(path: str | Path) -> Path:
    """A history file path; a folder means its existing history file, else history.csv."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() in FORMATS:
        return path
    if path.suffix == "" and (path.is_dir() or not path.exists()):
        for fmt in FORMATS:
            candidate = path / f"{HISTORY_STEM}.{fmt}"
            if candidate.exists():
                return candidate
        return path / f"{HISTORY_STEM}.csv"
    raise InputError(
        f"unknown history format {path.suffix!r}",
        source=path,
        expected="a .csv, .parquet or .jsonl file, or a folder",
    )


def append_run(path: str | Path, row: Mapping[str, Any], policy: Policy | None = None) -> Path:
    """Append one run to a history file atomically, keeping the file's format and columns.

    The existing file is read and validated first (a malformed history is never
    overwritten). Registry metrics the existing file does not have are not added (all
    earlier rows would lack them), unless ``policy`` requires them: then appending is an
    error. Other new columns are added, empty for earlier rows.
    """
    path = resolve_history_path(path)
    _check_new_run(path, row, policy)
    with locked(path.parent):
        remove_stale_temps(path)
        rows: list[dict[str, Any]] = []
        columns = list(row)
        if os.path.lexists(path):  # a broken link or a folder is refused, never replaced
            existing = load_history(path).sort_index()
            if str(row["run_id"]) in set(existing["run_id"]):
                raise HistoryError(
                    f"run_id {row['run_id']!r} is already recorded",
                    source=path,
                    location="column run_id",
                    expected="a new run id",
                )
            old = [str(c) for c in existing.columns]
            required = set(policy.certification.metrics) if policy else set()
            for name in sorted(required - set(old)):
                raise HistoryError(
                    f"missing column {name}: cannot append a run measuring it",
                    source=path,
                    location=f"column {name}",
                    expected="a history with every policy metric",
                )
            columns = old + [c for c in row if c not in old and c not in METRIC_NAMES]
            rows = [{c: plain(v) for c, v in r.items()} for r in existing.to_dict("records")]
        rows.append(dict(row))
        write_rows(path, rows, columns)
    return path


def _check_new_run(path: Path, row: Mapping[str, Any], policy: Policy | None) -> None:
    """Validate a run before it is written: a bad run must never reach the file."""
    where = f"new run {row.get('run_id')!r}"
    required = required_columns(policy)
    for column in required:
        if column not in row:
            raise HistoryError(
                f"the new run has no {column}",
                source=path,
                location=f"{where}, column {column}",
                expected=expected_of(column),
            )
    if not any(str(c) in METRIC_NAMES for c in row):
        raise HistoryError(
            "the new run has no metric",
            source=path,
            location=where,
            expected="at least one of " + ", ".join(METRIC_NAMES),
        )
    checked = {
        str(column): cell_value(str(column), value, path, f"{where}, column {column}")
        for column, value in row.items()
    }
    check_scores(checked, path, where)
    try:
        json.dumps({str(k): v for k, v in row.items()}, allow_nan=False, default=json_default)
    except (ValueError, TypeError) as exc:
        raise HistoryError(
            f"the new run cannot be stored: {exc}",
            source=path,
            location=where,
            expected="finite numbers, strings, lists and objects",
        ) from None
