"""Figures for readiness, certification and artifacts (data in, plotly Figure out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

PASS_COLOR = "#16a34a"
FAIL_COLOR = "#dc2626"
PENDING_COLOR = "#9ca3af"
STALE_COLOR = "#d97706"
STATUS_COLORS = {
    "pass": PASS_COLOR,
    "fail": FAIL_COLOR,
    "pending": PENDING_COLOR,
    "stale": STALE_COLOR,
}

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 40, "r": 20, "t": 50, "b": 40},
    "template": "plotly_white",
}


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
    """One certification metric across retrains, threshold line, pass/fail marks."""
    fig = go.Figure()
    fig.add_scatter(
        x=list(times),
        y=list(values),
        mode="lines+markers",
        name=metric,
        marker={
            "color": [PASS_COLOR if p else FAIL_COLOR for p in passed],
            "size": 10,
            "symbol": ["circle" if p else "x" for p in passed],
        },
        line={"color": "#64748b"},
        text=list(run_ids),
        hovertemplate="%{text}<br>%{y:.4f}<extra></extra>",
    )
    fig.add_hline(
        y=threshold,
        line_dash="dash",
        line_color=FAIL_COLOR,
        annotation_text=f"{'≥' if direction == 'higher' else '≤'} {threshold:g}",
    )
    fig.update_layout(title=metric, height=260, showlegend=False, **_LAYOUT)
    return fig


def cv_folds(
    fold_scores: Mapping[str, Sequence[float]], *, min_fold_score: float, metric: str
) -> go.Figure:
    """Fold scores per retrain run (one box per run) with the minimum fold score."""
    fig = go.Figure()
    for run_id, scores in fold_scores.items():
        fig.add_trace(
            go.Box(
                y=list(scores),
                name=run_id,
                boxpoints="all",
                jitter=0.3,
                marker_color="#2563eb",
                showlegend=False,
            )
        )
    fig.add_hline(
        y=min_fold_score,
        line_dash="dash",
        line_color=FAIL_COLOR,
        annotation_text=f"min fold {metric} {min_fold_score:g}",
    )
    fig.update_layout(title=f"Time-series CV folds ({metric})", height=300, **_LAYOUT)
    return fig


def feature_bars(
    values: Mapping[str, float], *, title: str, threshold: float | None = None, xaxis: str = ""
) -> go.Figure:
    """Horizontal bars per feature, largest first; below threshold in red."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    names = [k for k, _ in items]
    vals = [v for _, v in items]
    colors = [FAIL_COLOR if threshold is not None and v < threshold else "#2563eb" for v in vals]
    fig = go.Figure(go.Bar(y=names, x=vals, orientation="h", marker_color=colors))
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line_dash="dash",
            line_color=FAIL_COLOR,
            annotation_text=f"min {threshold:g}",
        )
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
            x=list(run_ids),
            y=[1] * len(run_ids),
            mode="markers",
            marker={
                "symbol": "square",
                "size": 26,
                "color": [PASS_COLOR if g else FAIL_COLOR for g in green],
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
