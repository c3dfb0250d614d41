"""The dashboard's chart element (``dashboard.ui.chart``): the figure it sends, the theme,
the trace types its plotly.js build holds, and that build's recorded digest."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import plotly.graph_objects as go
import pytest
from chart_support import chart_specs
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.chart_theme import COLORWAY, FONT, TEMPLATE_JSON

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "static" / "plotly-deployready.min.js"
RECIPE = REPO / "dashboard" / "chart_bundle"


def _page() -> None:
    import plotly.graph_objects as go
    import streamlit as st

    from dashboard import ui

    left, right = st.columns(2)
    ui.chart(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])), key="bars", where=left)
    ui.chart(go.Figure(go.Scatter(x=[0, 1], y=[2, 3], name="line")).update_layout(height=300),
             key="line", where=right)
    ui.chart(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))


def test_charts_carry_their_figures_in_the_dashboard_theme() -> None:
    at = AppTest.from_function(_page).run()
    assert not at.exception
    specs = chart_specs(at)
    assert [s["data"][0]["type"] for s in specs] == ["bar", "scatter", "heatmap"]
    assert specs[0]["data"][0]["y"] == [1, 2]
    assert specs[1]["layout"]["height"] == 300
    for spec in specs:
        assert spec["layout"]["template"]["layout"]["colorway"] == list(COLORWAY)


def test_the_callers_figure_is_left_as_it_was() -> None:
    fig = go.Figure(go.Bar(x=["a"], y=[1]), layout={"template": "plotly_dark"})
    before = fig.to_json()
    drawn = json.loads(ui.chart_json(fig))
    assert fig.to_json() == before
    assert drawn["layout"]["template"]["layout"]["colorway"] == list(COLORWAY)
    assert drawn["data"][0]["y"] == [1]


def test_a_trace_type_outside_the_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\['pie'\] are not in static/plotly-deployready"):
        ui.chart_json(go.Figure([go.Bar(y=[1]), go.Pie(values=[1, 2])]))


def test_declared_traces_match_the_bundle_recipe() -> None:
    entry = (RECIPE / "entry.js").read_text(encoding="utf-8")
    registered = set(re.findall(r"require\('plotly\.js/lib/(\w+)'\)", entry)) - {"core"}
    assert registered | {"scatter"} == set(ui.BUNDLE_TRACES)


def test_committed_bundle_is_the_recorded_build() -> None:
    recorded = (RECIPE / "bundle.sha256").read_text(encoding="utf-8").strip()
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == recorded
    # V8 compiles the whole build as it streams in (build.sh): the hint must be line 1
    assert BUNDLE.read_bytes().startswith(b"//# allFunctionsCalledOnLoad\n")


def test_pages_draw_only_through_the_chart_element() -> None:
    sources = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    offenders = [p.name for p in sources if "plotly_chart(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_static_serving_is_on_for_the_chart_library() -> None:
    config = (REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert re.search(r"^enableStaticServing = true$", config, re.MULTILINE)


def test_chart_font_is_the_page_font() -> None:
    """The charts' text is set in the ``[theme] font`` of the dashboard's Streamlit config,
    the type of the page around them."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["theme"]["font"] == FONT
    assert TEMPLATE_JSON["layout"]["font"]["family"] == FONT
