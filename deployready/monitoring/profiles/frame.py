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

from deployready.monitoring.drift import count_frame
from deployready.monitoring.logs_schema import REQUEST_ID
from deployready.monitoring.profiles.histogram import buckets_of

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
    out = out[keep].sort_values(list(KEYS), kind="stable")
    return out.reset_index(drop=True)


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
    return (ns.astype(np.int64) // 3_600_000_000_000) * 3600


def _micros(ts: pd.Series) -> np.ndarray:
    ns = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]")
    return ns.astype(np.int64) // 1000


def _rows(version: str, sha: str, hour: int, measure: str, key: str,
          buckets: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "version": [version] * n, "package_sha256": [sha] * n, "hour": [hour] * n,
        "measure": [measure] * n, "key": [key] * n,
        "bucket": np.asarray(buckets, dtype=np.int64), "value": np.asarray(values, np.int64),
    })


def _counted(version: str, sha: str, hour: int, measure: str, key: str,
             counts: np.ndarray) -> pd.DataFrame:
    counts = np.asarray(counts, dtype=np.int64)
    nz = np.flatnonzero(counts)
    return _rows(version, sha, hour, measure, key, nz, counts[nz])


def _one_hour(
    version: str, layout: Layout | None, hour: int, rows: pd.DataFrame
) -> list[pd.DataFrame]:
    sha = layout.package_sha256 if layout is not None else ""
    one = np.zeros(1, dtype=np.int64)
    error = rows["error"].astype(str)
    ok = rows[(error == "").to_numpy()]
    micros = _micros(rows["timestamp"])
    parts = [
        _rows(version, sha, hour, "rows", "", one, np.array([len(rows)])),
        _rows(version, sha, hour, "first_us", "", one, np.array([micros.min()])),
        _rows(version, sha, hour, "last_us", "", one, np.array([micros.max()])),
    ]
    kinds = error[error != ""].value_counts()
    for kind, count in kinds.items():
        parts.append(_rows(version, sha, hour, "error", str(kind), one, np.array([count])))
    if REQUEST_ID in ok.columns:
        ids = int(ok[REQUEST_ID].notna().sum())
        parts.append(_rows(version, sha, hour, "with_id", "", one, np.array([ids])))
    latency = ok["latency_ms"].to_numpy(dtype=np.float64)
    buckets, counts = np.unique(buckets_of(latency), return_counts=True)
    parts.append(_rows(version, sha, hour, "latency", "", buckets, counts))
    micros_sum = int(np.floor(latency * 1000.0).astype(np.int64).sum())
    parts.append(_rows(version, sha, hour, "latency_sum_us", "", one, np.array([micros_sum])))
    if layout is not None:
        feats, pred = count_frame(layout.profile, ok, ok["prediction"].to_numpy(np.float64))
        if "prediction" in layout.profile:
            parts.append(_counted(version, sha, hour, "prediction", "", pred))
        for name, counts_ in feats.items():
            parts.append(_counted(version, sha, hour, "feature", name, counts_))
    return parts


def profile_rows(frame: pd.DataFrame, layouts: Mapping[str, Layout]) -> pd.DataFrame:
    """The long form of validated log rows (:func:`~deployready.monitoring.logs.read_log_file`
    columns); versions without a layout get no bin counts."""
    if frame.empty:
        return empty_profile()
    hours = _hours(frame["timestamp"])
    parts: list[pd.DataFrame] = []
    versions = frame["version"].astype(str).to_numpy()
    for (version, hour), index in frame.groupby([versions, hours], sort=True).indices.items():
        rows = frame.iloc[index]
        parts.extend(_one_hour(str(version), layouts.get(str(version)), int(hour), rows))
    return normalized(pd.concat(parts, ignore_index=True))
