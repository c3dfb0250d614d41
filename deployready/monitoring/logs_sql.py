"""The SQL text of the DuckDB engine (:mod:`deployready.monitoring.logs_duckdb`).

Quoting, the scan of a CSV log as text, the typed column expressions of a file's view,
the validation rules — one SQL condition per check of the pandas reader
(:mod:`deployready.monitoring.logs_file`), in its order and with its wording, so both
engines refuse the same row with the same error — and the reading of what DuckDB
returns: its errors, the latency summary, the compare-and-count bins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from deployready.errors import LogError
from deployready.monitoring.logs_schema import (
    FUTURE_EXPECTED,
    INSTANT_FORMAT,
    MAX_LATENCY_MS,
    PREDICTION_EXPECTED,
    PREDICTION_RANGE,
    REQUEST_ID,
    TIMESTAMP_PATTERN,
    Kind,
    _is_number,
    csv_read_error,
    future_limit,
)

#: (condition, column, raw column, message, expected): the rows where ``condition``
#: holds are refused, the first one shown by its ``raw column``.
Rule = tuple[str, str, str, str, str]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: The column declared past the header to catch a trailing extra field (see
#: ``DuckLogs._extra_field_row`` in :mod:`deployready.monitoring.logs_duckdb`); NUL makes
#: it unlike any header name.
EXTRA_COLUMN = "\x00extra field"


def csv_scan(path: Path, fields: Sequence[Any], *, extra: bool = False) -> str:
    """``read_csv`` of a log file as text with the header as Python read it (blank names
    placeholded: SQL needs a name); no sniffing: every row must have the header's
    fields. ``extra``: one more column, NULL-padded, with a null string no CSV holds."""
    taken = {name.casefold() for name, _ in fields}
    names = [name or _placeholder(i, taken) for i, (name, _) in enumerate(fields)]
    if extra:
        names.append(EXTRA_COLUMN)
    columns = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in names)
    # an empty field is NULL, a quoted empty one ("") the empty text, as pyarrow reads them
    nulls = ("nullstr = chr(1), null_padding = true" if extra
             else "nullstr = '', allow_quoted_nulls = false")
    return (
        f"read_csv({literal(str(path))}, columns = {{{columns}}}, auto_detect = false, "
        f"header = true, delim = ',', {nulls}, quote = '\"', escape = '\"')"
    )


def _placeholder(i: int, taken: set[str]) -> str:
    name = f"_unnamed_{i}"
    while name.casefold() in taken:
        name = f"_{name}"
    return name


def timestamp_sql(dtype: pa.DataType) -> str:
    """The timestamp column as TIMESTAMPTZ: a stored timestamp as it is, anything else
    only when its text has the syntax both engines read alike (TIMESTAMP_PATTERN)."""
    if pa.types.is_timestamp(dtype):
        return "TRY_CAST(timestamp AS TIMESTAMPTZ)"
    text = "CAST(timestamp AS VARCHAR)"
    return (f"CASE WHEN regexp_full_match({text}, {literal(TIMESTAMP_PATTERN)}) "
            f"THEN TRY_CAST({text} AS TIMESTAMPTZ) END")


def raw_sql(name: str, dtype: pa.DataType) -> str:
    """A column as the pandas engine shows its value in an error: text as text, numbers
    and booleans as themselves, a stored timestamp as nothing (it is shown formatted)."""
    if pa.types.is_timestamp(dtype) and name == "timestamp":
        return "NULL"
    if _is_number(dtype):
        return quote(name)
    return f"CAST({quote(name)} AS VARCHAR)"


# --------------------------------------------------------------------------- validation


def validation_rules(features: Mapping[str, Kind], dialect: str = "duckdb") -> list[Rule]:
    """Every rule of a file's view (``f{i}`` the i-th of ``features``), in the pandas order.

    The conditions are SQL both DuckDB and Spark read, but for the timestamp's type and
    format: ``dialect`` "spark" writes those in Spark SQL (the profile engine of
    :mod:`deployready.monitoring.profiles.engine_spark` builds the same view)."""
    return [*_timestamp_rules(dialect), *_VALUE_RULES, *_feature_rules(features)]


#: A stored timestamp shown as the pandas engine shows it (INSTANT_FORMAT), in Spark SQL.
SPARK_INSTANT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'+00:00'"


def _timestamp_rules(dialect: str) -> list[Rule]:
    """The timestamp rules; the future's limit is the one of now."""
    limit = future_limit().strftime(INSTANT_FORMAT)
    if dialect == "spark":
        after = f"ts > CAST({literal(limit)} AS TIMESTAMP)"
        shown = f"coalesce(raw_timestamp, date_format(ts, {literal(SPARK_INSTANT)}))"
    else:
        after = f"ts > CAST({literal(limit)} AS TIMESTAMPTZ)"
        shown = f"coalesce(raw_timestamp, strftime(ts, {literal(INSTANT_FORMAT)}))"
    return [
        (
            "ts IS NULL",
            "timestamp",
            "raw_timestamp",
            "missing or unparseable timestamp",
            "ISO 8601, e.g. 2026-01-31T12:00:00Z",
        ),
        (
            after,
            "timestamp",
            shown,
            "timestamp in the future",
            FUTURE_EXPECTED,
        ),
    ]


