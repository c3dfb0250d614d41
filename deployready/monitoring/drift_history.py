"""The PSI history of a version: every logged day × every feature at once.

:func:`drift_history` answers what :func:`~deployready.monitoring.daily.drift_by_day`
answers — the PSI of every feature and of the prediction on every UTC day with successful
rows, against the package's reference profile — as arrays (:class:`DriftHistory`). The
bin counts of all days are one matrix per feature, and the PSI of every (day, feature)
comes from :func:`~deployready.monitoring.drift.psi_of_counts` over it: the definition of
:func:`~deployready.monitoring.drift.psi` (both proportions floored at epsilon, not
renormalized), the same numbers as :func:`~deployready.monitoring.drift.feature_drift`.
A cell's status is :func:`~deployready.monitoring.drift.status_of`'s, never re-decided.

**Where the counts come from.** When the workspace's profile store answers for the
version (all its rows binned against this very package), each day's numbers are kept in
``data/cache/`` (:mod:`.drift_cache`) under the store's revision of the day, the package
hash and the ``[drift]`` policy: a fresh process reads them instead of a year of counts,
and only a new or re-profiled day is fetched (its rows of ``profile_days`` alone) and
computed again. When the store cannot answer (rows binned against another package, a raw
log engine forced) the history is computed from the raw bin counts, without the cache.

The kept numbers are a view, never evidence: the daily check and the checks compute PSI
from counts, and one day's detail (:func:`drift_of_day`) is always computed exactly from
that day's counts (:func:`~deployready.monitoring.drift.drift_from_counts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from deployready.monitoring.daily import read_profile
from deployready.monitoring.drift import (
    DriftResult,
    DriftStatus,
    bin_labels,
    drift_from_counts,
    psi_of_counts,
    status_of,
)
from deployready.monitoring.drift_cache import (
    DayNumbers,
    cache_file,
    cache_key,
    read_cache,
    write_cache,
)
from deployready.monitoring.logs import ProductionLogs
from deployready.monitoring.logs_schema import BinCounts, features_of
from deployready.monitoring.profiles.aggregates import (
    BinMatrix,
    bin_counts,
    bin_matrix,
    bin_offsets,
)
from deployready.monitoring.profiles.reader import ProfileReader
from deployready.monitoring.profiles.store import ProfileStore
from deployready.policy import DriftPolicy, Policy
from deployready.times import as_date, day_bounds
from deployready.workspace import Workspace

__all__ = ["DriftHistory", "drift_history", "drift_of_day"]

_EPOCH = date(1970, 1, 1)
#: the measures a day's drift is counted from
_MEASURES = ("rows", "error", "feature", "prediction")
#: more days than this to compute again: all of them are read (one range, no long list)
_MAX_ASKED = 512


@dataclass(frozen=True)
class DriftHistory:
    """PSI per (feature, day) and of the prediction per day, of the days with rows."""

    days: list[date]
    features: list[str]
    #: features × days; NaN where the day has no counted row of the feature
    psi: np.ndarray
    #: successful rows per day
    rows: np.ndarray
    #: per day; NaN where no prediction was counted
    prediction_psi: np.ndarray
    #: days × prediction bins: each day's share of predictions per bin
    prediction_current: np.ndarray
    prediction_bins: list[str]
    prediction_reference: list[float]
    policy: DriftPolicy

    def value(self, feature: str, day: date) -> float | None:
        """The PSI of ``feature`` on ``day`` (None: no rows)."""
        v = float(self.psi[self.features.index(feature), self.days.index(day)])
        return None if v != v else v

    def status(self, feature: str, day: date) -> DriftStatus:
        return status_of(self.value(feature, day), self.policy)

    def matrix(self) -> list[list[float | None]]:
        """The cells of a heatmap: a row per feature, a column per day (None: no rows)."""
        return [[None if v != v else v for v in row] for row in self.psi.tolist()]

    def prediction_values(self) -> list[float | None]:
        """The prediction's PSI per day (None: none counted)."""
        return [None if v != v else v for v in self.prediction_psi.tolist()]

    @property
    def has_prediction(self) -> bool:
        return bool(self.prediction_bins)


# --------------------------------------------------------------------------- computing


def _epoch_days(days: list[date]) -> np.ndarray:
    return np.array([(d - _EPOCH).days for d in days], dtype=np.int64)


