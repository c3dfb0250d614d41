"""The long form of a profile: what every engine produces, what the store keeps.

One row per (``version``, ``package_sha256``, ``hour``, ``measure``, ``key``,
``bucket``) with an integer ``value``; ``hour`` is the UTC hour's start in epoch seconds.
Only non-zero counts are listed. The measures, per version and hour:

============== ============ ========= ==================================================
measure        key          bucket    value
============== ============ ========= ==================================================
rows           ""           0         every row (successful and failed)
error          error kind   0         failed rows of that kind (``error`` not empty)
with_id        ""           0         successful rows with a ``request_id``
latency        ""           bucket    successful rows per latency bucket (histogram)
latency_sum_us ""           0         Σ ⌊latency_ms · 1000⌋ over successful rows
first_us       ""           0         earliest timestamp, epoch µs (merges by min)
last_us        ""           0         latest timestamp, epoch µs (merges by max)
prediction     ""           bin       successful rows per reference prediction bin
feature        feature name bin       successful rows per reference bin of the feature
============== ============ ========= ==================================================

``prediction`` and ``feature`` rows exist only for a version whose package was found
(its hash is ``package_sha256``, "" otherwise); bins are positions in the package's
``reference_profile.json`` (value bins, then unseen for categories, then missing), the
counting rules of :mod:`deployready.package.profile`. Two long forms of disjoint rows
merge with :func:`merge` (sums; min/max for the two time measures).

:func:`profile_rows` is the pandas computation, the reference the DuckDB and Spark
engines are tested equal to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deployready.monitoring.logs_schema import REQUEST_ID
from deployready.monitoring.profiles.histogram import EDGES, buckets_of

__all__ = [
    "COLUMNS",
    "KEYS",
    "MAX_MEASURES",
    "MIN_MEASURES",
    "Layout",
    "empty_profile",
    "merge",
    "normalized",
    "profile_rows",
]

KEYS: tuple[str, ...] = ("version", "package_sha256", "hour", "measure", "key", "bucket")
COLUMNS: tuple[str, ...] = (*KEYS, "value")
MIN_MEASURES = frozenset({"first_us"})
MAX_MEASURES = frozenset({"last_us"})


@dataclass(frozen=True)
class Layout:
    """The package a version's rows are binned against: its hash and reference profile."""

    package_sha256: str
    profile: Mapping[str, Any]


def empty_profile() -> pd.DataFrame:
    return normalized(pd.DataFrame({c: [] for c in COLUMNS}))


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the long form's dtypes, zero counts dropped, rows in key order."""
    out = frame.loc[:, list(COLUMNS)].copy()
    for c in ("version", "package_sha256", "measure", "key"):
        out[c] = out[c].astype(object).astype(str)
    for c in ("hour", "bucket", "value"):
        out[c] = out[c].astype(np.int64)
    keep = (out["value"] != 0) | out["measure"].isin(MIN_MEASURES | MAX_MEASURES)
    out = out[keep.to_numpy()]
    # key order by codes of the sorted distinct values (as sort_values, much faster)
    codes = [pd.factorize(out[c], sort=True)[0] for c in reversed(KEYS)]
    order = np.lexsort(codes) if len(out) else np.arange(0)
    return out.iloc[order].reset_index(drop=True)


