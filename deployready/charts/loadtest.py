"""Load-test figures: live latency and throughput, percentile bars, CDF overlay, requests
in flight."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from deployready.charts.layout import LEGEND_BELOW
from deployready.charts.reference import add_reference_lines, hline

PCT_KEYS: tuple[tuple[str, str], ...] = (
    ("p50", "P50"), ("p95", "P95"), ("p99", "P99"), ("p99_9", "P99.9"),
)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin={"l": 40, "r": 20, "t": 50, "b": 40},
                      legend=dict(LEGEND_BELOW))
    return fig


def live_latency(series: Sequence[Mapping[str, Any]], targets: Mapping[str, float] | None = None
                 ) -> go.Figure:
    """P50 and P99 of the requests completed in each second of the run."""
    t = [s["t"] for s in series]
    fig = go.Figure()
    for key, name in (("p50_ms", "P50"), ("p99_ms", "P99")):
        fig.add_trace(go.Scatter(x=t, y=[s[key] for s in series], name=name, mode="lines+markers"))
    fig.add_trace(go.Scatter(x=t, y=[s.get("max_ms") for s in series], name="max",
                             mode="lines", line={"dash": "dot"}))
    add_reference_lines(fig, *(hline(value, {"dash": "dash"}, f"{name} target {value:g} ms",
                                     "top left") for name, value in (targets or {}).items()))
    return _layout(fig, "Latency per second", "second of the run", "ms")


def live_throughput(series: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Completed requests per second."""
    fig = go.Figure(go.Bar(x=[s["t"] for s in series], y=[s["count"] for s in series],
                           name="completed"))
    return _layout(fig, "Throughput", "second of the run", "requests / s")


def percentile_bars(runs: Sequence[tuple[str, Mapping[str, Any]]],
                    targets: Mapping[str, float] | None = None) -> go.Figure:
    """Grouped bars of P50/P95/P99/P99.9 (ms) for one or more runs; dashed targets."""
    fig = go.Figure()
    labels = [label for _, label in PCT_KEYS]
    for name, latency in runs:
        values = [latency.get(key) for key, _ in PCT_KEYS]
        counts = latency.get("count")
        fig.add_trace(go.Bar(x=labels, y=values, name=name,
                             hovertemplate="%{x}: %{y:.3f} ms" + (f" (n={counts})" if counts
                                                                  else "") + "<extra></extra>"))
    add_reference_lines(fig, *(hline(value, {"dash": "dash"},
                                     f"{key.upper()} target {value:g} ms", "top left")
                               for key, value in (targets or {}).items()))
    fig.update_layout(barmode="group")
    return _layout(fig, "Latency percentiles", "", "ms", height=340)


def cdf_overlay(samples: Mapping[str, np.ndarray], max_points: int = 2000) -> go.Figure:
    """Empirical CDF of the latencies (µs in, ms shown, log x) of each run."""
    fig = go.Figure()
    for name, values in samples.items():
        v = np.sort(np.asarray(values, dtype=np.float64)) / 1000.0
        if v.size == 0:
            continue
        y = np.arange(1, v.size + 1) / v.size
        if v.size > max_points:
            idx = np.unique(np.r_[np.linspace(0, v.size - 1, max_points).astype(int),
                                  np.arange(max(0, v.size - 50), v.size)])
            v, y = v[idx], y[idx]
        fig.add_trace(go.Scatter(x=v, y=y, name=name, mode="lines", line={"shape": "hv"}))
    fig.update_xaxes(type="log")
    return _layout(fig, "Latency CDF", "ms (log)", "fraction of requests ≤ x", height=340)


def in_flight(series: Mapping[str, Sequence[float]], concurrency: int | None = None
              ) -> go.Figure:
    """Requests in flight over the run (per time bin: max and time-weighted mean), with
    the policy's concurrency dashed."""
    t = list(series.get("t_s") or [])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=list(series.get("max") or []), name="max",
                             mode="lines", line={"shape": "hv"}))
    fig.add_trace(go.Scatter(x=t, y=list(series.get("mean") or []), name="mean",
                             mode="lines", line={"shape": "hv"}))
    if concurrency:
        add_reference_lines(fig, hline(concurrency, {"dash": "dash"},
                                       f"policy concurrency {concurrency}", "top left"))
    return _layout(fig, "Requests in flight", "seconds from the first send", "in flight")