def _computed(profile: Mapping[str, Any], found: BinMatrix, epsilon: float,
              counted: np.ndarray | None = None) -> DayNumbers:
    """The numbers of every day of ``found``; ``counted`` (days × features): False where
    a feature was not counted that day."""
    specs = profile["features"]
    off = found.offsets
    psi = np.full((len(found.days), len(specs)), np.nan)
    for j, spec in enumerate(specs.values()):  # a loop over features, each over all days
        block = found.counts[:, off[j]:off[j + 1]]
        psi[:, j] = psi_of_counts(spec["proportions"], block, epsilon)[0]
    if counted is not None:
        psi[~counted] = np.nan
    pred = profile.get("prediction")
    pred_psi, shares = psi_of_counts(pred["proportions"] if pred else [],
                                     found.counts[:, off[-2]:off[-1]], epsilon)
    return DayNumbers(_epoch_days(found.days), np.full(len(found.days), "", dtype="<U32"),
                      found.rows, psi, pred_psi, shares)


def _stacked(profile: Mapping[str, Any], bins: Mapping[date, BinCounts]
             ) -> tuple[BinMatrix, np.ndarray]:
    """Bin counts per day (a raw engine's answer) as one matrix, and which features were
    counted on each day (a raw engine leaves out a column a file does not have)."""
    names = list(profile["features"])
    off = bin_offsets(profile)
    days = sorted(d for d, b in bins.items() if b.rows)
    counts = np.zeros((len(days), int(off[-1])))
    counted = np.zeros((len(days), len(names)), dtype=bool)
    for i, day in enumerate(days):  # gathering only: the PSI is computed per feature
        found = bins[day]
        for j, name in enumerate(names):
            if name in found.features:
                counts[i, off[j]:off[j + 1]] = found.features[name]
                counted[i, j] = True
        if len(found.prediction):
            counts[i, off[-2]:off[-1]] = found.prediction
    rows = np.array([bins[d].rows for d in days], dtype=np.int64)
    return BinMatrix(days, rows, counts, off), counted


