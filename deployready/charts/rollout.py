"""Figures for the rollout and the review checklists (data in, plotly Figure out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from deployready.charts import FAIL_COLOR, PASS_COLOR, PENDING_COLOR

_LAYOUT: dict[str, Any] = {"margin": {"l": 40, "r": 20, "t": 50, "b": 40}}

_PALETTE = ["#2563eb", "#7c3aed", "#0891b2", "#ea580c", "#db2777", "#4b5563"]


def stage_steps(stages: Sequence[int], current: int, *, version: str = "") -> go.Figure:
    """The stages 0 → … → 100 % as a step indicator; reached stages filled green."""
    steps = [0, *stages]
    colors = [PASS_COLOR if s <= current else PENDING_COLOR for s in steps]
    fig = go.Figure()
    fig.add_scatter(x=[str(s) + " %" for s in steps], y=[0] * len(steps), mode="lines",
                    line={"color": PENDING_COLOR, "width": 4}, hoverinfo="skip",
                    showlegend=False)
    fig.add_scatter(
        x=[str(s) + " %" for s in steps], y=[0] * len(steps), mode="markers+text",
        marker={"size": [34 if s == current else 24 for s in steps], "color": colors,
                "line": {"width": [4 if s == current else 0 for s in steps],
                         "color": "#111827"}},
        text=["current" if s == current else "" for s in steps], textposition="bottom center",
        hovertemplate="%{x}<extra></extra>", showlegend=False,
    )
    title = f"{version} at {current} % of traffic" if version else f"{current} % of traffic"
    fig.update_layout(title=title, height=170, yaxis={"visible": False, "range": [-1, 0.6]},
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig


def rollout_timeline(events: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Traffic share of each version over time (allowed events), refusals as red crosses."""
    fig = go.Figure()
    versions: list[str] = []
    for ev in events:
        if ev["version"] not in versions:
            versions.append(str(ev["version"]))
    for i, version in enumerate(versions):
        own = [e for e in events if e["version"] == version]
        done = [e for e in own if e["allowed"] and e.get("to_pct") is not None]
        color = _PALETTE[i % len(_PALETTE)]
        if done:
            fig.add_scatter(
                x=[e["created_at"] for e in done], y=[e["to_pct"] for e in done],
                mode="lines+markers", line={"shape": "hv", "color": color}, name=version,
                text=[f"{e['action']} by {e['actor']}: {e['reason']}" for e in done],
                hovertemplate="%{x}<br>%{y} %<br>%{text}<extra>" + version + "</extra>",
            )
        refused = [e for e in own if not e["allowed"]]
        if refused:
            fig.add_scatter(
                x=[e["created_at"] for e in refused],
                y=[e.get("to_pct") if e.get("to_pct") is not None else e.get("from_pct") or 0
                   for e in refused],
                mode="markers", marker={"symbol": "x", "size": 12, "color": FAIL_COLOR},
                name=f"{version} refused",
                text=[str(e["reason"]) for e in refused],
                hovertemplate="%{x}<br>refused: %{text}<extra></extra>",
            )
    fig.update_layout(title="Rollout: share of traffic", height=300,
                      yaxis={"title": "% of traffic", "range": [-5, 105]}, **_LAYOUT)
    return fig


def daily_check_grid(
    dates: Sequence[str], labels: Sequence[str], statuses: Sequence[Sequence[str]]
) -> go.Figure:
    """Daily check items (rows) × days (columns): green pass, red fail, grey missing.

    ``statuses[i][j]`` is the status of item ``labels[i]`` on ``dates[j]``.
    """
    code = {"pass": 1.0, "fail": 0.0}
    z = [[code.get(s, 0.5) for s in row] for row in statuses]
    text = [[s for s in row] for row in statuses]
    fig = go.Figure(
        go.Heatmap(
            x=list(dates), y=list(labels), z=z, text=text, zmin=0, zmax=1, showscale=False,
            colorscale=[[0, FAIL_COLOR], [0.5, PENDING_COLOR], [1, PASS_COLOR]],
            xgap=2, ygap=2, hovertemplate="%{x}<br>%{y}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(title="Daily checks", height=80 + 40 * max(1, len(labels)),
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig


def daily_grid(daily: Sequence[Mapping[str, Any]], *, by_version: bool = False) -> go.Figure:
    """:func:`daily_check_grid` of daily checks as serialized (``DailyReview.as_dict()``,
    newest first), drawn oldest first; ``by_version`` labels each day with its version."""
    oldest_first = list(reversed(daily))
    labels: list[str] = []
    for d in oldest_first:
        labels += [i["label"] for i in d["items"] if i["label"] not in labels]
    statuses = [[next((str(i["status"]) for i in d["items"] if i["label"] == label), "missing")
                 for d in oldest_first] for label in labels]
    dates = [f"{d['date']} {d['version']}" if by_version else str(d["date"])
             for d in oldest_first]
    return daily_check_grid(dates, labels, statuses)
