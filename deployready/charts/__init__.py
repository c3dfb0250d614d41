"""Figures: data in, plotly Figure out (the only engine package that imports plotly).

The figures carry no template: whoever draws them chooses the look (the dashboard its
theme, ``dashboard/chart_theme.py``; the HTML report ``plotly_white``; a notebook plotly's
default). Setting a template on a figure copies and validates it, about 9 ms a figure on
every page run. Reference lines are plain shapes (:mod:`deployready.charts.reference`).

Status colours come from the one status table (:data:`deployready.checks.STATUS_STYLES`);
the other colours the figures share are named here.
"""

from __future__ import annotations

from deployready.checks import Status, status_color

PASS_COLOR = status_color(Status.PASS)
FAIL_COLOR = status_color(Status.FAIL)
PENDING_COLOR = status_color(Status.PENDING)  # also: no data
STALE_COLOR = status_color(Status.STALE)
WARN_COLOR = status_color(Status.WARN)  # between pass and fail (PSI warn, P95 target)
ACCENT_COLOR = "#2563eb"  # a measured series that is not a verdict
