"""Layout pieces the figures share."""

from __future__ import annotations

from typing import Any, Final

#: A horizontal legend at the bottom edge of the figure, under the x axis's labels however
#: deep they are. A legend at a negative ``y`` of the plot instead sits a fixed fraction of
#: the plot's height below it, and slanted date labels reach further than that: they ran
#: into it. Copy it (``dict(LEGEND_BELOW)``) to change it for one figure.
LEGEND_BELOW: Final[dict[str, Any]] = {
    "orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
}