_LOW, _HIGH = PREDICTION_RANGE
_INFINITY = "CAST('Infinity' AS DOUBLE)"


def _isinf(x: str) -> str:
    return f"abs({x}) = {_INFINITY}"


def _isfinite(x: str) -> str:
    return f"(NOT isnan({x}) AND abs({x}) < {_INFINITY})"


#: The rules of the version, latency and prediction columns.
_VALUE_RULES: list[Rule] = [
    (
        "version IS NULL OR version = ''",
        "version",
        "version",
        "missing version",
        "e.g. v1.0",
    ),
    (
        "raw_latency_ms IS NOT NULL AND latency IS NULL",
        "latency_ms",
        "raw_latency_ms",
        "not a number",
        "a latency in ms >= 0",
    ),
    (
        "latency IS NULL OR isnan(latency)",
        "latency_ms",
        "raw_latency_ms",
        "missing latency",
        "a latency in ms >= 0",
    ),
    (
        _isinf("latency"),
        "latency_ms",
        "raw_latency_ms",
        "infinite latency",
        "a finite latency in ms",
    ),
    (
        "latency < 0",
        "latency_ms",
        "raw_latency_ms",
        "negative latency",
        "a latency in ms >= 0",
    ),
    (
        f"latency > {MAX_LATENCY_MS!r} AND NOT ({_isinf('latency')})",
        "latency_ms",
        "raw_latency_ms",
        "latency above one hour",
        f"<= {MAX_LATENCY_MS:.0f} ms",
    ),
    (
        "raw_prediction IS NOT NULL AND prediction IS NULL",
        "prediction",
        "raw_prediction",
        "not a number",
        "a number, or empty on error",
    ),
    (
        "error = '' AND (raw_prediction IS NULL OR isnan(prediction))",
        "prediction",
        "raw_prediction",
        "missing prediction on a row without error",
        "a number",
    ),
    (
        _isinf("prediction"),
        "prediction",
        "raw_prediction",
        "infinite prediction",
        "a finite number",
    ),
    (
        f"{_isfinite('prediction')} AND (prediction < {_LOW!r} OR prediction > {_HIGH!r})",
        "prediction",
        "raw_prediction",
        "prediction outside [0, 1]",
        PREDICTION_EXPECTED,
    ),
]


def _feature_rules(features: Mapping[str, Kind]) -> list[Rule]:
    """A numeric feature that is not a number on a row without error."""
    return [
        (
            f"error = '' AND raw_f{i} IS NOT NULL AND f{i} IS NULL",
            name,
            f"raw_f{i}",
            "not a number",
            "a number or empty",
        )
        for i, name in enumerate(features)
        if features[name] == "numeric"
    ]

# --------------------------------------------------------------------------- results


def duckdb_read_error(path: Path | None, text: str) -> LogError:
    """What DuckDB said about a file it could not read, worded as the pandas engine's."""
    line = re.search(r"CSV Error on Line: (\d+)", text)
    row = int(line.group(1)) - 1 if line and int(line.group(1)) > 1 else None
    reason = re.split(r"\n\s*(?:Possible (?:fix|Solution)|file = )", text, maxsplit=1)[0]
    reason = re.sub(r"^[A-Za-z ]*Error: ", "", reason.strip())
    if line:  # "CSV Error on Line: N", "Original Line: <text>", then what is wrong
        rest = reason.split("\n", 1)[1] if "\n" in reason else ""
        rest = rest.rsplit("\n\n", 1)[1] if "\n\n" in rest else rest.partition("\n")[2]
        if "Expected Number of Columns" not in reason and rest.strip():
            reason = rest
    if path is not None and path.suffix.lower() == ".parquet":
        return LogError(f"cannot read: {reason}", source=path, expected="Parquet")
    return csv_read_error(path if path is not None else Path(), reason, row)


