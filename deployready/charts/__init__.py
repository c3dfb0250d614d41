"""Figures: data in, plotly Figure out (the only engine package that imports plotly).

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
