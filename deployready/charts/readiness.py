"""Figures for readiness, certification and artifacts (data in, plotly Figure out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from deployready.charts import ACCENT_COLOR, FAIL_COLOR, PASS_COLOR
from deployready.charts.reference import add_reference_lines, hline, vline

_LAYOUT: dict[str, Any] = {"margin": {"l": 40, "r": 20, "t": 50, "b": 40}}


def score_gauge(score: float, max_score: float, ready: bool) -> go.Figure:
    """The readiness score as a gauge; green only when every check passes."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=round(score, 1),
            number={"suffix": f" / {max_score:g}"},
            title={"text": "READY" if ready else "NOT READY"},
            gauge={
                "axis": {"range": [0, max_score]},
                "bar": {"color": PASS_COLOR if ready else FAIL_COLOR},
                "steps": [{"range": [0, max_score], "color": "#f3f4f6"}],
            },
        )
    )
    fig.update_layout(height=260, **{**_LAYOUT, "margin": {"l": 30, "r": 30, "t": 60, "b": 10}})
    return fig


def category_bars(categories: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Earned vs available points per category (``as_dict()`` rows of the score)."""
    labels = [f"{c['label']} ({c['weight']:g}%)" for c in categories]
    earned = [c["score"] for c in categories]
    missing = [c["weight"] - c["score"] for c in categories]
    text = [f"{c['passed']}/{c['total']} checks" for c in categories]
    fig = go.Figure()
    fig.add_bar(
        y=labels,
        x=earned,
        orientation="h",
        name="earned",
        marker_color=PASS_COLOR,
        text=text,
        textposition="inside",
    )
    fig.add_bar(y=labels, x=missing, orientation="h", name="missing", marker_color="#fca5a5")
    fig.update_layout(
        barmode="stack",
        title="Score by category (points)",
        height=260,
        yaxis={"autorange": "reversed"},
        **_LAYOUT,
    )
    return fig


def metric_trajectory(
    run_ids: Sequence[str],
    times: Sequence[str],
    values: Sequence[float],
    passed: Sequence[bool],
    *,
    metric: str,
    threshold: float,
    direction: str,
) -> go.Figure:
    """One certification metric across retrains, threshold line, pass/fail marks.

    Arrays (not lists) and one marker trace per outcome keep a 10,000-run history cheap
    to build: plotly validates list items one by one, arrays at once.
    """
    # fixed-width string arrays: plotly deep-copies its data, object arrays item by item
    x = np.asarray([str(t) for t in times], dtype=str)
    y = np.asarray(list(values), dtype=np.float64)
    ok = np.asarray(list(passed), dtype=bool)
    text = np.asarray([str(r) for r in run_ids], dtype=str)
    size = 10 if len(y) <= 200 else 5
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=y, mode="lines", name=metric, line={"color": "#64748b"}, hoverinfo="skip"
    )
    for mask, color, symbol, label in (
        (ok, PASS_COLOR, "circle", "pass"),
        (~ok, FAIL_COLOR, "x", "fail"),
    ):
        if mask.any():
            fig.add_scatter(
                x=x[mask],
                y=y[mask],
                mode="markers",
                name=f"{metric} ({label})",
                marker={"color": color, "size": size, "symbol": symbol},
                text=text[mask],
                hovertemplate="%{text}<br>%{y:.4f}<extra></extra>",
            )
    add_reference_lines(fig, hline(threshold, {"dash": "dash", "color": FAIL_COLOR},
                                   f"{'≥' if direction == 'higher' else '≤'} {threshold:g}"))
    fig.update_layout(title=metric, height=260, showlegend=False, **_LAYOUT)
    return fig


def cv_folds(
    fold_scores: Mapping[str, Sequence[float]], *, min_fold_score: float, metric: str
) -> go.Figure:
    """Fold scores per retrain run (one box per run) with the minimum fold score.

    One box trace over all runs (x = run id per fold score): the same boxes as a trace
    per run, without building thousands of traces.
    """
    xs = [run_id for run_id, scores in fold_scores.items() for _ in scores]
    ys = [float(v) for scores in fold_scores.values() for v in scores]
    fig = go.Figure(
        go.Box(
            x=np.asarray(xs, dtype=str),
            y=np.asarray(ys, dtype=np.float64),
            boxpoints="all",
            jitter=0.3,
            marker_color=ACCENT_COLOR,
            showlegend=False,
        )
    )
    add_reference_lines(fig, hline(min_fold_score, {"dash": "dash", "color": FAIL_COLOR},
                                   f"min fold {metric} {min_fold_score:g}"))
    fig.update_layout(title=f"Time-series CV folds ({metric})", height=300, **_LAYOUT)
    return fig


def feature_bars(
    values: Mapping[str, float], *, title: str, threshold: float | None = None, xaxis: str = ""
) -> go.Figure:
    """Horizontal bars per feature, largest first; below threshold in red."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    names = [k for k, _ in items]
    vals = [v for _, v in items]
    colors = [FAIL_COLOR if threshold is not None and v < threshold else ACCENT_COLOR for v in vals]
    fig = go.Figure(go.Bar(y=names, x=vals, orientation="h", marker_color=colors))
    if threshold is not None:
        add_reference_lines(fig, vline(threshold, {"dash": "dash", "color": FAIL_COLOR},
                                       f"min {threshold:g}"))
    fig.update_layout(
        title=title,
        height=max(240, 26 * len(names) + 80),
        yaxis={"autorange": "reversed"},
        xaxis_title=xaxis,
        **_LAYOUT,
    )
    return fig


def streak_strip(run_ids: Sequence[str], green: Sequence[bool], needed: int) -> go.Figure:
    """Each retrain as a green/red square, oldest first."""
    fig = go.Figure(
        go.Scatter(
            x=np.asarray([str(r) for r in run_ids], dtype=str),
            y=np.ones(len(run_ids)),
            mode="markers",
            marker={
                "symbol": "square",
                "size": 26 if len(run_ids) <= 40 else 12,
                "color": np.where(np.asarray(list(green), dtype=bool), PASS_COLOR, FAIL_COLOR),
            },
            hovertemplate="%{x}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Retrain runs (need {needed} consecutive green)",
        height=160,
        yaxis={"visible": False},
        **_LAYOUT,
    )
    return fig