#: The latency summary of a group of rows: percentiles over successful rows.
STATS = (
    "count(*) AS requests, count(*) FILTER (WHERE error <> '') AS errors, "
    "count(*) FILTER (WHERE error = '') AS count, "
    "quantile_cont(latency, [0.5, 0.95, 0.99]) FILTER (WHERE error = '') AS q, "
    "max(latency) FILTER (WHERE error = '') AS mx, "
    "avg(latency) FILTER (WHERE error = '') AS mean"
)


def stats_of(row: Sequence[Any]) -> dict[str, Any]:
    """The summary of a row of :data:`STATS`, in the pandas engine's keys."""
    requests, errors, count, q, mx, mean = row
    q = q or [None, None, None]
    return {
        "requests": int(requests),
        "errors": int(errors),
        "count": int(count),
        "p50": q[0],
        "p95": q[1],
        "p99": q[2],
        "max": mx,
        "mean": mean,
    }


# --------------------------------------------------------------------------- bin counts


def from_cumulative(values: Sequence[Any], total: int) -> np.ndarray:
    """Bins from cumulative counts #{x <= e_j} (j = 0..k-1) and the NaN count."""
    *cum, nan = (int(v) for v in values)
    valid = total - nan
    bounds = [*cum, valid]
    counts = np.diff(np.array([0, *bounds], dtype=np.int64)).astype(np.float64)
    return np.append(counts, float(nan))


def categorical_bins(categories: Sequence[str], counts: Mapping[str | None, int]) -> np.ndarray:
    known = [float(counts.get(c, 0)) for c in categories]
    nan = float(counts.get(None, 0))
    total = float(sum(counts.values()))
    return np.array([*known, total - sum(known) - nan, nan], dtype=np.float64)


def file_select(path: Path, scanned: Path, fields: Sequence[tuple[str, pa.DataType]],
                features: Mapping[str, Kind]) -> str:
    """The SELECT of one log file: the required columns cast (with their raw text kept
    for the error messages), ``request_id`` (NULL when the file has none) and each wanted
    feature as ``f<i>`` (numeric features with their raw text as ``raw_f<i>``)."""
    cols = dict(fields)
    if path.suffix.lower() == ".parquet":
        source = f"read_parquet({literal(str(path))})"
    else:
        source = csv_scan(scanned, fields)
    parts = [
        f"{literal(str(path))} AS file",
        f"{timestamp_sql(cols['timestamp'])} AS ts",
        f"{raw_sql('timestamp', cols['timestamp'])} AS raw_timestamp",
        "CAST(version AS VARCHAR) AS version",
        "TRY_CAST(latency_ms AS DOUBLE) AS latency",
        f"{raw_sql('latency_ms', cols['latency_ms'])} AS raw_latency_ms",
        "TRY_CAST(prediction AS DOUBLE) AS prediction",
        f"{raw_sql('prediction', cols['prediction'])} AS raw_prediction",
        "coalesce(CAST(error AS VARCHAR), '') AS error",
        (f"nullif(CAST({quote(REQUEST_ID)} AS VARCHAR), '')" if REQUEST_ID in cols
         else "CAST(NULL AS VARCHAR)") + " AS request_id",
    ]
    for i, name in enumerate(features):
        q = quote(name)
        if features[name] == "numeric":
            parts.append(f"TRY_CAST({q} AS DOUBLE) AS f{i}")
            parts.append(f"{raw_sql(name, cols[name])} AS raw_f{i}")
        elif pa.types.is_boolean(cols[name]):
            parts.append(f"CASE WHEN {q} THEN 'True' WHEN NOT {q} THEN 'False' END AS f{i}")
        else:
            parts.append(f"CAST({q} AS VARCHAR) AS f{i}")
    return f"SELECT {', '.join(parts)} FROM {source}"
