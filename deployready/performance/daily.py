"""The daily check with production performance: its two performance items.

:func:`run_daily` and :func:`run_daily_range` are the daily check of
:mod:`deployready.monitoring.daily` plus, for each day with log rows, two items of the
prediction day as known at ``now`` (labels arrive later: re-running a day brings its
realized figure up to date, replacing the record; a ``now`` given counts only the labels
with ``labeled_at <= now``, :func:`~deployready.performance.frame.labels_known_by`):

- ``realized_performance``: the day's :class:`~deployready.performance.realized.
  RealizedDay` — ``pending`` while too few labels have come (the finding says how many
  more), else ``fail`` when any certification metric is below its threshold, else
  ``pass``; "provisional until …" while the label window is open. Value: the number of
  metrics below threshold (None while pending).
- ``estimated_performance``: the day's CBPE estimate — ``warn`` when an estimated metric
  is below its threshold, ``pending`` when the estimate is unreliable (the finding says
  why, also when the package's calibration file cannot be read), else ``pass``. Value:
  the number of metrics estimated below threshold.

**Green days.** A realized failure makes the day red (``alert``) and raises a critical
``performance`` alert; a pending or provisional figure does not make a day red; an
estimate below threshold raises a ``warning`` alert and leaves the day green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from deployready.checks import Category, Check, Evidence, Status
from deployready.errors import PackageError
from deployready.monitoring import daily as monitoring
from deployready.monitoring.daily_store import DailyRecord
from deployready.monitoring.logs import ProductionLogs, day_bounds
from deployready.package.calibration import read_calibration
from deployready.performance.estimated import (
    Calibrator,
    EstimatedDay,
    estimated_day,
    fit_calibrator,
)
from deployready.performance.frame import labels_known_by
from deployready.performance.join import JoinedPredictions, joined_predictions
from deployready.performance.realized import RealizedDay, realized_day
from deployready.policy import Policy
from deployready.times import as_date
from deployready.workspace import Workspace

SOURCE = "production log + data/labels (joined on request_id)"


def _figures(metrics: Mapping[str, Any], confidence: float) -> str:
    parts = []
    for name, fig in metrics.items():
        ci = "" if fig.low is None else f" [{fig.low:.3f}, {fig.high:.3f}]"
        mark = "" if fig.status is Status.PASS else " (below)"
        parts.append(f"{name} {fig.value:.3f}{ci}{mark}")
    return f"{'; '.join(parts)} ({confidence:.0%} CI)"


def realized_item(day: RealizedDay, policy: Policy) -> Check:
    """The day's realized performance as one daily item (see the module doc)."""
    below = [m.name for m in day.metrics.values() if m.status is Status.FAIL]
    if day.status is Status.PENDING:
        message = f"Pending: {day.finding}."
    else:
        message = (f"{_figures(day.metrics, policy.performance.confidence)} on "
                   f"{day.counts.labelled} labelled of {day.counts.predictions} predictions "
                   f"({day.counts.coverage:.0%})"
                   + (f"; provisional until {day.final_on.isoformat()}" if day.provisional
                      else "") + ".")
    detail: dict[str, Any] = {c.name: c.as_dict(("status", "value", "threshold"))
                              for c in day.checks}
    detail.update(labelled=day.counts.labelled, predictions=day.counts.predictions,
                  provisional=day.provisional, labels_needed=day.needed)
    return Check("realized_performance", Category.DAILY, day.status,
                 None if day.status is Status.PENDING else len(below),
                 "no certification metric below threshold", message,
                 Evidence(SOURCE, detail=detail))


def estimated_item(day: EstimatedDay, calibrator: Calibrator) -> Check:
    """The day's CBPE estimate as one daily item (see the module doc)."""
    warned = [c for c in day.checks if c.status is Status.WARN]
    if day.status is Status.PENDING:
        message = f"No estimate: {calibrator.reason or 'no predictions'}."
        value = None
    else:
        shown = "; ".join(f"{c.name.removeprefix('estimated_')} {c.value:.3f}"
                          + ("" if c.status is Status.PASS else " (below)")
                          for c in day.checks if isinstance(c.value, float))
        message = f"Estimated before labels (CBPE) on {day.predictions} predictions: {shown}."
        value = len(warned)
    return Check("estimated_performance", Category.DAILY, day.status, value,
                 "no certification metric estimated below threshold", message,
                 Evidence("production log + calibration.parquet",
                          detail={c.name: c.value for c in day.checks}))


class DailyPerformance:
    """The performance items of the days ``first``..``last`` of a version: the labels
    joined once, the calibrator fitted once."""

    def __init__(self, ws: Workspace, version: str, first: date | None, last: date | None,
                 policy: Policy, now: datetime | None = None) -> None:
        self.policy = policy
        self.now = now or datetime.now(UTC)
        self.version = version
        self.joined: JoinedPredictions = joined_predictions(
            ws, version, day_bounds(first)[0] if first else None,
            day_bounds(last)[1] if last else None)
        frame = labels_known_by(self.joined.frame, now)  # given: as of then
        self.groups = dict(iter(frame.groupby("day", sort=False)))
        self.no_id = {d: int(n) for d, n in dict(self.joined.no_id).items()}
        try:
            holdout = read_calibration(ws.package_path(version))
        except PackageError as exc:  # the estimate says why it has no number
            self.calibrator = Calibrator(None, 0, None, False, f"estimate unavailable: {exc}")
        else:
            self.calibrator = fit_calibrator(holdout, policy.performance)

    def __call__(self, version: str, day: date) -> Sequence[Check]:
        if version != self.version:
            return []
        rows = self.groups.get(day, self.joined.frame.iloc[0:0])
        rules, perf = self.policy.certification.metrics, self.policy.performance
        realized = realized_day(day, rows, self.no_id.get(day, 0), rules, perf, self.now)
        estimated = estimated_day(day, rows["prediction"].to_numpy("float64"), self.calibrator,
                                  rules)
        return [realized_item(realized, self.policy), estimated_item(estimated, self.calibrator)]


def run_daily(
    ws: Workspace,
    version: str | None = None,
    date: str | date | None = None,
    *,
    policy: Policy | None = None,
    logs: ProductionLogs | None = None,
    deliver: bool = True,
    backoff_s: float = 0.5,
    now: datetime | None = None,
) -> DailyRecord:
    """Run, store and alert the daily check of one day, performance items included
    (defaults: :func:`deployready.monitoring.daily.resolve_version_and_date`)."""
    policy = policy or ws.policy()
    version, day = monitoring.resolve_version_and_date(ws, version, date, logs)
    items = DailyPerformance(ws, version, day, day, policy, now)
    return monitoring.run_daily(ws, version, day, policy=policy, logs=logs, deliver=deliver,
                                backoff_s=backoff_s, extra=items)


def run_daily_range(
    ws: Workspace,
    start: str | date | None = None,
    end: str | date | None = None,
    version: str | None = None,
    *,
    policy: Policy | None = None,
    skip_empty: bool = True,
    deliver: bool = True,
    backoff_s: float = 0.5,
    now: datetime | None = None,
) -> list[DailyRecord]:
    """Backfill the daily check of every day in [start, end], performance included."""
    policy = policy or ws.policy()
    version, _ = monitoring.resolve_version_and_date(ws, version, end, None)
    items = DailyPerformance(ws, version, as_date(start) if start is not None else None,
                             as_date(end) if end is not None else None, policy, now)
    return monitoring.run_daily_range(ws, start, end, version, policy=policy,
                                      skip_empty=skip_empty, deliver=deliver,
                                      backoff_s=backoff_s, extra=items)
