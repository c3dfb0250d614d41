"""The production-performance figures a review period is signed off against.

The figures cover the :data:`SPAN` days (7 for a week, 30 for a month) of prediction
days ending on the period's last day — or yesterday, while the period is running — so
a review signed on a Monday still sees the week it reviews.

- **weekly**: per certification metric the mean realized value over the judged days and the mean
  CBPE estimate over every day, the days that failed, were pending or are still
  provisional, the estimate's mean error, and importance stability (Spearman ρ, top-k
  overlap) on the week's production sample;
- **monthly**: the retrain decision over the month, with its reasons and signals.

Computed by :func:`deployready.performance.api.performance_report` from the labels and
logs as they are when asked. A workspace that cannot answer (no logs, a bad label file)
gives ``{"error": ...}`` naming the problem instead of figures.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from deployready.checks import Status
from deployready.errors import DeployReadyError
from deployready.performance.api import PerformanceReport, estimate_error, performance_report
from deployready.workspace import Workspace

SPAN = {"weekly": 7, "monthly": 30}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def weekly_figures(report: PerformanceReport) -> dict[str, Any]:
    """The week's figures (see the module doc): the last 7 days of ``report``."""
    if report.end is not None:
        first = report.end - timedelta(days=SPAN["weekly"] - 1)
        realized = [d for d in report.realized if d.day >= first]
        estimated = [e for e in report.estimated if e.day >= first]
        report = replace(report, realized=realized, estimated=estimated, start=first,
                         estimate_error=estimate_error(realized, estimated))
    judged = [d for d in report.realized if d.status is not Status.PENDING]
    names = list(report.estimate_error)
    metrics = {
        name: {
            "realized": _mean([f.value for d in judged
                               if (f := d.metrics.get(name)) is not None and f.value is not None]),
            "estimated": _mean([v for e in report.estimated
                                if (v := e.values.get(name)) is not None]),
            "estimate_error": report.estimate_error.get(name),
        }
        for name in names
    }
    imp = report.importance
    return {
        "start": report.start.isoformat() if report.start else None,
        "end": report.end.isoformat() if report.end else None,
        "metrics": metrics,
        "failed_days": [d.day.isoformat() for d in report.realized if d.status is Status.FAIL],
        "pending_days": [d.day.isoformat() for d in report.realized
                         if d.status is Status.PENDING],
        "provisional_days": [d.day.isoformat() for d in report.realized if d.provisional],
        "estimate_warn_days": [e.day.isoformat() for e in report.estimated
                               if e.status is Status.WARN],
        "labelled": sum(d.counts.labelled for d in report.realized),
        "predictions": sum(d.counts.predictions for d in report.realized),
        "importance": None if imp is None else {
            "rank_correlation": imp.rank_correlation, "top_k_overlap": imp.top_k_overlap,
            "rows_explained": imp.rows_explained,
            "status": [str(c.status) for c in imp.checks],
        },
    }


def monthly_figures(report: PerformanceReport) -> dict[str, Any]:
    """The month's retrain decision from its performance report."""
    r = report.retrain
    return {
        "start": report.start.isoformat() if report.start else None,
        "end": report.end.isoformat() if report.end else None,
        "recommendation": r.recommendation,
        "reasons": list(r.reasons),
        "signals": dict(r.signals),
    }


def month_report(
    ws: Workspace, end: date, version: str | None = None, today: date | None = None
) -> PerformanceReport:
    """The performance report of the 30 days ending before ``end`` or yesterday."""
    last = end - timedelta(days=1)
    if today is not None:
        last = min(last, today - timedelta(days=1))
    return performance_report(ws, version, last - timedelta(days=SPAN["monthly"] - 1), last)


def period_figures(
    ws: Workspace, kind: str, end: date, version: str | None = None, today: date | None = None,
    report: PerformanceReport | None = None,
) -> dict[str, Any]:
    """The figures of a period of ``kind`` ending before ``end`` (exclusive), as of
    ``today`` (see the module doc); from ``report`` when it is given."""
    try:
        report = report or month_report(ws, end, version, today)
    except DeployReadyError as exc:
        return {"error": str(exc)}
    return weekly_figures(report) if kind == "weekly" else monthly_figures(report)