def merge(*frames: pd.DataFrame) -> pd.DataFrame:
    """One long form of the rows of all ``frames`` (disjoint rows: counts add)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return empty_profile()
    both = pd.concat(parts, ignore_index=True)
    grouped = both.groupby(list(KEYS), sort=False)["value"]
    summed, low, high = grouped.sum(), grouped.min(), grouped.max()
    measure = summed.index.get_level_values("measure")
    value = np.where(measure.isin(MIN_MEASURES), low.to_numpy(),
                     np.where(measure.isin(MAX_MEASURES), high.to_numpy(), summed.to_numpy()))
    return normalized(summed.index.to_frame(index=False).assign(value=value))


def _hours(ts: pd.Series) -> np.ndarray:
    ns = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]")
    return np.asarray((ns.astype(np.int64) // 3_600_000_000_000) * 3600, dtype=np.int64)


def _micros(ts: pd.Series) -> np.ndarray:
    ns = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]")
    return np.asarray(ns.astype(np.int64) // 1000, dtype=np.int64)


#: Above this many (group, bucket) cells, counts go through ``np.unique`` instead of a
#: dense ``np.bincount`` (a year of hours in one file times the latency buckets).
_DENSE_CELLS = 1 << 24


@dataclass
class _Parts:
    """The long form being built: per part, the group of each row and its columns."""

    groups: list[np.ndarray]
    measures: list[np.ndarray]
    keys: list[np.ndarray]
    buckets: list[np.ndarray]
    values: list[np.ndarray]

    def add(self, groups: np.ndarray, measure: str, key: str | np.ndarray,
            buckets: np.ndarray, values: np.ndarray) -> None:
        n = len(groups)
        self.groups.append(np.asarray(groups, dtype=np.int64))
        self.measures.append(np.full(n, measure, dtype=object))
        self.keys.append(np.full(n, key, dtype=object) if isinstance(key, str)
                         else np.asarray(key, dtype=object))
        self.buckets.append(np.asarray(buckets, dtype=np.int64))
        self.values.append(np.asarray(values, dtype=np.int64))

    def add_cells(self, group: np.ndarray, cell: np.ndarray, width: int, n_groups: int,
                  measure: str, key: str) -> None:
        """Counts of (group, cell) pairs, ``0 <= cell < width``: one row per non-zero."""
        groups, cells, counts = _cell_counts(group, cell, width, n_groups)
        self.add(groups, measure, key, cells, counts)


def _cell_counts(group: np.ndarray, cell: np.ndarray, width: int,
                 n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, cell, count) of every non-empty (group, cell) pair, combined codes counted
    by ``np.bincount`` (or ``np.unique`` when the dense table would be large)."""
    code = np.asarray(group, dtype=np.int64) * width + np.asarray(cell, dtype=np.int64)
    if n_groups * width <= _DENSE_CELLS:
        counts = np.bincount(code, minlength=n_groups * width)
        found = np.flatnonzero(counts)
        values = counts[found]
    else:
        found, values = np.unique(code, return_counts=True)
    return found // width, found % width, values.astype(np.int64)


