"""The strict one-file reader of the pandas engine: read a log file, validate every row.

Errors name the file, the 1-based data row (the header is not counted) and the column,
worded as the DuckDB engine (:mod:`deployready.monitoring.logs_duckdb`) words them; the
rules are listed in :mod:`deployready.monitoring.logs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deployready.errors import LogError
from deployready.monitoring.logs_live import FileState, _last_line_end, csv_source, file_state
from deployready.monitoring.logs_schema import (
    CSV_EXPECTED,
    FUTURE_EXPECTED,
    INSTANT_FORMAT,
    MAX_LATENCY_MS,
    PREDICTION_EXPECTED,
    PREDICTION_RANGE,
    REQUEST_ID,
    REQUIRED_COLUMNS,
    TIMESTAMP_PATTERN,
    Kind,
    _is_number,
    check_header,
    csv_read_error,
    future_limit,
    read_empty,
    read_header,
    row_error,
)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _raise_rows(
    path: Path, mask: np.ndarray, column: str, message: str, raw: Sequence[Any], expected: str
) -> None:
    if not mask.any():
        return
    i = _first_bad(mask)
    raise row_error(path, i + 1, column, message, raw[i], int(mask.sum()), expected)


def _as_float(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """(values, not-a-number mask for present values, raw values)."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        raw = arr.to_pylist()
        try:
            values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            bad = np.zeros(len(raw), dtype=bool)
        except pa.ArrowInvalid:
            coerced = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce")
            bad = coerced.isna().to_numpy() & pd.Series(raw, dtype=object).notna().to_numpy()
            text = pa.array([None if b else r for r, b in zip(raw, bad, strict=True)], pa.string())
            values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), bad, raw
    if (
        pa.types.is_boolean(arr.type)
        or pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
    ):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(arr), dtype=bool), arr.to_pylist()
    raw = arr.to_pylist()
    return np.full(len(raw), np.nan), np.array([r is not None for r in raw]), raw


def _csv_parse_error(path: Path, options: pacsv.ConvertOptions, exc: Exception,
                     state: FileState | None = None) -> LogError:
    """Re-read single-threaded (which numbers the rows) to name the row pyarrow refused."""
    text, row = str(exc), None
    try:
        pacsv.read_csv(
            csv_source(path, state), read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=options,
        )
    except pa.ArrowException as again:
        found = re.search(r"Row #(\d+)", str(again))
        if found and int(found.group(1)) > 1:
            text, row = str(again).replace(found.group(0) + ": ", ""), int(found.group(1)) - 1
    return csv_read_error(path, text, row)


def _read_table(path: Path, names: Sequence[str], columns: Sequence[str] | None = None,
                state: FileState | None = None) -> pa.Table:
    """The file's ``columns`` (all when None), read as text (CSV) or as stored (Parquet);
    a CSV only up to ``state.readable`` bytes when a state is given.

    Columns not asked for are not converted (a 105-column log read for its latency
    columns costs a third); every row's field count is still checked against the header.
    """
    if path.suffix.lower() == ".parquet":
        try:
            return pq.read_table(path, columns=list(columns) if columns is not None else None)
        except (pa.ArrowException, OSError) as exc:
            raise LogError(f"cannot read: {exc}", source=path, expected="Parquet") from exc
    asked = None if columns is None else set(columns)
    wanted = list(names) if asked is None else [n for n in names if n in asked]
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        null_values=[""],
        include_columns=wanted if columns is not None else None,
    )
    try:
        table = pacsv.read_csv(csv_source(path, state), convert_options=options)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, pa.ArrowInvalid):
            raise _csv_parse_error(path, options, exc, state) from exc
        raise LogError(f"cannot read: {exc}", source=path, expected=CSV_EXPECTED) from exc
    if table.column_names != wanted:
        raise LogError(
            "unreadable header",
            source=path,
            location="header",
            expected="one line of comma-separated column names",
        )
    return table


def _text(path: Path, name: str, col: pa.ChunkedArray) -> list[Any]:
    try:
        return list(pc.cast(col, pa.string()).to_pylist())
    except pa.ArrowException as exc:
        raise LogError(
            f"cannot read as text: {exc}", source=path, location=f"column {name}", expected="text"
        ) from exc


def read_log_file(path: str | Path, features: Mapping[str, Kind] | None = None,
                  state: FileState | None = None) -> pd.DataFrame:
    """Read and validate one log file; raise :class:`LogError` naming file, row and column.

    Returns columns timestamp (UTC), version, latency_ms, prediction, error ('' when ok),
    request_id (text, NA when the file has no such column or the cell is empty), then the
    ``features`` (numeric as float64, categorical as strings with NA), or every
    other column as text when ``features`` is None. ``state`` (default: the file as it is
    now, :func:`file_state`) says how much to read; a file without rows yet gives an
    empty frame of those columns.
    """
    path = Path(path)
    state = state if state is not None else file_state(path)
    if state.blank:
        return read_empty(features)
    table, wanted = _read_rows(path, features, state)
    if table.num_rows == 0:
        empty = read_empty(features)
        for name in wanted if features is None else ():
            empty[name] = pd.Series([], dtype="string")
        return empty
    ts = _timestamps(path, table.column("timestamp"))
    version_raw = _text(path, "version", table.column("version"))
    version_missing = np.array([v is None or v == "" for v in version_raw])
    _raise_rows(path, version_missing, "version", "missing version", version_raw, "e.g. v1.0")
    latency = _latencies(path, table.column("latency_ms"))
    err_raw = _text(path, "error", table.column("error"))
    error = np.array(["" if e is None else str(e) for e in err_raw], dtype=object)
    ok = error == ""
    prediction = _predictions(path, table.column("prediction"), ok)
    out: dict[str, Any] = {
        "timestamp": ts.reset_index(drop=True),
        "version": pd.array(version_raw, dtype="str"),
        "latency_ms": latency,
        "prediction": prediction,
        "error": pd.array(error.tolist(), dtype="str"),
        REQUEST_ID: _request_ids(path, table),
    }
    for name in wanted:
        kind = features.get(name) if features is not None else None
        out[name] = _feature(path, name, table.column(name), kind, ok)
    return pd.DataFrame(out)


