"""Production performance of a version, in one call: :func:`performance_report`.

Realized performance per day, the CBPE estimate per day, the estimate's measured error
on the days that do have a realized figure, importance stability on the last week's
production rows and the retrain recommendation, all read from the workspace (the
labels joined to the logs) unless handed in. Every verdict is a
:class:`~deployready.checks.Check` in ``checks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from deployready.checks import Check, Status
from deployready.monitoring.logs import day_bounds
from deployready.package.calibration import read_calibration
from deployready.package.load import load_package
from deployready.performance.estimated import (
    Calibrator,
    EstimatedDay,
    estimated_performance,
    fit_calibrator,
)
from deployready.performance.frame import (
    JoinedDays,
    check_joined,
    day_groups,
    joined_days,
    labels_known_by,
)
from deployready.performance.importance import ImportanceStability, importance_stability
from deployready.performance.join import joined_predictions
from deployready.performance.realized import RealizedDay, realized_performance
from deployready.performance.retrain import (
    RetrainDecision,
    new_labels_since,
    retrain_decision,
    training_cutoff,
)
from deployready.performance.sources import psi_checks, report_range, week_importance
from deployready.times import as_date
from deployready.workspace import Workspace


@dataclass(frozen=True)
class PerformanceReport:
    version: str
    package_sha256: str
    now: datetime
    realized: list[RealizedDay]
    estimated: list[EstimatedDay]
    calibration: Calibrator
    #: metric → mean |estimate − realized| over the days with both (None: no such day)
    estimate_error: dict[str, float | None]
    importance: ImportanceStability | None
    retrain: RetrainDecision
    checks: list[Check] = field(default_factory=list)
    start: date | None = None  # the first prediction day looked at
    end: date | None = None  # the last one

    def as_dict(self) -> dict[str, Any]:
        """Every record of the report, JSON-ready (dates as ISO text, statuses as words)."""
        cal = self.calibration
        data: dict[str, Any] = jsonable({
            "version": self.version, "package_sha256": self.package_sha256,
            "now": self.now.isoformat(), "start": self.start, "end": self.end,
            "realized": [asdict(d) for d in self.realized],
            "estimated": [asdict(d) for d in self.estimated],
            "calibration": {"rows": cal.rows, "error": cal.error, "reliable": cal.reliable,
                            "reason": cal.reason},
            "estimate_error": self.estimate_error,
            "importance": asdict(self.importance) if self.importance else None,
            "retrain": asdict(self.retrain),
            "checks": [c.as_dict() for c in self.checks],
        })
        return data


def jsonable(value: Any) -> Any:
    """Dates and times as ISO text, enums as their words, numpy numbers as Python ones,
    NaN as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def estimate_error(
    realized: Iterable[RealizedDay], estimated: Iterable[EstimatedDay]
) -> dict[str, float | None]:
    """Mean absolute error of each metric's estimate against the realized figure, over
    the days that have both (a realized day judged, i.e. not pending; a reliable estimate)."""
    by_day = {e.day: e for e in estimated}
    errors: dict[str, list[float]] = {}
    for day in realized:
        est = by_day.get(day.day)
        for name, fig in day.metrics.items():
            errors.setdefault(name, [])
            guess = est.values.get(name) if est is not None else None
            if fig.value is not None and guess is not None:
                errors[name].append(abs(guess - fig.value))
    return {n: (float(np.mean(v)) if v else None) for n, v in errors.items()}


def _in_range(
    days: JoinedDays, start: str | date | None, end: str | date | None
) -> JoinedDays:
    """The rows of the days ``start``..``end`` (None: open), in frame order — ``days``
    itself when every row is in."""
    lo = as_date(start) if start is not None else date.min
    hi = as_date(end) if end is not None else date.max
    positions = np.arange(len(days.frame))
    kept = [positions[rows] for day, rows in days.rows.items() if lo <= day <= hi]
    if sum(len(k) for k in kept) == len(days.frame):
        return days
    frame = days.frame.iloc[np.sort(np.concatenate(kept)) if kept else positions[:0]]
    return JoinedDays(frame, day_groups(frame))