def _numeric_bins(edges: Any, values: np.ndarray) -> np.ndarray:
    """Bin of every value over a numeric spec's ``edges``: ``#{e < x}``, NaN last."""
    edge_arr = np.asarray(edges, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    bins = np.searchsorted(edge_arr, x, side="left").astype(np.int64)
    bins[np.isnan(x)] = edge_arr.size + 1
    return bins


def _category_bins(categories: Any, values: Any) -> np.ndarray:
    """Bin of every value over a categorical spec: its category's position, then unseen,
    then missing (None/NaN) — the counting of ``categorical_counts_fast``."""
    as_str = pa.array(pd.Series(values).astype("string").array, type=pa.string())
    missing = as_str.is_null().to_numpy(zero_copy_only=False)
    cats = list(categories)
    found = pc.index_in(as_str, value_set=pa.array(cats, type=pa.string()))
    codes = found.fill_null(-1).to_numpy(zero_copy_only=False)
    bins = np.where(codes >= 0, codes, len(cats)).astype(np.int64)
    bins[missing] = len(cats) + 1
    return bins


def _spec_bins(spec: Mapping[str, Any], column: Any) -> tuple[np.ndarray, int]:
    """(bin of every value, number of bins) of one profile spec."""
    if spec["kind"] == "numeric":
        numbers = pd.to_numeric(pd.Series(column), errors="coerce")
        values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric_bins(spec["edges"], values), len(spec["edges"]) + 2
    return _category_bins(spec["categories"], column), len(spec["categories"]) + 2


def _group_extremes(group: np.ndarray, micros: np.ndarray, n_groups: int,
                    parts: _Parts) -> None:
    series = pd.Series(micros).groupby(group)
    low, high = series.min(), series.max()
    zero = np.zeros(n_groups, dtype=np.int64)
    everyone = np.arange(n_groups, dtype=np.int64)
    parts.add(everyone, "first_us", "", zero, low.reindex(everyone).to_numpy(np.int64))
    parts.add(everyone, "last_us", "", zero, high.reindex(everyone).to_numpy(np.int64))


def _errors(group: np.ndarray, error: pd.Series, n_groups: int, parts: _Parts) -> None:
    failed = (error != "").to_numpy(dtype=bool)
    if not failed.any():
        return
    codes, kinds = pd.factorize(error[failed], sort=True)
    groups, cells, counts = _cell_counts(group[failed], codes, len(kinds), n_groups)
    parts.add(groups, "error", np.asarray(kinds, dtype=object)[cells], np.zeros_like(cells),
              counts)


def _latency(group: np.ndarray, latency: np.ndarray, n_groups: int, parts: _Parts) -> None:
    parts.add_cells(group, buckets_of(latency), EDGES.size + 1, n_groups, "latency", "")
    micros = pd.Series(np.floor(latency * 1000.0).astype(np.int64)).groupby(group).sum()
    everyone = np.arange(n_groups, dtype=np.int64)
    parts.add(everyone, "latency_sum_us", "", np.zeros(n_groups, dtype=np.int64),
              micros.reindex(everyone, fill_value=0).to_numpy(np.int64))


def _bins(frame: pd.DataFrame, ok: np.ndarray, group: np.ndarray, version_code: np.ndarray,
          layouts: Mapping[int, Layout], n_groups: int, parts: _Parts) -> None:
    """Prediction and feature counts of the successful rows of every version with a
    layout, each feature binned once over all of that version's rows."""
    for code, layout in layouts.items():
        rows = np.flatnonzero(ok & (version_code == code))
        if rows.size == 0:
            continue
        g = group[rows]
        pred_spec = layout.profile.get("prediction")
        if pred_spec is not None:
            predictions = frame["prediction"].to_numpy(np.float64)[rows]
            bins = _numeric_bins(pred_spec["edges"], predictions)
            parts.add_cells(g, bins, len(pred_spec["edges"]) + 2, n_groups, "prediction", "")
        specs = {n: s for n, s in layout.profile["features"].items() if n in frame.columns}
        # the version's rows of every feature column taken at once (not one column at a time)
        taken = frame[list(specs)] if rows.size == len(frame) else frame[list(specs)].iloc[rows]
        for name, spec in specs.items():
            bins, width = _spec_bins(spec, taken[name])
            parts.add_cells(g, bins, width, n_groups, "feature", str(name))


def profile_rows(frame: pd.DataFrame, layouts: Mapping[str, Layout]) -> pd.DataFrame:
    """The long form of validated log rows (:func:`~deployready.monitoring.logs.read_log_file`
    columns); versions without a layout get no bin counts.

    Vectorized: rows are grouped by (version, hour) codes once, every measure is counted
    with ``np.bincount`` over combined (group, bucket) codes and every feature is binned
    once per version over the whole frame.
    """
    if frame.empty:
        return empty_profile()
    v_code, v_names = pd.factorize(frame["version"].astype(str), sort=True)
    h_code, h_values = pd.factorize(_hours(frame["timestamp"]), sort=True)
    group, pairs = pd.factorize(v_code.astype(np.int64) * len(h_values) + h_code, sort=True)
    group = group.astype(np.int64)
    n_groups = len(pairs)
    pairs = np.asarray(pairs, dtype=np.int64)
    group_version = pairs // len(h_values)
    group_hour = np.asarray(h_values, dtype=np.int64)[pairs % len(h_values)]
    error = frame["error"].astype(str)
    ok = (error == "").to_numpy(dtype=bool)
    parts = _Parts([], [], [], [], [])
    zero = np.zeros(n_groups, dtype=np.int64)
    everyone = np.arange(n_groups, dtype=np.int64)
    parts.add(everyone, "rows", "", zero, np.bincount(group, minlength=n_groups))
    _group_extremes(group, _micros(frame["timestamp"]), n_groups, parts)
    _errors(group, error, n_groups, parts)
    if REQUEST_ID in frame.columns:
        with_id = ok & frame[REQUEST_ID].notna().to_numpy()
        parts.add(everyone, "with_id", "", zero, np.bincount(group[with_id], minlength=n_groups))
    _latency(group[ok], frame["latency_ms"].to_numpy(np.float64)[ok], n_groups, parts)
    names = [str(v) for v in v_names]
    found = {i: layouts[name] for i, name in enumerate(names) if name in layouts}
    _bins(frame, ok, group, v_code, found, n_groups, parts)
    shas = [found[i].package_sha256 if i in found else "" for i in range(len(names))]
    return _assembled(parts, names, shas, group_version, group_hour)


def _assembled(parts: _Parts, names: list[str], shas: list[str], group_version: np.ndarray,
               group_hour: np.ndarray) -> pd.DataFrame:
    """The parts as one long form, as :func:`normalized` leaves it (zero counts dropped,
    rows in key order — sorted by integer codes, much faster than by strings)."""
    g = np.concatenate(parts.groups)
    measure = np.concatenate(parts.measures)
    key = np.concatenate(parts.keys)
    bucket = np.concatenate(parts.buckets)
    value = np.concatenate(parts.values)
    keep = (value != 0) | np.isin(measure, list(MIN_MEASURES | MAX_MEASURES))
    g, measure, key, bucket, value = g[keep], measure[keep], key[keep], bucket[keep], value[keep]
    m_code = pd.factorize(measure, sort=True)[0]
    k_code = pd.factorize(key, sort=True)[0]
    version = group_version[g]
    order = np.lexsort((bucket, k_code, m_code, group_hour[g], version))
    version = version[order]
    return pd.DataFrame({
        "version": pd.array(np.asarray(names, dtype=object)[version], dtype="str"),
        "package_sha256": pd.array(np.asarray(shas, dtype=object)[version], dtype="str"),
        "hour": group_hour[g][order],
        "measure": pd.array(measure[order], dtype="str"),
        "key": pd.array(key[order], dtype="str"),
        "bucket": bucket[order],
        "value": value[order],
    })
