"""Figures for production performance (data in, plotly Figure out).

Days the labels have judged show solid markers; provisional days (labels may still
arrive) hollow markers and hatched bars; pending days (too few labels) a hatched band.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from deployready.charts import ACCENT_COLOR, FAIL_COLOR, PENDING_COLOR, WARN_COLOR
from deployready.charts.layout import LEGEND_BELOW
from deployready.charts.reference import add_reference_lines, hline, vline
from deployready.checks import Status, status_color, status_label
from deployready.performance.estimated import EstimatedDay
from deployready.performance.importance import ImportanceStability
from deployready.performance.realized import RealizedDay

ESTIMATE_COLOR = "#7c3aed"
HATCH = "/"

_LAYOUT: dict[str, Any] = {"margin": {"l": 50, "r": 20, "t": 50, "b": 40}}


def _day_axis(days: Sequence[str]) -> dict[str, Any]:
    return {"type": "category", "categoryorder": "array", "categoryarray": list(days),
            "tickangle": -45, "automargin": True}


def _value_range(values: Sequence[float | None], threshold: float) -> tuple[float, float]:
    """A y-range holding every value and the threshold, padded by a tenth."""
    known = [v for v in values if v is not None] + [threshold]
    lo, hi = min(known), max(known)
    pad = max((hi - lo) * 0.1, 0.02)
    return lo - pad, hi + pad


def _ci_band(realized: Sequence[RealizedDay], metric: str, confidence: float) -> go.Scatter:
    """The interval of every day that has one, as closed shapes (one per run of days)."""
    xs: list[str | None] = []
    ys: list[float | None] = []
    run: list[tuple[str, float, float]] = []
    for day in [*realized, None]:
        fig = day.metrics.get(metric) if day is not None else None
        if day is not None and fig is not None and fig.low is not None and fig.high is not None:
            run.append((day.day.isoformat(), fig.low, fig.high))
            continue
        if run:
            xs += [d for d, _, _ in run] + [d for d, _, _ in reversed(run)] + [None]
            ys += [h for _, _, h in run] + [lo for _, lo, _ in reversed(run)] + [None]
            run = []
    return go.Scatter(x=xs, y=ys, fill="toself", mode="lines", line={"width": 0},
                      fillcolor="rgba(37, 99, 235, 0.15)", name=f"{confidence:.0%} CI",
                      hoverinfo="skip")


def _realized_points(days: Sequence[RealizedDay], metric: str, name: str,
                     symbol: str) -> go.Scatter:
    shown = [d for d in days if metric in d.metrics]
    return go.Scatter(
        x=[d.day.isoformat() for d in shown], y=[d.metrics[metric].value for d in shown],
        mode="markers", name=name,
        marker={"symbol": symbol, "size": 10, "line": {"width": 2},
                "color": [status_color(d.metrics[metric].status) for d in shown]},
        text=[d.finding for d in shown],
        hovertemplate="%{x}: %{y:.4g}<br>%{text}<extra>" + name + "</extra>",
    )


def performance_trend(
    realized: Sequence[RealizedDay],
    estimated: Sequence[EstimatedDay],
    metric: str,
    *,
    op: str,
    threshold: float,
    confidence: float,
) -> go.Figure:
    """One metric per prediction day: realized (with its interval; final days solid,
    provisional hollow), the CBPE estimate, pending days hatched, the threshold line."""
    days = sorted({d.day.isoformat() for d in realized} | {e.day.isoformat() for e in estimated})
    values = [f.value for d in realized if (f := d.metrics.get(metric)) is not None]
    values += [b for d in realized if (f := d.metrics.get(metric)) is not None
               for b in (f.low, f.high)]
    values += [e.values.get(metric) for e in estimated]
    lo, hi = _value_range(values, threshold)
    fig = go.Figure()
    pending = [d for d in realized if d.status is Status.PENDING]
    fig.add_trace(go.Bar(
        x=[d.day.isoformat() for d in pending], y=[hi - lo] * len(pending),
        base=[lo] * len(pending), name="pending: too few labels", hovertext=[
            d.finding for d in pending], hoverinfo="x+text",
        marker={"color": "rgba(0, 0, 0, 0)", "line": {"width": 0},
                "pattern": {"shape": HATCH, "fgcolor": PENDING_COLOR, "solidity": 0.3}},
    ))
    fig.add_trace(_ci_band(realized, metric, confidence))
    judged = [d for d in realized if metric in d.metrics]
    fig.add_trace(go.Scatter(x=[d.day.isoformat() for d in judged],
                             y=[d.metrics[metric].value for d in judged], mode="lines",
                             line={"color": ACCENT_COLOR}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(_realized_points([d for d in judged if not d.provisional], metric,
                                   "realized, final", "circle"))
    fig.add_trace(_realized_points([d for d in judged if d.provisional], metric,
                                   "realized, provisional (labels may still arrive)",
                                   "circle-open"))
    fig.add_trace(go.Scatter(
        x=[e.day.isoformat() for e in estimated], y=[e.values.get(metric) for e in estimated],
        mode="lines+markers", name="estimated (CBPE)",
        line={"color": ESTIMATE_COLOR, "dash": "dash"},
        marker={"symbol": "diamond", "size": 8, "color": [
            WARN_COLOR if e.status is Status.WARN else ESTIMATE_COLOR for e in estimated]},
        hovertemplate="%{x}: estimated %{y:.4g}<extra></extra>",
    ))
    add_reference_lines(fig, hline(threshold, {"color": FAIL_COLOR, "dash": "dash"},
                                   f"threshold {op} {threshold:g}", "top left"))
    fig.update_layout(title=f"{metric}: realized vs estimated per prediction day",
                      yaxis={"title": metric, "range": [lo, hi]}, xaxis=_day_axis(days),
                      height=420, barmode="overlay", legend=dict(LEGEND_BELOW),
                      **_LAYOUT)
    return fig


def label_coverage(realized: Sequence[RealizedDay], *, min_coverage: float) -> go.Figure:
    """Labelled share of each day's predictions, coloured by the day's status;
    provisional days hatched; the policy's minimum coverage as a line."""
    fig = go.Figure()
    for status in (Status.PASS, Status.FAIL, Status.PENDING):
        for provisional in (False, True):
            days = [d for d in realized if d.status is status and d.provisional is provisional]
            if not days:
                continue
            fig.add_trace(go.Bar(
                x=[d.day.isoformat() for d in days], y=[d.counts.coverage for d in days],
                name=f"{status_label(status)}, {'provisional' if provisional else 'final'}",
                customdata=[[d.counts.labelled, d.counts.predictions, d.needed] for d in days],
                hovertemplate="%{x}: %{y:.1%} labelled<br>%{customdata[0]} of "
                              "%{customdata[1]} predictions; %{customdata[2]} more needed"
                              "<extra></extra>",
                marker={"color": status_color(status),
                        "pattern": {"shape": HATCH if provisional else "", "solidity": 0.4}},
            ))
    add_reference_lines(fig, hline(min_coverage, {"color": FAIL_COLOR, "dash": "dash"},
                                   f"minimum coverage {min_coverage:.0%}"))
    fig.update_layout(title="Label coverage per prediction day", yaxis_tickformat=".0%",
                      yaxis_title="labelled / predictions",
                      xaxis=_day_axis(sorted(d.day.isoformat() for d in realized)), height=320,
                      barmode="overlay", legend=dict(LEGEND_BELOW), **_LAYOUT)
    return fig