def performance_report(
    ws: Workspace,
    version: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    now: datetime | None = None,
    *,
    joined: Any = None,
    unjoinable: Mapping[date, int] | None = None,
    feature_rows: pd.DataFrame | None = None,
    drift_checks: Iterable[Check] | None = None,
) -> PerformanceReport:
    """Production performance of ``version`` over the prediction days ``start``..``end``
    (both included; defaults in :mod:`deployready.performance.sources`: the daily check's
    version and last day, the 30 days ending there).

    Read from the workspace unless given: ``joined`` (the labels joined to the logged
    predictions, :func:`~deployready.performance.join.joined_predictions`; or a joined
    frame, or an object with it as ``.frame`` and the unjoinable counts as ``.no_id``),
    ``feature_rows`` (a bounded sample of the last week's production rows: importance
    stability) and ``drift_checks`` (the features' red PSI over the range: the retrain
    decision). ``now`` (default: the current time) decides which days are provisional;
    given, the report is as of then: only labels with ``labeled_at <= now`` count
    (:func:`~deployready.performance.frame.labels_known_by`), whichever engine joined them.
    """
    as_of, now = now, now or datetime.now(UTC)
    if joined is not None:  # the range defaults to the days of the predictions given
        given = joined if isinstance(joined, pd.DataFrame) else joined.frame
        check_joined(given)
        if len(given) and end is None:
            end = max(given["day"])
        if len(given) and start is None:
            start = min(given["day"])
    version, first, last = report_range(ws, version, start, end)
    policy = ws.policy()
    rules, perf = policy.certification.metrics, policy.performance
    if joined is None:
        joined = joined_predictions(ws, version, *_bounds(first, last))
    frame = labels_known_by(joined if isinstance(joined, pd.DataFrame) else joined.frame, as_of)
    if unjoinable is None and not isinstance(joined, pd.DataFrame):
        unjoinable = _counts(getattr(joined, "no_id", None))
    days = _in_range(joined_days(frame), first, last)  # checked and grouped once
    if drift_checks is None:
        drift_checks = psi_checks(ws, version, first, last, policy)
    package = load_package(ws.package_path(version), policy.signing, ws.root)
    calibrator = fit_calibrator(read_calibration(package.path), perf)
    realized = realized_performance(days, rules, perf, now, _in_days(unjoinable, first, last))
    estimated = estimated_performance(days, calibrator, rules)
    importance = (week_importance(ws, version, last, package, perf) if feature_rows is None
                  else importance_stability(package, feature_rows, perf, cache_root=ws.root))
    new = new_labels_since(days.frame, training_cutoff(package.metadata))
    decision = retrain_decision(realized, estimated, drift_checks, importance.checks, new, perf)
    checks = [c for d in realized for c in d.checks] + [c for d in estimated for c in d.checks]
    return PerformanceReport(
        version, package.sha256, now, realized, estimated, calibrator,
        estimate_error(realized, estimated), importance, decision, checks + importance.checks,
        first, last,
    )


def _bounds(first: date, last: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    return day_bounds(first)[0], day_bounds(last)[1]


def _counts(no_id: Any) -> dict[date, int] | None:
    if no_id is None:
        return None
    return {d: int(n) for d, n in dict(no_id).items() if int(n)}


def _in_days(
    counts: Mapping[date, int] | None, start: str | date | None, end: str | date | None
) -> dict[date, int]:
    lo = as_date(start) if start is not None else date.min
    hi = as_date(end) if end is not None else date.max
    return {d: n for d, n in (counts or {}).items() if lo <= d <= hi}


def failing(report: PerformanceReport) -> list[Check]:
    """The checks of a report that fail (realized performance or importance)."""
    return [c for c in report.checks if c.status is Status.FAIL]
