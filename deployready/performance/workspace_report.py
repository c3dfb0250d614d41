"""The performance report of a workspace's evidence: the labels joined to the logged
predictions, then :func:`~deployready.performance.api.performance_report`.

:func:`workspace_performance` takes what a reader chooses (version, prediction days,
``now``) and reads the rest: the version defaults as the daily check's
(:func:`~deployready.monitoring.daily.resolve_version_and_date`), the days to every
logged day; predictions without a request id count in their day's predictions
(label coverage) without being joinable.
"""

from __future__ import annotations

from datetime import date, datetime

from deployready.monitoring.daily import resolve_version_and_date
from deployready.performance.api import PerformanceReport, performance_report
from deployready.performance.join import JoinedPredictions, joined_predictions
from deployready.times import as_date, day_bounds
from deployready.workspace import Workspace


def workspace_performance(
    ws: Workspace,
    version: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    now: datetime | None = None,
    *,
    joined: JoinedPredictions | None = None,
) -> PerformanceReport:
    """Performance of ``version`` over the prediction days ``start``..``end`` (both
    included) from the workspace's logs and ``data/labels/`` (``joined``: that join,
    when the caller already made it)."""
    if version is None:
        version = resolve_version_and_date(ws, None, end)[0]
    if joined is None:
        lo = day_bounds(as_date(start))[0] if start is not None else None
        hi = day_bounds(as_date(end))[1] if end is not None else None
        joined = joined_predictions(ws, version, lo, hi)
    unjoinable = {d: int(n) for d, n in joined.no_id.items() if int(n)}
    return performance_report(ws, version, start, end, now, joined=joined.frame,
                              unjoinable=unjoinable)