def label_delays(joined: pd.DataFrame, *, window_days: int) -> go.Figure:
    """How long labels took (``labeled_at`` − prediction time, days; one-day bins), the
    label window as a line."""
    labelled = joined[joined["label"].notna()]
    delay = ((labelled["labeled_at"] - labelled["timestamp"]).dt.total_seconds()
             / 86_400).to_numpy(np.float64)
    top = int(np.ceil(max(float(delay.max()) if delay.size else 0.0, window_days))) + 1
    counts, edges = np.histogram(delay, bins=np.arange(0, top + 1))
    fig = go.Figure(go.Bar(x=(edges[:-1] + 0.5).tolist(), y=counts.tolist(),
                           marker_color=ACCENT_COLOR, name="labels",
                           hovertemplate="%{y} labels after %{x:.0f}±0.5 days<extra></extra>"))
    add_reference_lines(fig, vline(window_days, {"color": PENDING_COLOR, "dash": "dash"},
                                   f"label window {window_days} d"))
    title = ("Label delay: no labels yet" if not delay.size else
             f"Label delay: median {np.median(delay):.1f} days over {delay.size:,} labels")
    fig.update_layout(title=title, xaxis_title="days from prediction to label",
                      yaxis_title="labels", height=320, bargap=0.05, **_LAYOUT)
    return fig


def importance_bars(result: ImportanceStability, *, top_k: int) -> go.Figure:
    """Mean |SHAP| per feature: the package's explainability report vs the production
    sample, features in the package's order of importance."""
    features = sorted(result.reference, key=lambda f: (-result.reference[f], f))
    fig = go.Figure([
        go.Bar(y=features, x=[result.reference[f] for f in features], orientation="h",
               name="package", marker_color=PENDING_COLOR),
        go.Bar(y=features, x=[result.production.get(f) for f in features], orientation="h",
               name="production", marker_color=ACCENT_COLOR),
    ])
    if not result.production:
        title = "Feature importance: no production rows explained"
    else:
        rho = "undefined" if result.rank_correlation is None else \
            f"{result.rank_correlation:.2f}"
        overlap = result.top_k_overlap or 0.0
        title = (f"Feature importance: Spearman ρ {rho}, top-{top_k} overlap {overlap:.0%} "
                 f"({result.rows_explained} rows explained)")
    fig.update_layout(title=title, barmode="group", xaxis_title="mean |SHAP|",
                      yaxis={"autorange": "reversed"}, height=max(300, 26 * len(features) + 120),
                      **_LAYOUT)
    return fig
