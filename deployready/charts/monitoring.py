"""Figures for latency monitoring and drift (data in, plotly Figure out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from deployready.charts import (
    ACCENT_COLOR,
    FAIL_COLOR,
    PASS_COLOR,
    PENDING_COLOR,
    WARN_COLOR,
)
from deployready.charts.layout import LEGEND_BELOW
from deployready.charts.reference import add_reference_lines, hline
from deployready.monitoring.drift import psi_level
from deployready.monitoring.latency import is_spike

PCT_COLORS = {"p50": "#60a5fa", "p95": ACCENT_COLOR, "p99": "#1e3a8a"}


def _utc_times(values: Any) -> np.ndarray:
    """Times as naive UTC ``datetime64`` (what plotly writes for a time zone-aware
    column): plotly copies and encodes an array of ``Timestamp`` objects one by one (about
    50 ms for two series of 720 windows), a ``datetime64`` array at once."""
    times = pd.DatetimeIndex(pd.to_datetime(values))
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return np.asarray(times.to_numpy(), dtype="datetime64[ns]")


def _steps(starts: np.ndarray, window: str | pd.Timedelta | None,
           columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The corners of step lines over sorted window ``starts``: each value at its start,
    and a zero at its window's end where no window follows at once (a gap, or the last)."""
    width = (np.diff(starts).min() if window is None
             else pd.Timedelta(window).to_timedelta64())
    ends = starts + width
    closes = np.append(starts[1:] > ends[:-1], True)
    x = np.concatenate([starts, ends[closes]])
    order = np.argsort(x, kind="stable")
    zeros = np.zeros(int(closes.sum()))
    return x[order], [np.concatenate([c, zeros])[order] for c in columns]


_LAYOUT: dict[str, Any] = {"margin": {"l": 50, "r": 20, "t": 50, "b": 40}}


def latency_trend(
    windows: pd.DataFrame,
    *,
    p95_target: float,
    p99_target: float,
    spike_ms: float,
    baseline: Mapping[str, Any] | None = None,
    title: str = "Latency percentiles",
) -> go.Figure:
    """P50/P95/P99 per window with target lines, baseline lines and spikes marked."""
    fig = go.Figure()
    x = windows["window_start"] if len(windows) else []
    for name in ("p50", "p95", "p99"):
        fig.add_trace(go.Scatter(
            x=x, y=windows[name] if len(windows) else [], name=name.upper(), mode="lines",
            line={"color": PCT_COLORS[name]},
            customdata=windows["count"] if len(windows) else [],
            hovertemplate=f"{name.upper()} %{{y:.2f}} ms<br>%{{x}}<br>n = %{{customdata}}"
                          "<extra></extra>",
        ))
    if len(windows):
        spikes = windows[[is_spike(v, spike_ms) for v in windows["p99"].tolist()]]
        if len(spikes):
            fig.add_trace(go.Scatter(
                x=spikes["window_start"], y=spikes["p99"], name=f"spike (P99 > {spike_ms:g} ms)",
                mode="markers", marker={"color": FAIL_COLOR, "size": 10, "symbol": "x"},
            ))
    lines = [hline(p95_target, {"color": WARN_COLOR, "dash": "dash"},
                   f"P95 target {p95_target:g} ms", "top left"),
             hline(p99_target, {"color": FAIL_COLOR, "dash": "dash"},
                   f"P99 target {p99_target:g} ms", "top left")]
    if baseline and baseline.get("kind") not in (None, "none"):
        for key in ("p95", "p99"):
            value = baseline.get(key)
            if value is not None:
                lines.append(hline(float(value), {"color": PENDING_COLOR, "dash": "dot"},
                                   f"baseline {key.upper()} {float(value):.1f} ms",
                                   "bottom right"))
    add_reference_lines(fig, *lines)
    fig.update_layout(title=title, yaxis_title="ms", xaxis_title="window start (UTC)",
                      height=380, legend=dict(LEGEND_BELOW), **_LAYOUT)
    return fig


#: Above this many windows :func:`sample_counts` draws stacked steps, not bars. At 720
#: hourly windows a bar is about a pixel wide, and plotly draws and styles each of the
#: 1,440 bars one by one (about 0.1 s of the Latency page in the browser); the steps show
#: the same counts over the same spans.
STEPS_ABOVE_WINDOWS = 120


def sample_counts(windows: pd.DataFrame, title: str = "Requests per window",
                  window: str | pd.Timedelta | None = None) -> go.Figure:
    """Successful requests and errors per window, stacked: a bar per window, or, above
    :data:`STEPS_ABOVE_WINDOWS`, steps: each count held from its window's start to its
    end (``window`` long; default the shortest step between two starts) and zero over a
    span without a window (no requests), as a bar chart leaves it empty."""
    fig = go.Figure()
    series = (("count", "successful", ACCENT_COLOR), ("errors", "errors", FAIL_COLOR))
    if len(windows) > STEPS_ABOVE_WINDOWS:
        x, steps = _steps(_utc_times(windows["window_start"]), window,
                          [windows[column].to_numpy() for column, _, _ in series])
        for (_, name, color), y in zip(series, steps, strict=True):
            fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines",
                                     line={"shape": "hv", "width": 0.5, "color": color},
                                     fillcolor=color, stackgroup="requests",
                                     hovertemplate="%{x}: %{y:,}<extra>" + name + "</extra>"))
    elif len(windows):
        for column, name, color in series:
            fig.add_trace(go.Bar(x=windows["window_start"], y=windows[column], name=name,
                                 marker_color=color))
    fig.update_layout(title=title, barmode="stack", height=260, yaxis_title="requests",
                      legend=dict(LEGEND_BELOW), **_LAYOUT)
    return fig


