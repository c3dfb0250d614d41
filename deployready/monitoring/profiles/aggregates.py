"""The monitoring aggregates of :class:`~deployready.monitoring.logs.ProductionLogs`,
answered from a merged long form (:mod:`~deployready.monitoring.profiles.frame`) instead
of the raw rows.

Every function takes the long form of the rows asked about — with an ``hour`` column
(epoch seconds of the UTC hour) or a ``day`` column (``datetime.date``), as
:meth:`ProfileStore.counts` returns it — and returns exactly the shape and dtypes the raw
engines return (:mod:`~deployready.monitoring.logs_pandas`,
:mod:`~deployready.monitoring.logs_schema`): counts are identical; percentiles and the
maximum come from the merged latency histogram, within
:data:`~deployready.monitoring.profiles.histogram.RELATIVE_ERROR` (0.5 %) of the exact
figure; the mean is ``Σ ⌊latency_ms · 1000⌋ / 1000 / count``, within 1 µs. All of it is
vectorized over windows (one ``np.unique`` over (window, bucket), one ``searchsorted``
per percentile), so a year of hourly profiles answers in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from deployready.monitoring.logs_schema import (
    ID_COUNT_COLUMNS,
    PERCENTILES,
    WINDOW_COLUMNS,
    BinCounts,
    _empty_counts,
    _empty_id_counts,
    _empty_windows,
)
from deployready.monitoring.profiles.histogram import representatives

__all__ = [
    "BinMatrix",
    "bin_counts",
    "bin_matrix",
    "bin_offsets",
    "day_counts",
    "error_kinds",
    "group_quantiles",
    "id_counts",
    "latency_summary",
    "latency_windows",
    "seconds_of",
    "versions",
]

DAY_S = 86_400
_STATS = ("p50", "p95", "p99", "max")
_EPOCH = date(1970, 1, 1)
_EXACT = 2**53  # float64 sums of integers are exact below this


def _dense(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques): each value's position among the sorted distinct values (a hash
    factorization, then the few uniques sorted — much cheaper than sorting every row)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size, dtype=np.int64)
    return rank[codes], uniques[order]


def _codes(column: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Position of each cell of a text column in ``names`` (-1: another)."""
    codes, uniques = pd.factorize(column)
    lookup = np.append(pd.Index(list(names)).get_indexer(pd.Index(uniques, dtype=object)), -1)
    out: np.ndarray = lookup[codes]
    return out


def seconds_of(counts: pd.DataFrame) -> np.ndarray:
    """Epoch seconds of each row's hour (``hour`` column) or day (``day`` column)."""
    if "hour" in counts.columns:
        hours: np.ndarray = counts["hour"].to_numpy(dtype=np.int64)
        return hours
    codes, uniques = pd.factorize(counts["day"])
    days = pd.to_datetime(pd.Series(uniques, dtype=object)).to_numpy("datetime64[D]")
    out: np.ndarray = days.astype(np.int64)[codes] * DAY_S
    return out