def _read_rows(path: Path, features: Mapping[str, Kind] | None,
               state: FileState) -> tuple[pa.Table, list[str]]:
    """The file's rows (the columns a query needs) after the header checks, and the
    names of the columns past the required ones."""
    fields = read_header(path)
    names = [name for name, _ in fields]
    check_header(path, fields, list(features or ()))
    wanted = (
        list(features)
        if features is not None
        else [c for c in names if c not in REQUIRED_COLUMNS and c != REQUEST_ID]
    )
    ids = [REQUEST_ID] if REQUEST_ID in names else []
    if path.suffix.lower() == ".parquet" or _last_line_end(path, state.readable) > 0:
        table = _read_table(path, names, None if features is None
                            else [*REQUIRED_COLUMNS, *ids, *wanted], state)
    else:  # one line without a line end: the header (pyarrow cannot read it alone)
        table = pa.table({name: pa.array([], pa.string()) for name in names})
    return table, wanted


def _request_ids(path: Path, table: pa.Table) -> Any:
    """The rows' request ids as text; NA where empty or when the file has none."""
    if REQUEST_ID not in table.column_names:
        return pd.array([pd.NA] * table.num_rows, dtype="string")
    raw = _text(path, REQUEST_ID, table.column(REQUEST_ID))
    return pd.array([v if v else None for v in raw], dtype="string")


def _timestamps(path: Path, ts_col: pa.ChunkedArray) -> pd.Series:
    """The rows' timestamps (UTC); none missing, unparseable or too far ahead."""
    if pa.types.is_timestamp(ts_col.type):
        ts = pd.Series(ts_col.to_pandas())
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        ts_raw: list[Any] = [None] * len(ts)
    else:
        # a stored number is shown as one (its text is never a timestamp's)
        ts_raw = ts_col.to_pylist() if _is_number(ts_col.type) else _text(
            path, "timestamp", ts_col)
        syntax = re.compile(TIMESTAMP_PATTERN)
        text = [r if isinstance(r, str) and syntax.fullmatch(r) else None for r in ts_raw]
        ts = pd.to_datetime(
            pd.Series(text, dtype=object), utc=True, format="ISO8601", errors="coerce"
        )
    _raise_rows(
        path,
        ts.isna().to_numpy(),
        "timestamp",
        "missing or unparseable timestamp",
        ts_raw,
        "ISO 8601, e.g. 2026-01-31T12:00:00Z",
    )
    future = (ts > future_limit()).to_numpy()
    if future.any():
        shown = [r if r is not None else t.strftime(INSTANT_FORMAT)
                 for r, t in zip(ts_raw, ts, strict=True)]
        _raise_rows(path, future, "timestamp", "timestamp in the future", shown,
                    FUTURE_EXPECTED)
    return ts


def _latencies(path: Path, col: pa.ChunkedArray) -> np.ndarray:
    """The rows' latencies: numbers, present, finite, in [0, :data:`MAX_LATENCY_MS`]."""
    latency, bad, raw = _as_float(col)
    _raise_rows(path, bad, "latency_ms", "not a number", raw, "a latency in ms >= 0")
    with np.errstate(invalid="ignore"):
        _raise_rows(
            path, np.isnan(latency), "latency_ms", "missing latency", raw, "a latency in ms >= 0"
        )
        _raise_rows(
            path, np.isinf(latency), "latency_ms", "infinite latency", raw, "a finite latency in ms"
        )
        _raise_rows(
            path, latency < 0, "latency_ms", "negative latency", raw, "a latency in ms >= 0"
        )
        _raise_rows(
            path,
            latency > MAX_LATENCY_MS,
            "latency_ms",
            "latency above one hour",
            raw,
            f"<= {MAX_LATENCY_MS:.0f} ms",
        )
    return latency


def _predictions(path: Path, col: pa.ChunkedArray, ok: np.ndarray) -> np.ndarray:
    """The rows' predictions: numbers in :data:`PREDICTION_RANGE`, present where ``ok``."""
    prediction, bad, raw = _as_float(col)
    _raise_rows(path, bad, "prediction", "not a number", raw, "a number, or empty on error")
    _raise_rows(
        path,
        ok & np.isnan(prediction) & ~bad,
        "prediction",
        "missing prediction on a row without error",
        raw,
        "a number",
    )
    _raise_rows(
        path, np.isinf(prediction), "prediction", "infinite prediction", raw, "a finite number"
    )
    low, high = PREDICTION_RANGE
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(prediction) & ((prediction < low) | (prediction > high))
    _raise_rows(path, outside, "prediction", "prediction outside [0, 1]", raw,
                PREDICTION_EXPECTED)
    return prediction


def _feature(path: Path, name: str, col: pa.ChunkedArray, kind: Kind | None,
             ok: np.ndarray) -> Any:
    """One feature column: numeric as float64 (type-checked on rows without error),
    otherwise text."""
    if kind == "numeric":
        values, bad, raw = _as_float(col)
        _raise_rows(path, bad & ok, name, "not a number", raw, "a number or empty")
        values = values.copy()
        values[bad] = np.nan
        return values
    if kind == "categorical" and pa.types.is_boolean(col.type):
        return pd.Series(col.to_pandas(), dtype="boolean").astype("string").array
    return pd.array(_text(path, name, col), dtype="string")
