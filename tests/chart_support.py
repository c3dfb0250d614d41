"""The charts of a page run by ``AppTest``: the dashboard draws every figure with its own
chart element (``dashboard.ui.chart``, a Streamlit component), whose data carries the
figure's plotly JSON."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest

CHART_COMPONENT = "deployready_chart"


def chart_specs(at: AppTest) -> list[dict[str, Any]]:
    """The plotly figure (``{"data": …, "layout": …}``) of every chart on the page, in order."""
    specs = []
    for element in at.get("bidi_component"):
        if element.proto.component_name != CHART_COMPONENT:
            continue
        specs.append(json.loads(json.loads(element.proto.json)["figure"]))
    return specs