def _matches(days: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``other``: its position in ``days`` (ascending), and whether it is there."""
    if not days.size:
        return np.zeros(other.size, dtype=np.int64), np.zeros(other.size, dtype=bool)
    at = np.minimum(np.searchsorted(days, other), days.size - 1)
    return at, days[at] == other


def _assembled(days: np.ndarray, revisions: np.ndarray, parts: list[DayNumbers],
               features: int, bins: int) -> DayNumbers:
    """One row per day of ``days``: from the first part that has it, else no rows."""
    out = DayNumbers(days, revisions, np.zeros(days.size, dtype=np.int64),
                     np.full((days.size, features), np.nan), np.full(days.size, np.nan),
                     np.zeros((days.size, bins)))
    filled = np.zeros(days.size, dtype=bool)
    for part in parts:
        at, there = _matches(days, part.days)
        use = there.copy()
        use[there] = ~filled[at[there]]
        for name in ("rows", "psi", "prediction_psi", "prediction_shares"):
            getattr(out, name)[at[use]] = getattr(part, name)[use]
        filled[at[use]] = True
    return out


# --------------------------------------------------------------------------- sources


def _store_package(reader: ProfileReader | None, version: str,
                   profile: Mapping[str, Any]) -> str | None:
    """The package hash every stored row of ``version`` was binned against, when it is
    the package of ``profile``; None when the store cannot answer for it."""
    layout = reader.layouts.get(version) if reader is not None else None
    if reader is None or layout is None or dict(layout.profile) != dict(profile):
        return None
    sha = layout.package_sha256
    sources = reader.store.sources().values()
    return sha if all(s.layouts.get(version, sha) == sha for s in sources) else None


def _logs(ws: Workspace, profile: Mapping[str, Any], version: str,
          reader: ProfileReader | None) -> ProductionLogs:
    return ProductionLogs(ws.production_dir, features_of(profile), "auto", None, version,
                          reader)


def _day_counts(store: ProfileStore, profile: Mapping[str, Any], version: str, sha: str,
                days: list[date] | None) -> BinMatrix:
    counts = store.counts(version, measures=_MEASURES, grain="day", package_sha256=sha,
                          days=days)
    return bin_matrix(counts, profile)


def _kept(ws: Workspace, version: str, profile: Mapping[str, Any], sha: str,
          drift: DriftPolicy, store: ProfileStore) -> DayNumbers | None:
    """Every profiled day's numbers: those kept under the day's current revision, the
    others computed (and kept). None when the store has no revisions to key on."""
    # the revisions are read before any count: a day re-profiled meanwhile is kept under
    # its older revision, so computed again next time (never new numbers under an old one)
    revisions = store.day_revisions()
    if revisions is None:
        return None
    ordered = sorted(revisions)
    days = _epoch_days(ordered)
    wanted = np.array([revisions[d] for d in ordered], dtype="<U32")
    pred = profile.get("prediction")
    width = len(pred["proportions"]) if pred else 0
    key = cache_key(version, sha, drift, list(profile["features"]), width)
    target = cache_file(ws.data_dir, version)
    kept = read_cache(target, key)
    if kept is not None:
        at, same = _matches(days, kept.days)
        same[same] = wanted[at[same]] == kept.revisions[same]
        kept = kept.take(same)
    have = set(kept.days.tolist()) if kept is not None else set()
    stale = [d for d, n in zip(ordered, days.tolist(), strict=True) if n not in have]
    parts = [kept] if kept is not None else []
    if stale:
        asked = stale if have and len(stale) <= _MAX_ASKED else None  # else: every day
        parts.append(_computed(profile, _day_counts(store, profile, version, sha, asked),
                               drift.epsilon))
    out = _assembled(days, wanted, parts, len(profile["features"]), width)
    if stale or kept is None:
        write_cache(target, key, out)
    return out


# --------------------------------------------------------------------------- answers


def drift_history(
    ws: Workspace,
    version: str,
    start: str | date | None = None,
    end: str | date | None = None,
    *,
    policy: Policy | None = None,
) -> DriftHistory:
    """PSI of every logged day in [start, end] (see the module): what ``drift_by_day``
    gives, as arrays."""
    policy = policy or ws.policy()
    profile = read_profile(ws, version)
    reader = ProfileReader.unless_raw(ws)
    sha = _store_package(reader, version, profile)
    numbers = (_kept(ws, version, profile, sha, policy.drift, reader.store)
               if sha is not None and reader is not None else None)
    if numbers is None:
        logs = _logs(ws, profile, version, reader)
        try:
            lo = day_bounds(as_date(start))[0] if start is not None else None
            hi = day_bounds(as_date(end))[1] if end is not None else None
            found, counted = _stacked(profile, logs.bin_counts(profile, version, lo, hi))
        finally:
            logs.close()
        numbers = _computed(profile, found, policy.drift.epsilon, counted)
    return _history(profile, numbers, policy.drift, start, end)


def _history(profile: Mapping[str, Any], numbers: DayNumbers, drift: DriftPolicy,
             start: str | date | None, end: str | date | None) -> DriftHistory:
    keep = numbers.rows > 0
    if start is not None:
        keep &= numbers.days >= (as_date(start) - _EPOCH).days
    if end is not None:
        keep &= numbers.days <= (as_date(end) - _EPOCH).days
    chosen = numbers.take(keep)
    pred = profile.get("prediction")
    return DriftHistory(
        days=[_EPOCH + timedelta(days=int(d)) for d in chosen.days],
        features=list(profile["features"]),
        psi=np.ascontiguousarray(chosen.psi.T),
        rows=chosen.rows,
        prediction_psi=chosen.prediction_psi,
        prediction_current=chosen.prediction_shares,
        prediction_bins=bin_labels(pred) if pred else [],
        prediction_reference=[float(p) for p in pred["proportions"]] if pred else [],
        policy=drift,
    )


def drift_of_day(
    ws: Workspace, version: str, day: str | date, *, policy: Policy | None = None
) -> DriftResult | None:
    """The exact drift of one UTC day from its counts (``drift_by_day(ws, version, day,
    day)``'s), only that day's counts read; None when the day has no successful rows."""
    policy = policy or ws.policy()
    profile = read_profile(ws, version)
    the_day = as_date(day)
    reader = ProfileReader.unless_raw(ws)
    sha = _store_package(reader, version, profile)
    if sha is not None and reader is not None:
        counts = reader.store.counts(version, measures=_MEASURES, grain="day",
                                     package_sha256=sha, days=[the_day])
        found = bin_counts(counts, profile).get(the_day)
    else:
        logs = _logs(ws, profile, version, reader)
        try:
            found = logs.bin_counts(profile, version, *day_bounds(the_day)).get(the_day)
        finally:
            logs.close()
    if found is None or not found.rows:
        return None
    return drift_from_counts(profile, found.features, found.prediction, found.rows,
                             policy.drift)
