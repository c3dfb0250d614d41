"""The SQL the DuckDB and Spark profile engines share, and the long form from what it returns.

Both engines first reduce a file to a table of typed rows — ``version``, ``hour`` (the
UTC hour's start, epoch s), ``us`` (epoch µs), ``error`` ('' when ok), ``latency``,
``prediction``, ``has_id`` and one column per feature (``f0``, ``f1``, …) — then run the
same aggregates over it, written in the SQL both dialects read:

- per (version, hour): rows, first/last µs, rows with an id, Σ ⌊latency_ms · 1000⌋;
- per (version, hour, error kind) and per (version, hour, latency bucket);
- per hour of a version with a package: cumulative counts ``#{x ≤ e_j}`` for every edge
  of the prediction and of each numeric feature (``x`` falls in bin ``#{e < x}``), the
  NaN/missing count, and one count per reference category — compare-and-count against
  the edges written as exact double literals, so the bins are numpy's.

The latency bucket (``#{k : EDGES[k] ≤ x}``, numpy's ``searchsorted(side="right")``) is
a candidate from ``ln`` corrected by one comparison each way against the exact edges of
that candidate (a join with the small table of :func:`bucket_bounds`): ``ln`` is off by
far less than one bucket, so the result is exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.monitoring.logs_schema import Kind
from deployready.monitoring.profiles.frame import COLUMNS, Layout, empty_profile, normalized
from deployready.monitoring.profiles.histogram import EDGES, GAMMA, MIN_MS
from deployready.monitoring.profiles.sources import double_literal

__all__ = [
    "BASE_AGGREGATES",
    "BinSpec",
    "base_select",
    "bin_specs",
    "bins_select",
    "bucket_bounds",
    "bucket_select",
    "errors_select",
    "long_form",
    "string_literal",
]

Dialect = Literal["duckdb", "spark"]

#: per (version, hour): the aggregates of every version, in this order
BASE_AGGREGATES = (
    "count(*)",
    "min(us)",
    "max(us)",
    "count(*) FILTER (WHERE error = '' AND has_id)",
    "coalesce(sum(CAST(floor(latency * 1000.0) AS BIGINT)) FILTER (WHERE error = ''), 0)",
)


def string_literal(text: str, dialect: Dialect) -> str:
    """``text`` as a SQL string (Spark reads backslash escapes, DuckDB doubles quotes)."""
    if dialect == "spark":
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + text.replace("'", "''") + "'"


def base_select(source: str) -> str:
    """SELECT version, hour, then :data:`BASE_AGGREGATES`."""
    aggregates = ", ".join(BASE_AGGREGATES)
    return f"SELECT version, hour, {aggregates} FROM {source} GROUP BY version, hour"


def errors_select(source: str) -> str:
    """SELECT version, hour, error kind, failed rows."""
    return (f"SELECT version, hour, error, count(*) FROM {source} WHERE error <> '' "
            "GROUP BY version, hour, error")


def bucket_bounds() -> list[tuple[int, float, float]]:
    """(bucket, lower edge, upper edge) of every latency bucket: the rows of the small
    table the bucket query joins on (the edges as float64 values, never as text)."""
    lows = [-math.inf, *(float(e) for e in EDGES)]
    highs = [*(float(e) for e in EDGES), math.inf]
    return [(b, lo, hi) for b, (lo, hi) in enumerate(zip(lows, highs, strict=True))]


def bucket_select(source: str, bounds: str) -> str:
    """SELECT version, hour, bucket, count over the successful rows of ``source``;
    ``bounds`` is a table of :func:`bucket_bounds` (columns b, lo, hi)."""
    n = EDGES.size
    candidate = (
        f"CASE WHEN latency < {double_literal(MIN_MS)} THEN 0 ELSE least(greatest("
        f"CAST(floor(ln(latency / {double_literal(MIN_MS)}) / {double_literal(math.log(GAMMA))})"
        f" AS BIGINT) + 1, 1), {n}) END"
    )
    fixed = ("c + CASE WHEN hi <= latency THEN 1 ELSE 0 END "
             "- CASE WHEN lo > latency THEN 1 ELSE 0 END")
    return (
        f"SELECT version, hour, {fixed} AS bucket, count(*) AS n FROM (SELECT version, hour, "
        f"latency, {candidate} AS c FROM {source} WHERE error = '') AS r "
        f"JOIN {bounds} AS k ON k.b = r.c GROUP BY version, hour, {fixed}"
    )


@dataclass(frozen=True)
class BinSpec:
    """One binned quantity of a layout: ``measure`` / ``key`` over ``column`` (read as
    ``kind``), numeric ``edges`` or ``categories``."""

    measure: str
    key: str
    column: str
    numeric: bool
    values: tuple[Any, ...]
    read_numeric: bool = True

    @property
    def width(self) -> int:
        """How many aggregates it takes (cumulative counts or categories, then missing)."""
        return len(self.values) + 1


def bin_specs(layout: Layout, columns: Mapping[str, tuple[str, Kind]]) -> list[BinSpec]:
    """The binned quantities of a layout: the prediction, then each feature it lists
    (``columns``: feature → (column, kind it was read as))."""
    profile = layout.profile
    out: list[BinSpec] = []
    if "prediction" in profile:
        edges = tuple(float(e) for e in profile["prediction"]["edges"])
        out.append(BinSpec("prediction", "", "prediction", True, edges))
    for name, spec in profile.get("features", {}).items():
        if name not in columns:
            continue
        column, kind = columns[name]
        if spec["kind"] == "numeric":
            edges = tuple(float(e) for e in spec["edges"])
            out.append(BinSpec("feature", name, column, True, edges, kind == "numeric"))
        else:
            out.append(BinSpec("feature", name, column, False, tuple(spec["categories"]),
                               kind == "numeric"))
    return out


def _aggregates(spec: BinSpec, dialect: Dialect) -> list[str]:
    col = spec.column
    if spec.numeric:
        if not spec.read_numeric:
            col = f"TRY_CAST({col} AS DOUBLE)"
        out = [f"count_if({col} <= {double_literal(e)})" for e in spec.values]
        out.append(f"count_if({col} IS NULL OR isnan({col}))")
        return out
    if spec.read_numeric:
        col = f"CAST({col} AS STRING)"
    out = [f"count_if({col} = {string_literal(c, dialect)})"
           for c in spec.values]
    out.append(f"count_if({col} IS NULL)")
    return out


def bins_select(source: str, version: str, specs: Sequence[BinSpec], dialect: Dialect) -> str:
    """SELECT hour, ok rows, then every spec's aggregates, over a version's ok rows."""
    aggs = ["count(*)"]
    for spec in specs:
        aggs.extend(_aggregates(spec, dialect))
    return (f"SELECT hour, {', '.join(aggs)} FROM {source} "
            f"WHERE version = {string_literal(version, dialect)} AND error = '' GROUP BY hour")


# --------------------------------------------------------------------------- results


def _frame(version: Any, sha: Any, hour: Any, measure: Any, key: Any, bucket: Any,
           value: Any) -> pd.DataFrame:
    return pd.DataFrame(dict(zip(COLUMNS, (version, sha, hour, measure, key, bucket, value),
                                 strict=True)))


def _base(rows: Sequence[Sequence[Any]], shas: Mapping[str, str]) -> list[pd.DataFrame]:
    parts = []
    names = ("rows", "first_us", "last_us", "with_id", "latency_sum_us")
    for version, hour, *values in rows:
        sha = shas.get(str(version), "")
        parts.append(_frame(str(version), sha, int(hour), list(names), "", 0,
                            [int(v) for v in values]))
    return parts


def _bins(version: str, sha: str, rows: Sequence[Sequence[Any]],
          specs: Sequence[BinSpec]) -> list[pd.DataFrame]:
    if not rows:
        return []
    # DuckDB's count_if is a sum: NULL, not 0, when every input is NULL
    table = np.array([[int(v or 0) for v in row] for row in rows], dtype=np.int64)
    hours, ok = table[:, 0], table[:, 1]
    parts, pos = [], 2
    for spec in specs:
        block = table[:, pos : pos + spec.width]
        pos += spec.width
        known, missing = block[:, :-1], block[:, -1:]
        if spec.numeric:  # cumulative #{x <= e_j} → per bin, then the last value bin
            valid = (ok - missing[:, 0])[:, None]
            counts = np.diff(np.hstack([np.zeros_like(missing), known, valid]), axis=1)
        else:
            unseen = ok[:, None] - known.sum(axis=1, keepdims=True) - missing
            counts = np.hstack([known, unseen])
        counts = np.hstack([counts, missing])
        h, b = np.nonzero(counts)
        parts.append(_frame(version, sha, hours[h], spec.measure, spec.key, b, counts[h, b]))
    return parts


def long_form(base: Sequence[Sequence[Any]], errors: Sequence[Sequence[Any]],
              latency: Sequence[Sequence[Any]], bins: Mapping[str, Sequence[Sequence[Any]]],
              specs: Mapping[str, Sequence[BinSpec]], layouts: Mapping[str, Layout]
              ) -> pd.DataFrame:
    """The long form of a file from the rows of :data:`BASE_AGGREGATES` (version, hour,
    values), the error kinds (version, hour, kind, n), the latency buckets (version,
    hour, bucket, n) and :func:`bins_select` per version with a layout."""
    shas = {v: layout.package_sha256 for v, layout in layouts.items()}
    parts = _base(base, shas)
    for version, hour, kind, n in errors:
        parts.append(_frame([str(version)], shas.get(str(version), ""), int(hour), "error",
                            str(kind), 0, int(n)))
    if latency:
        lat = pd.DataFrame([tuple(r) for r in latency],
                           columns=["version", "hour", "bucket", "value"])
        lat["version"] = lat["version"].astype(str)
        lat["package_sha256"] = lat["version"].map(lambda v: shas.get(v, ""))
        parts.append(lat.assign(measure="latency", key=""))
    for version, rows in bins.items():
        parts.extend(_bins(version, shas[version], rows, specs[version]))
    if not parts:
        return empty_profile()
    return normalized(pd.concat([p.loc[:, list(COLUMNS)] for p in parts], ignore_index=True))
