"""Latency: percentiles per window and per day vs targets and baseline, spikes, alerts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from deployready.charts.monitoring import (
    latency_drift_bars,
    latency_trend,
    sample_counts,
)
from deployready.checks import Status, format_value, pass_fail, status_glyph
from deployready.monitoring.alerts import list_alerts
from deployready.monitoring.latency import LatencyReport, latency_report

ui.setup_page("Latency", "⏱️")
ws, version = ui.sidebar(deployed=True)
st.title("⏱️ Latency")
ui.require_versions(ws)
assert version is not None
version_: str = version

policy = ui.policy_or_stop(ws)
lp = policy.latency

info = ui.guarded(lambda: ui.log_versions(ws), "Reading the production logs")
if info is None:
    st.stop()
assert info is not None

# ---------------------------------------------------------------- score evidence
checks = ui.guarded(lambda: ui.latency_checks(ws, version_), "Latency checks")
if checks:
    kind = next((c.evidence.detail.get("source_kind") for c in checks
                 if c.evidence and c.evidence.detail.get("source_kind")), None)
    source = {"production": "production logs", "load_test": "the load test"}.get(
        str(kind), "no evidence yet")
    st.markdown(f"### Score evidence for {version}: {source}")
    st.dataframe(
        pd.DataFrame([{"": status_glyph(c.status), "check": c.name,
                       "value": format_value(c.value),
                       "threshold": c.threshold, "finding": c.message} for c in checks]),
        hide_index=True, width="stretch",
    )

ui.stop_without_logs(ws, version, info)

# ---------------------------------------------------------------- period and window
first: date = pd.Timestamp(info[version]["first"]).date()
last: date = pd.Timestamp(info[version]["last"]).date()
c1, c2 = st.columns([2, 1])
period = c1.date_input("Period (UTC days)", value=(max(first, last - timedelta(days=29)), last),
                       min_value=first, max_value=last, key="latency_period")
windows_choice = sorted({lp.window, "15min", "1h", "1D"}, key=lambda w: pd.Timedelta(w))
window = c2.selectbox("Window", windows_choice, index=windows_choice.index(lp.window),
                      key="latency_window")
if isinstance(period, tuple) and len(period) == 2:
    start, end = period
else:
    start = end = period if isinstance(period, date) else last
end_excl = end + timedelta(days=1)


@st.cache_data(show_spinner=False, max_entries=32)
def _report(root: str, version: str, start: str, end: str, window: str,
            fingerprint: Any) -> dict[str, Any]:
    from deployready.workspace import Workspace

    report = latency_report(Workspace.open(root), version, start=start, end=end, window=window)
    return {"report": report, "day_drift": report.day_drift()}


data = ui.guarded(lambda: _report(str(ws.root), version_, start.isoformat(), end_excl.isoformat(),
                                  window, ui.evidence_key(ws, version_)),
                   "Latency report")
if data is None:
    st.stop()
report: LatencyReport = data["report"]
s = report.summary

# ---------------------------------------------------------------- headline
m = st.columns(5)
m[0].metric("P50", f"{s['p50']:.1f} ms" if s["p50"] is not None else "—")
m[1].metric("P95", f"{s['p95']:.1f} ms" if s["p95"] is not None else "—",
            help=f"target < {lp.p95_ms:g} ms")
m[2].metric("P99", f"{s['p99']:.1f} ms" if s["p99"] is not None else "—",
            help=f"target < {lp.p99_ms:g} ms")
m[3].metric("Requests", f"{s['count']:,}", help=f"{s['errors']:,} errors not in percentiles")
drift = report.drift.value
m[4].metric("Drift vs baseline", f"{drift:+.0%}" if drift is not None else "—",
            help=f"alert above +{lp.max_drift:.0%}")
if report.note:
    st.caption(f"Source: {report.note}.")
b = report.baseline
if b.kind == "none":
    st.warning(f"No latency baseline: {b.message}. Drift is not measured.", icon="⚠️")
else:
    st.caption(f"Baseline: **{b.kind}** — {b.source} · P95 {b.p95:.1f} ms · P99 {b.p99:.1f} ms"
               + (f" · {b.count} samples" if b.count else ""))

ui.chart(
    latency_trend(report.windows, p95_target=lp.p95_ms, p99_target=lp.p99_ms,
                  spike_ms=lp.spike_ms, baseline=b.as_dict(),
                  title=f"Percentiles per {window} (successful requests)"),
    key="latency_windows_chart",
)
ui.chart(sample_counts(report.windows, f"Requests per {window}", window),
         key="latency_counts_chart")
ui.chart(
    latency_trend(report.days, p95_target=lp.p95_ms, p99_target=lp.p99_ms, spike_ms=lp.spike_ms,
                  baseline=b.as_dict(), title="Percentiles per day"),
    key="latency_days_chart",
)
if b.kind != "none":
    ui.chart(latency_drift_bars(data["day_drift"], lp.max_drift), key="latency_drift_chart")

# ---------------------------------------------------------------- spikes and alerts
st.markdown(f"### Spikes (windows with P99 > {lp.spike_ms:g} ms)")
if report.spikes:
    st.error(f"{len(report.spikes)} spike window(s) in the period.", icon="🚨")
    st.dataframe(pd.DataFrame(report.spikes), hide_index=True, width="stretch")
else:
    st.success("No spikes in the period.", icon=status_glyph(Status.PASS))

st.markdown("### Latency alerts")
alerts = ui.guarded(lambda: list_alerts(ws, version=version, limit=200), "Reading alerts") or []
latency_alerts = [a for a in alerts if a.kind.startswith("latency")]
if latency_alerts:
    st.dataframe(pd.DataFrame([{
        "time": a.created_at, "kind": a.kind, "severity": a.severity, "message": a.message,
        "delivered": status_glyph(pass_fail(a.delivered))
        + ("" if a.delivered else " " + ", ".join(a.failed_sinks)),
    } for a in latency_alerts]), hide_index=True, width="stretch")
else:
    st.caption("No latency alerts stored for this version. Alerts are raised by the daily "
               "check (`deployready daily`, or the button on the Drift page).")
