"""Reference lines (a target, a threshold, a baseline) across a figure's plot area, each
with an optional label: the shape and annotation plotly's ``add_hline``/``add_vline``
produce, built as plain dicts and added in one layout update.

``add_hline`` resolves the figure's subplots and validates each line on its own, about
5 ms a line; a page of monitoring charts draws a dozen of them on every script run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import plotly.graph_objects as go

Position = Literal["top left", "top right", "bottom left", "bottom right", "top"]

#: Where a label sits on a horizontal line: (x in the axis domain, xanchor, yanchor).
_H_LABEL: dict[str, tuple[float, str, str]] = {
    "top left": (0, "left", "bottom"), "top right": (1, "right", "bottom"),
    "bottom left": (0, "left", "top"), "bottom right": (1, "right", "top"),
}
#: Where a label sits on a vertical line: (y in the axis domain, xanchor, yanchor).
_V_LABEL: dict[str, tuple[float, str, str]] = {
    "top right": (1, "left", "top"), "top": (1, "center", "bottom"),
}


@dataclass(frozen=True)
class RefLine:
    """One line at ``value`` on the y axis (``axis="y"``: a horizontal line) or the x axis
    (``axis="x"``: a vertical line), styled by ``line`` (plotly's shape line: color, dash,
    width), labelled ``text`` at ``position`` (plotly's ``annotation_position``)."""

    axis: Literal["x", "y"]
    value: float
    line: Mapping[str, Any]
    text: str | None = None
    position: Position = "top right"

    def shape(self) -> dict[str, Any]:
        if self.axis == "y":
            return {"type": "line", "line": dict(self.line), "xref": "x domain", "x0": 0,
                    "x1": 1, "yref": "y", "y0": self.value, "y1": self.value}
        return {"type": "line", "line": dict(self.line), "xref": "x", "x0": self.value,
                "x1": self.value, "yref": "y domain", "y0": 0, "y1": 1}

    def annotation(self) -> dict[str, Any] | None:
        if self.text is None:
            return None
        table = _H_LABEL if self.axis == "y" else _V_LABEL
        if self.position not in table:
            raise ValueError(f"label position {self.position!r} is not one of "
                             f"{sorted(table)} for a line on the {self.axis} axis")
        at, xanchor, yanchor = table[self.position]
        if self.axis == "y":
            return {"showarrow": False, "text": self.text, "xref": "x domain", "x": at,
                    "xanchor": xanchor, "yref": "y", "y": self.value, "yanchor": yanchor}
        return {"showarrow": False, "text": self.text, "xref": "x", "x": self.value,
                "xanchor": xanchor, "yref": "y domain", "y": at, "yanchor": yanchor}


def hline(y: float, line: Mapping[str, Any], text: str | None = None,
          position: Position = "top right") -> RefLine:
    """A horizontal line at ``y`` (as ``fig.add_hline(y, line=…, annotation_text=…)``)."""
    return RefLine("y", y, line, text, position)


def vline(x: float, line: Mapping[str, Any], text: str | None = None,
          position: Position = "top right") -> RefLine:
    """A vertical line at ``x`` (as ``fig.add_vline(x, line=…, annotation_text=…)``)."""
    return RefLine("x", x, line, text, position)


def add_reference_lines(fig: go.Figure, *lines: RefLine) -> go.Figure:
    """``lines`` added to ``fig`` after the shapes and annotations it already has."""
    if lines:
        labels = [a for a in (ln.annotation() for ln in lines) if a is not None]
        fig.update_layout(shapes=[*fig.layout.shapes, *(ln.shape() for ln in lines)],
                          annotations=[*fig.layout.annotations, *labels])
    return fig
