"""The readiness report's figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from deployready.charts.readiness import category_bars, score_gauge
from deployready.charts.rollout import daily_grid, rollout_timeline, stage_steps

#: The report's look: the chart functions leave the theme to whoever draws the figures.
REPORT_TEMPLATE = "plotly_white"


def figures(report: Mapping[str, Any]) -> list[go.Figure]:
    """The report's figures (:func:`deployready.report.build.build_report`'s dictionary),
    built with the dashboard's chart functions, in :data:`REPORT_TEMPLATE`."""
    figs = [
        score_gauge(float(report["score"]), float(report.get("max_score", 100.0)),
                    report["status"] == "READY"),
        category_bars(report.get("categories", [])),
    ]
    ro = report["rollout"]
    figs.append(stage_steps(ro["state"]["stages"], int(ro["stage"]), version=report["version"]))
    if ro["events"]:
        figs.append(rollout_timeline(ro["events"]))
    if report["monitoring"]["daily_checks"]:
        figs.append(daily_grid(report["monitoring"]["daily_checks"]))
    for fig in figs:
        fig.update_layout(template=REPORT_TEMPLATE)
    return figs
