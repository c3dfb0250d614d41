"""The look of the dashboard's charts: one plotly template in the colours and type of the
Streamlit light theme in ``.streamlit/config.toml``.

Streamlit's own plotly element fills its theme in the browser; the dashboard draws its
figures itself (``dashboard.ui.chart``), so the template travels with each figure. It is
plotly's ``plotly_white`` with Streamlit's categorical colours, text colour and font.
"""

from __future__ import annotations

from typing import Any, Final

import plotly.graph_objects as go
import plotly.io as pio

#: Streamlit's categorical palette (light theme), in its order.
COLORWAY: Final = ("#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d",
                   "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0", "#d5dae5")
TEXT: Final = "#31333f"
GRID: Final = "#e6eaf1"
#: The page's type: the ``[theme] font`` of ``.streamlit/config.toml`` (a test keeps the two
#: equal), so the charts' text matches the text around them.
FONT: Final = "sans-serif"


def dashboard_template() -> go.layout.Template:
    """``plotly_white`` in the dashboard's colours (a new object on each call)."""
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        colorway=list(COLORWAY),
        font={"family": FONT, "color": TEXT, "size": 14},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"family": FONT}},
    )
    for axis in ("xaxis", "yaxis"):
        template.layout[axis].update(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    return template


#: :func:`dashboard_template` as plotly JSON, built once: setting a template object on a
#: figure validates it again (about 13 ms a chart), a plain dict costs nothing.
TEMPLATE_JSON: Final[dict[str, Any]] = dashboard_template().to_plotly_json()