def latency_drift_bars(day_drift: pd.DataFrame, max_drift: float) -> go.Figure:
    """Per day: relative P95/P99 change against the baseline; the limit as a line."""
    fig = go.Figure()
    if len(day_drift):
        for key, color in (("p95_change", PCT_COLORS["p95"]), ("p99_change", PCT_COLORS["p99"])):
            values = pd.to_numeric(day_drift[key], errors="coerce") * 100
            fig.add_trace(go.Bar(x=day_drift["window_start"], y=values, marker_color=color,
                                 name=key.split("_")[0].upper()))
    add_reference_lines(fig, hline(max_drift * 100, {"color": FAIL_COLOR, "dash": "dash"},
                                   f"max drift {max_drift:.0%}"))
    fig.update_layout(title="Latency drift vs baseline", yaxis_title="% change",
                      barmode="group", height=300, **_LAYOUT)
    return fig


MAX_LABELLED_CELLS = 1500


#: PSI level → heatmap colour band (green, amber, red).
_LEVEL_CODE = {"ok": 0, "warn": 1, "alert": 2}


def psi_heatmap(
    days: Sequence[str],
    features: Sequence[str],
    psi: Sequence[Sequence[float | None]],
    *,
    warn: float,
    alert: float,
) -> go.Figure:
    """Features × days, discrete colours: green < warn ≤ amber < alert ≤ red.

    ``psi[i][j]`` is the PSI of ``features[i]`` on ``days[j]`` (None: no data).
    """
    # arrays, not nested lists: plotly validates list items one by one (100 × 365 cells)
    values = np.array([[np.nan if v is None else float(v) for v in row] for row in psi],
                      dtype=np.float64).reshape(len(psi), -1)
    # the colour bands as an object array: the same JSON (lists, None where no data) as
    # nested lists, but validated at once instead of cell by cell
    level = np.empty(values.shape, dtype=object)
    level[:] = [[None if v != v else _LEVEL_CODE[psi_level(v, warn, alert)] for v in row]
                for row in values.tolist()]
    # cell labels only while they can be read; the hover always shows the PSI
    labelled = values.size <= MAX_LABELLED_CELLS
    text = np.where(np.isnan(values), "", np.char.mod("%.2f", np.nan_to_num(values)))
    colorscale = [[0.0, PASS_COLOR], [1 / 3, PASS_COLOR], [1 / 3, WARN_COLOR],
                  [2 / 3, WARN_COLOR], [2 / 3, FAIL_COLOR], [1.0, FAIL_COLOR]]
    fig = go.Figure(go.Heatmap(
        z=level, x=np.asarray([str(d) for d in days]), y=np.asarray([str(f) for f in features]),
        text=text if labelled else None, texttemplate="%{text}" if labelled else None,
        customdata=values, colorscale=colorscale, zmin=-0.5, zmax=2.5,
        xgap=1 if len(days) <= 120 else 0, ygap=1,
        hovertemplate="%{y} on %{x}<br>PSI %{customdata:.4f}<extra></extra>",
        colorbar={"tickvals": [0, 1, 2],
                  "ticktext": [f"< {warn:g}", f"{warn:g}–{alert:g}", f"≥ {alert:g}"],
                  "title": "PSI"},
    ))
    fig.update_layout(title="Feature drift (PSI) per day",
                      height=max(300, 28 * len(features) + 120),
                      xaxis={"type": "category"}, yaxis={"autorange": "reversed"}, **_LAYOUT)
    return fig


def distribution_bars(
    bins: Sequence[str], reference: Sequence[float], current: Sequence[float], *, title: str
) -> go.Figure:
    """Reference vs current share of every bin of one feature."""
    fig = go.Figure([
        go.Bar(x=list(bins), y=list(reference), name="reference", marker_color=PENDING_COLOR),
        go.Bar(x=list(bins), y=list(current), name="current", marker_color=ACCENT_COLOR),
    ])
    fig.update_layout(title=title, barmode="group", yaxis_title="share", yaxis_tickformat=".0%",
                      height=340, xaxis={"type": "category"}, **_LAYOUT)
    return fig


def prediction_stability(
    days: Sequence[str], psi: Sequence[float | None], *, warn: float, alert: float
) -> go.Figure:
    """Prediction-distribution PSI per day with the warn and alert levels."""
    color = {"no_data": PENDING_COLOR, "ok": PASS_COLOR, "warn": WARN_COLOR, "alert": FAIL_COLOR}
    colors = [color[psi_level(v, warn, alert)] for v in psi]
    fig = go.Figure(go.Scatter(x=list(days), y=list(psi), mode="lines+markers", name="PSI",
                               marker={"color": colors, "size": 9}, line={"color": PENDING_COLOR}))
    add_reference_lines(fig, hline(warn, {"color": WARN_COLOR, "dash": "dash"}, f"warn {warn:g}"),
                        hline(alert, {"color": FAIL_COLOR, "dash": "dash"}, f"alert {alert:g}"))
    fig.update_layout(title="Prediction distribution stability (PSI vs reference)",
                      yaxis_title="PSI", height=300, xaxis={"type": "category"}, **_LAYOUT)
    return fig


def prediction_shares(
    days: Sequence[str], bins: Sequence[str], shares: Sequence[Sequence[float]],
    reference: Sequence[float],
) -> go.Figure:
    """Share of predictions per reference bin, day by day (stacked), reference first."""
    x = ["reference", *days]
    fig = go.Figure()
    for i, label in enumerate(bins):
        fig.add_trace(go.Bar(x=x, y=[reference[i], *(row[i] for row in shares)], name=label))
    fig.update_layout(title="Prediction distribution per day (reference-quantile bins)",
                      barmode="stack", yaxis_tickformat=".0%", height=340,
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig
