"""Reference lines built as plain shapes: the same layout as plotly's own ``add_hline`` /
``add_vline`` (which the chart functions no longer call: about 5 ms a line), and chart
functions that leave the template to whoever draws them."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from deployready.charts.monitoring import latency_trend, prediction_stability
from deployready.charts.reference import Position, add_reference_lines, hline, vline
from deployready.charts.report import REPORT_TEMPLATE, figures

LINE = {"color": "#dc2626", "dash": "dash"}


def _layout(fig: go.Figure) -> dict[str, Any]:
    layout = fig.to_plotly_json()["layout"]
    return {"shapes": layout.get("shapes", []), "annotations": layout.get("annotations", [])}


def _base() -> go.Figure:
    return go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 5, 6]))


@pytest.mark.parametrize("position", ["top left", "top right", "bottom left", "bottom right"])
def test_hline_is_plotlys_add_hline(position: Position) -> None:
    theirs = _base()
    theirs.add_hline(y=4.5, line=LINE, annotation_text="target 4.5",
                     annotation_position=position)
    ours = add_reference_lines(_base(), hline(4.5, LINE, "target 4.5", position))
    assert _layout(ours) == _layout(theirs)


@pytest.mark.parametrize("position", ["top right", "top"])
def test_vline_is_plotlys_add_vline(position: Position) -> None:
    theirs = _base()
    theirs.add_vline(x=2, line=LINE, annotation_text="window", annotation_position=position)
    ours = add_reference_lines(_base(), vline(2, LINE, "window", position))
    assert _layout(ours) == _layout(theirs)


def test_lines_without_labels_and_after_existing_shapes() -> None:
    theirs = _base()
    theirs.add_hline(y=1, line={"dash": "dot"}, annotation_text="first")
    theirs.add_hline(y=2, line={"dash": "dash"})
    theirs.add_vline(x=3, line=LINE, annotation_text="third")
    ours = _base()
    ours.add_hline(y=1, line={"dash": "dot"}, annotation_text="first")
    add_reference_lines(ours, hline(2, {"dash": "dash"}), vline(3, LINE, "third"))
    assert _layout(ours) == _layout(theirs)
    assert add_reference_lines(_base()).to_plotly_json() == _base().to_plotly_json()


def test_a_label_position_plotly_places_elsewhere_is_refused() -> None:
    with pytest.raises(ValueError, match="'top' is not one of"):
        hline(1, LINE, "label", "top").annotation()


def test_chart_functions_set_no_template_and_the_report_sets_its_own() -> None:
    windows = {"window_start": ["2026-11-01T00:00:00"], "p50": [3.0], "p95": [9.0],
               "p99": [12.0], "count": [40]}
    for fig in (latency_trend(pd.DataFrame(windows), p95_target=35, p99_target=50,
                              spike_ms=100),
                prediction_stability(["2026-11-01"], [0.1], warn=0.1, alert=0.25)):
        # plotly's default, applied when the figure was made, not a template of ours
        assert fig.layout.template == pio.templates[pio.templates.default]
    report = {"score": 80.0, "status": "NOT READY", "version": "v1.0", "categories": [],
              "rollout": {"state": {"stages": [5, 25, 100]}, "stage": 0, "events": []},
              "monitoring": {"daily_checks": []}}
    for fig in figures(report):
        assert fig.layout.template == pio.templates[REPORT_TEMPLATE]
