"""Production performance of a version, in one call: :func:`performance_report`.

Realized performance per day, the CBPE estimate per day, the estimate's measured error
on the days that do have a realized figure, importance stability (when production
feature rows are given) and the retrain recommendation. Every verdict is a
:class:`~deployready.checks.Check` in ``checks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from deployready.checks import Check, Status
from deployready.errors import InputError
from deployready.package.calibration import read_calibration
from deployready.package.load import load_package
from deployready.performance.estimated import (
    Calibrator,
    EstimatedDay,
    estimated_performance,
    fit_calibrator,
)
from deployready.performance.frame import check_joined
from deployready.performance.importance import ImportanceStability, importance_stability
from deployready.performance.realized import RealizedDay, realized_performance
from deployready.performance.retrain import (
    RetrainDecision,
    new_labels_since,
    retrain_decision,
    training_cutoff,
)
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
    frame: pd.DataFrame, start: str | date | None, end: str | date | None
) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= frame["day"].to_numpy() >= as_date(start)
    if end is not None:
        keep &= frame["day"].to_numpy() <= as_date(end)
    return frame[keep]


def performance_report(
    ws: Workspace,
    version: str,
    start: str | date | None = None,
    end: str | date | None = None,
    now: datetime | None = None,
    *,
    joined: Any = None,
    unjoinable: Mapping[date, int] | None = None,
    feature_rows: pd.DataFrame | None = None,
    drift_checks: Iterable[Check] = (),
) -> PerformanceReport:
    """Production performance of ``version`` over the prediction days ``start``..``end``.

    ``joined`` is the joined frame (or an object with ``.frame`` and, optionally,
    ``.unjoinable``: the result of the labels join). ``now``
    (default: the current time) decides which days are still provisional.
    ``feature_rows`` (a week's production rows) adds importance stability;
    ``drift_checks`` (the feature PSI checks) feed the retrain decision.
    """
    now = now or datetime.now(UTC)
    if joined is None:
        raise InputError(
            "no joined predictions given",
            location="joined",
            expected="the joined frame (request_id, timestamp, day, prediction, label, "
            "labeled_at) or an object with it as .frame",
        )
    frame = joined if isinstance(joined, pd.DataFrame) else joined.frame
    if unjoinable is None and not isinstance(joined, pd.DataFrame):
        unjoinable = getattr(joined, "unjoinable", None)
    check_joined(frame)
    frame = _in_range(frame, start, end)
    policy = ws.policy()
    rules, perf = policy.certification.metrics, policy.performance
    package = load_package(ws.package_path(version))
    calibrator = fit_calibrator(read_calibration(package.path), perf)
    realized = realized_performance(frame, rules, perf, now, _in_days(unjoinable, start, end))
    estimated = estimated_performance(frame, calibrator, rules)
    importance = (
        importance_stability(package, feature_rows, perf) if feature_rows is not None else None
    )
    importance_checks = importance.checks if importance is not None else []
    new = new_labels_since(frame, training_cutoff(package.metadata))
    decision = retrain_decision(realized, estimated, drift_checks, importance_checks, new, perf)
    checks = [c for d in realized for c in d.checks] + [c for d in estimated for c in d.checks]
    return PerformanceReport(
        version, package.sha256, now, realized, estimated, calibrator,
        estimate_error(realized, estimated), importance, decision, checks + importance_checks,
    )


def _in_days(
    counts: Mapping[date, int] | None, start: str | date | None, end: str | date | None
) -> dict[date, int]:
    lo = as_date(start) if start is not None else date.min
    hi = as_date(end) if end is not None else date.max
    return {d: n for d, n in (counts or {}).items() if lo <= d <= hi}


def failing(report: PerformanceReport) -> list[Check]:
    """The checks of a report that fail (realized performance or importance)."""
    return [c for c in report.checks if c.status is Status.FAIL]