def _days(seconds: np.ndarray) -> list[date]:
    """``datetime.date`` of each of ``seconds`` (day starts)."""
    return [_EPOCH + timedelta(days=int(s) // DAY_S) for s in seconds]


def _of(counts: pd.DataFrame, *measures: str) -> pd.DataFrame:
    return counts[counts["measure"].isin(measures).to_numpy()]


def _sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Σ ``values`` per group code 0..size-1 (int64, exact)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    if int(np.abs(values).sum(dtype=np.float64)) < _EXACT:
        summed = np.bincount(groups, weights=values, minlength=size)
        return np.rint(summed).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, groups, values)
    return out


def versions(counts: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """version -> {rows, first, last} (first and last: UTC timestamps of rows)."""
    sel = _of(counts, "rows", "first_us", "last_us")
    out: dict[str, dict[str, Any]] = {}
    if sel.empty:
        return out
    g = sel.groupby(["version", "measure"], sort=True)["value"].agg(["sum", "min", "max"])
    for version in g.index.get_level_values("version").unique():
        row = g.loc[version]
        out[str(version)] = {
            "rows": int(row.loc["rows", "sum"]),
            "first": pd.Timestamp(int(row.loc["first_us", "min"]), unit="us", tz="UTC"),
            "last": pd.Timestamp(int(row.loc["last_us", "max"]), unit="us", tz="UTC"),
        }
    return out


def _per_day(counts: pd.DataFrame, measures: Sequence[str]) -> tuple[list[date], np.ndarray]:
    """(days, matrix): Σ value per day (rows) and measure (columns, in ``measures`` order)."""
    which = _codes(counts["measure"], measures)
    keep = which >= 0
    day, uniq = _dense(seconds_of(counts)[keep] // DAY_S)
    flat = _sums(day * len(measures) + which[keep], counts["value"].to_numpy(np.int64)[keep],
                 uniq.size * len(measures))
    return _days(uniq * DAY_S), flat.reshape(uniq.size, len(measures))


def _day_frame(days: list[date], columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    out = pd.DataFrame({k: np.asarray(v, dtype=np.int64) for k, v in columns.items()})
    out.index = pd.Index(days, name="day", dtype=object)
    return out


def day_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Index: UTC day (datetime.date); columns rows, ok, errors."""
    days, m = _per_day(counts, ("rows", "error"))
    if not days:
        return _empty_counts()
    return _day_frame(days, {"rows": m[:, 0], "ok": m[:, 0] - m[:, 1], "errors": m[:, 1]})


def id_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Index: UTC day (datetime.date) with successful rows; columns ok, with_id, no_id."""
    days, m = _per_day(counts, ("rows", "error", "with_id"))
    ok = m[:, 0] - m[:, 1]
    keep = ok > 0
    if not keep.any():
        return _empty_id_counts()
    kept = [d for d, k in zip(days, keep, strict=True) if k]
    with_id = m[keep, 2]
    out = _day_frame(kept, {"ok": ok[keep], "with_id": with_id, "no_id": ok[keep] - with_id})
    return out[ID_COUNT_COLUMNS]


def error_kinds(counts: pd.DataFrame) -> dict[str, int]:
    sel = _of(counts, "error")
    totals = sel.groupby("key", sort=True)["value"].sum()
    return {str(k): int(v) for k, v in totals.items() if v}


def _quantiles(ends: np.ndarray, reps: np.ndarray, n: np.ndarray,
               qs: Sequence[float]) -> np.ndarray:
    """Percentiles of consecutive histograms laid end to end: ``ends`` the running total
    of their counts, ``reps`` each position's representative, ``n`` each histogram's
    total — the arithmetic of :func:`~deployready.monitoring.profiles.histogram.quantiles`
    (so the same numbers), one ``searchsorted`` per percentile; NaN for an empty one."""
    offset = np.cumsum(n) - n  # order statistics before each histogram's first
    out = np.full((n.size, len(qs)), np.nan)
    has = n > 0
    for j, q in enumerate(qs):
        h = float(q) * (n[has] - 1)
        lo, hi = np.floor(h), np.ceil(h)
        r_lo = reps[np.searchsorted(ends, offset[has] + lo.astype(np.int64), side="right")]
        r_hi = reps[np.searchsorted(ends, offset[has] + hi.astype(np.int64), side="right")]
        out[has, j] = r_lo + (h - lo) * (r_hi - r_lo)
    return out


def group_quantiles(
    groups: np.ndarray, buckets: np.ndarray, counts: np.ndarray, size: int,
    qs: Sequence[float],
) -> np.ndarray:
    """(size × len(qs)) percentiles of the histogram of every group code 0..size-1, rows
    sorted by (group, bucket): :func:`~deployready.monitoring.profiles.histogram.quantiles`
    of each group, vectorized; NaN for an empty group."""
    counts = np.asarray(counts, dtype=np.int64)
    n = _sums(np.asarray(groups, dtype=np.int64), counts, size)
    return _quantiles(np.cumsum(counts), representatives(buckets), n, qs)


def _latency_table(counts: pd.DataFrame, window_s: int) -> pd.DataFrame:
    """One row per window with rows: window start (epoch s), requests, errors, count,
    p50, p95, p99, max, mean. The histograms are one dense (window × bucket in use)
    matrix of counts, merged with one ``bincount``."""
    names = ("rows", "error", "latency", "latency_sum_us")
    which = _codes(counts["measure"], names)
    keep = which >= 0
    which = which[keep]
    window, starts = _dense(seconds_of(counts)[keep] // window_s * window_s)
    value = counts["value"].to_numpy(np.int64)[keep]
    size = starts.size
    totals = _sums(window * len(names) + which, value, size * len(names)).reshape(size, 4)
    requests, errors, ok, sum_us = totals.T
    lat = which == 2
    bucket, used = _dense(counts["bucket"].to_numpy(np.int64)[keep][lat])
    cells = _sums(window[lat] * used.size + bucket, value[lat], size * used.size)
    stats = _quantiles(np.cumsum(cells), np.tile(representatives(used), size), ok,
                       (*PERCENTILES, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok > 0, sum_us / 1000.0 / np.maximum(ok, 1), np.nan)
    table = pd.DataFrame({"start": starts, "requests": requests, "errors": errors,
                          "count": ok, "mean": mean})
    for j, name in enumerate(_STATS):
        table[name] = stats[:, j]
    return table[table["requests"] > 0].reset_index(drop=True)


def latency_windows(counts: pd.DataFrame, delta: pd.Timedelta) -> pd.DataFrame:
    """Per ``delta`` window with rows (a whole number of hours, from the epoch): the
    shape of :func:`deployready.monitoring.logs_pandas.windows`."""
    window_s = int(delta.total_seconds())
    if window_s % 3600:
        raise ValueError(f"a profile window is whole hours, not {delta}")
    table = _latency_table(counts, window_s)
    if table.empty:
        return _empty_windows()
    out = table.rename(columns={"start": "window_start"})
    out["window_start"] = pd.to_datetime(out["window_start"], unit="s", utc=True).astype(
        "datetime64[us, UTC]")
    for c in ("requests", "errors", "count"):
        out[c] = out[c].astype(np.int64)
    for c in ("p50", "p95", "p99", "max", "mean"):
        out[c] = out[c].astype(np.float64)
    return out[WINDOW_COLUMNS]


def latency_summary(counts: pd.DataFrame) -> dict[str, Any]:
    """requests, errors, count, p50, p95, p99, max, mean of every row of ``counts``."""
    only = counts.assign(hour=np.zeros(len(counts), dtype=np.int64)).drop(
        columns=["day"], errors="ignore")
    table = _latency_table(only, 3600)
    if table.empty:
        return {"requests": 0, "errors": 0, "count": 0,
                **dict.fromkeys((*_STATS[:3], "max", "mean"))}
    row = table.iloc[0]
    out: dict[str, Any] = {k: int(row[k]) for k in ("requests", "errors", "count")}
    for k in ("p50", "p95", "p99", "max", "mean"):
        out[k] = float(row[k]) if out["count"] else None
    return out


@dataclass(frozen=True)
class BinMatrix:
    """Successful rows per UTC day counted over a profile's bins, as one matrix: feature
    ``j``'s bins are ``counts[:, offsets[j]:offsets[j + 1]]``, the prediction's the last
    span."""

    days: list[date]
    rows: np.ndarray  # successful rows per day, int64
    counts: np.ndarray  # days × bins of every feature then the prediction, float64
    offsets: np.ndarray


def bin_offsets(profile: Mapping[str, Any]) -> np.ndarray:
    """Where each feature's bins (in profile order), then the prediction's, start in a row
    of all of them; the last entry is the row's width."""
    sizes = [len(spec["proportions"]) for spec in profile["features"].values()]
    sizes.append(len(profile["prediction"]["proportions"]) if "prediction" in profile else 0)
    out: np.ndarray = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return out


def bin_matrix(counts: pd.DataFrame, profile: Mapping[str, Any]) -> BinMatrix:
    """The bin counts of every day with rows (the long form must have been binned against
    this very profile)."""
    specs = profile["features"]
    offsets = bin_offsets(profile)
    sizes = np.diff(offsets)
    width = int(offsets[-1])
    days, m = _per_day(counts, ("rows", "error"))
    if not days:
        return BinMatrix([], np.zeros(0, np.int64), np.zeros((0, width)), offsets)
    measure = _codes(counts["measure"], ("feature", "prediction"))
    keep = measure >= 0
    which = np.where(measure[keep] == 1, len(specs), _codes(counts["key"], list(specs))[keep])
    bucket = counts["bucket"].to_numpy(np.int64)[keep]
    if (which < 0).any() or (bucket >= sizes[which]).any():
        raise ValueError("the profiles were not binned against this reference profile")
    day_index = np.searchsorted(np.array([(d - _EPOCH).days for d in days], dtype=np.int64),
                                seconds_of(counts)[keep] // DAY_S)
    flat = _sums(day_index * width + offsets[which] + bucket,
                 counts["value"].to_numpy(np.int64)[keep], len(days) * width)
    matrix = flat.reshape(len(days), width).astype(np.float64)
    return BinMatrix(days, (m[:, 0] - m[:, 1]).astype(np.int64), matrix, offsets)


def bin_counts(counts: pd.DataFrame, profile: Mapping[str, Any]) -> dict[date, BinCounts]:
    """Per UTC day with rows: the successful rows counted over ``profile``'s bins (the
    long form must have been binned against this very profile)."""
    found = bin_matrix(counts, profile)
    offsets, names = found.offsets, list(profile["features"])
    out: dict[date, BinCounts] = {}
    for i, day in enumerate(found.days):
        row = found.counts[i]
        feats = {name: row[offsets[j]:offsets[j + 1]] for j, name in enumerate(names)}
        out[day] = BinCounts(int(found.rows[i]), feats, row[offsets[-2]:offsets[-1]])
    return out
