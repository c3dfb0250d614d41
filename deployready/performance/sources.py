"""The evidence a performance report reads from a workspace when it is not handed in.

- **Range** (:func:`report_range`): the version and the last day follow the daily
  check's defaults (:func:`deployready.monitoring.daily.resolve_version_and_date`: the
  deployed version, the last logged day before today); the first day defaults to
  :data:`DEFAULT_DAYS` − 1 days before the last (a month, the retrain decision's period).
- **Production feature rows** (:func:`~deployready.performance.week_rows.week_sample`):
  at most ``performance.importance_sample_rows`` successful requests of the week
  (:data:`WEEK` days) ending on the last day, a seeded sample spread over the days in
  proportion to their rows, so a week of any size is explained on a bounded sample. Each
  day's share is drawn from its own seeded order and kept in the cache folder under the
  day's profile revision (:mod:`deployready.performance.week_rows`): after a new day only
  that day's rows are read. Its importances (:func:`week_importance`) are kept there too,
  under the week's days and their profile revisions: a fresh process reads none of the
  week's rows until a day of the week changes (a new day moves the week: explained again).
- **Red-PSI features** (:func:`psi_checks`): one check per feature over the range,
  ``fail`` when its PSI reached ``drift.psi_alert`` on any day (the daily check's rule,
  :func:`deployready.monitoring.drift.status_of`), read from the per-day PSI history
  (:func:`deployready.monitoring.drift_history.drift_history`: kept in ``data/cache/``
  per day, so a new day computes only its own PSI).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from deployready.checks import Category, Check, Evidence, pass_fail
from deployready.errors import InputError
from deployready.monitoring.daily import resolve_version_and_date
from deployready.monitoring.drift import status_of
from deployready.monitoring.drift_history import drift_history
from deployready.monitoring.profiles.reader import ProfileReader
from deployready.performance.importance import (
    TIME_BUDGET_S,
    ImportanceStability,
    importance_stability,
    keep_importance,
    kept_importance,
)
from deployready.performance.week_rows import WEEK, week_sample
from deployready.policy import Policy
from deployready.policy.sections import PerformancePolicy
from deployready.times import as_date
from deployready.workspace import Workspace

__all__ = ["DEFAULT_DAYS", "WEEK", "psi_checks", "report_range", "week_importance",
           "week_sample"]

DEFAULT_DAYS = 30


def report_range(
    ws: Workspace, version: str | None, start: str | date | None, end: str | date | None
) -> tuple[str, date, date]:
    """(version, first day, last day) of a report, with the defaults above."""
    version, last = resolve_version_and_date(ws, version, end)
    first = as_date(start) if start is not None else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InputError(
            f"start {first.isoformat()} is after end {last.isoformat()}",
            location="--start",
            expected=f"a day on or before {last.isoformat()}",
        )
    return version, first, last


def week_importance(
    ws: Workspace, version: str, last: date, package: Any, policy: PerformancePolicy, *,
    seed: int = 0,
) -> ImportanceStability:
    """Importance stability of ``package`` on :func:`week_sample`'s rows of the week ending
    on ``last``, kept under the week's key (:func:`_week_key`): a report that finds it
    reads none of the week's rows; the same numbers as explaining the sample again."""
    reader = ProfileReader.unless_raw(ws)
    key = _week_key(reader, version, last, package, policy, seed)
    kept = kept_importance(package, policy, key, ws.root) if key is not None else None
    if kept is not None:
        return kept
    rows = week_sample(ws, version, last, policy.importance_sample_rows, seed=seed,
                       reader=reader)
    result = importance_stability(package, rows, policy, seed=seed, cache_root=ws.root)
    if key is not None:
        keep_importance(result, key, ws.root)
    return result


def _week_key(reader: ProfileReader | None, version: str, last: date, package: Any,
              policy: PerformancePolicy, seed: int) -> str | None:
    """A hash of what the week's sample is drawn from: the package, the sampling and
    explaining settings, the week's days and each one's revision in the profile store
    (a new one whenever the day's rows change). None when the store cannot answer (no
    ``reader``: a raw engine forced, a file it refuses; a store without revisions):
    nothing is kept then."""
    revisions = reader.store.day_revisions() if reader is not None else None
    if revisions is None:
        return None
    first = last - timedelta(days=WEEK - 1)
    days = sorted((d.isoformat(), r) for d, r in revisions.items() if first <= d <= last)
    text = json.dumps(["week-sample-2", version, package.sha256, list(package.features),
                       last.isoformat(), WEEK, policy.importance_sample_rows, seed,
                       TIME_BUDGET_S, days])
    return hashlib.sha256(text.encode()).hexdigest()


def psi_checks(
    ws: Workspace, version: str, first: date, last: date, policy: Policy
) -> list[Check]:
    """One check per feature: ``fail`` when its PSI was red on a day of the range (the
    per-day PSI history, kept across processes: the numbers ``drift_by_day`` gives)."""
    history = drift_history(ws, version, first, last, policy=policy)
    worst: dict[str, float] = {}
    red: dict[str, list[str]] = {}
    for name, row in zip(history.features, history.psi.tolist(), strict=True):
        for day, value in zip(history.days, row, strict=True):
            if value != value:  # NaN: the feature was not counted that day
                continue
            worst[name] = max(worst.get(name, 0.0), value)
            if status_of(value, policy.drift) == "alert":
                red.setdefault(name, []).append(day.isoformat())
    return [
        Check(name, Category.PERFORMANCE, pass_fail(name not in red), round(psi, 6),
              f"< {policy.drift.psi_alert:g} every day",
              (f"PSI >= {policy.drift.psi_alert:g} on {len(red[name])} day(s) "
               f"(max {psi:.3f})" if name in red else f"max PSI {psi:.3f}"),
              Evidence("production logs vs reference_profile.json",
                       detail={"red_days": red.get(name, [])}))
        for name, psi in sorted(worst.items())
    ]
