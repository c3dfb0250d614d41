"""Drift: PSI heatmap (features × days), distributions, prediction stability, daily check."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from deployready import ui
from deployready.charts.monitoring import (
    distribution_bars,
    prediction_shares,
    prediction_stability,
    psi_heatmap,
)
from deployready.daily import DailyRecord, drift_by_day, list_daily, run_daily
from deployready.drift import DriftResult
from deployready.logs import ProductionLogs

ui.setup_page("Drift", "🌊")
ws, version = ui.sidebar(deployed=True)
st.title("🌊 Drift")
ui.require_versions(ws)
assert version is not None
version_: str = version

policy = ui.guarded(ws.policy, "Reading the policy")
if policy is None:
    st.stop()
dp = policy.drift

_FLASH = "drift_daily_result"


@st.cache_data(show_spinner=False, max_entries=16)
def _drift(root: str, version: str, fingerprint: Any) -> dict[str, dict[str, Any]]:
    from deployready.workspace import Workspace

    found = drift_by_day(Workspace.open(root), version)
    return {d.isoformat(): r.as_dict() for d, r in found.items()}


logs = ProductionLogs(ws.production_dir, {})
info = ui.guarded(logs.versions, "Reading the production logs") if logs else {}
if info is None:
    st.stop()
has_logs = version in info

# ---------------------------------------------------------------- daily check button
with st.form("daily_check"):
    st.markdown("### Run the daily check")
    default_day = pd.Timestamp(info[version]["last"]).date() if has_logs else date.today()
    day = st.date_input("Day (UTC)", value=default_day, key="daily_day")
    submitted = st.form_submit_button("Run daily check", type="primary")
if submitted:
    with st.spinner("Checking latency, errors and drift…"):
        record = ui.guarded(lambda: run_daily(ws, version_, day), "The daily check")
    if record is not None:
        st.session_state[_FLASH] = record.as_dict()
flash = st.session_state.get(_FLASH)
if flash and flash.get("version") == version:
    result = DailyRecord.from_dict(flash)
    text = (f"Daily check {result.date} for {result.version}: **{result.status.upper()}** — "
            f"{result.rows} requests, {result.errors} errors, {len(result.alerts)} alert(s).")
    {"ok": st.success, "alert": st.error}.get(result.status, st.warning)(text)
    st.dataframe(pd.DataFrame([{
        "": {"pass": "✅", "fail": "❌", "pending": "⏳"}[c.status], "check": c.name,
        "value": "" if c.value is None else str(c.value), "threshold": c.threshold,
        "finding": c.message} for c in result.checks]), hide_index=True, width="stretch")
    if result.alerts:
        st.dataframe(pd.DataFrame(result.alerts), hide_index=True, width="stretch")

if not has_logs:
    others = ", ".join(sorted(info)) or "none"
    st.info(f"No production logs of {version} in `{ws.production_dir}` "
            f"(versions with logs: {others}). Pick a deployed version in the sidebar.", icon="ℹ️")
    st.stop()

raw = ui.guarded(lambda: _drift(str(ws.root), version_, logs.fingerprint()), "Computing PSI")
if not raw:
    st.stop()
results = {d: DriftResult.from_dict(r) for d, r in raw.items()}
days = sorted(results)
features = list(results[days[-1]].features)

# ---------------------------------------------------------------- heatmap
matrix = [[results[d].features[f].psi if f in results[d].features else None for d in days]
          for f in features]
st.plotly_chart(psi_heatmap(days, features, matrix, warn=dp.psi_warn, alert=dp.psi_alert),
                width="stretch", key="psi_heatmap")
latest = results[days[-1]]
red = ", ".join(latest.alerting) or "none"
amber = ", ".join(latest.warning) or "none"
st.caption(f"Last day {days[-1]}: red {red}; amber {amber}. PSI against the package's "
           "reference profile "
           f"(reference-quantile bins, NaN bin, epsilon {dp.epsilon:g}); amber ≥ {dp.psi_warn:g}, "
           f"red ≥ {dp.psi_alert:g}.")

# ---------------------------------------------------------------- one feature, one day
st.markdown("### Reference vs current distribution")
c1, c2 = st.columns(2)
ranked = sorted(features, key=lambda f: -(latest.features[f].psi or 0))
feature = c1.selectbox("Feature", ranked, key="drift_feature")
chosen_day = c2.selectbox("Day", list(reversed(days)), key="drift_day")
fd = results[chosen_day].features[feature]
st.plotly_chart(
    distribution_bars(fd.bins, fd.reference, fd.current,
                      title=f"{feature} on {chosen_day}: PSI {fd.psi:.3f} ({fd.status})"),
    width="stretch", key="drift_distribution",
)
st.dataframe(pd.DataFrame({"bin": fd.bins, "reference": fd.reference, "current": fd.current}),
             hide_index=True, width="stretch")

# ---------------------------------------------------------------- predictions
st.markdown("### Prediction distribution")
pred = [(d, results[d].prediction) for d in days if results[d].prediction is not None]
if pred:
    st.plotly_chart(prediction_stability([d for d, _ in pred], [p.psi for _, p in pred if p],
                                         warn=dp.psi_warn, alert=dp.psi_alert),
                    width="stretch", key="prediction_psi")
    first = pred[0][1]
    assert first is not None
    st.plotly_chart(prediction_shares([d for d, _ in pred], first.bins,
                                      [p.current for _, p in pred if p], first.reference),
                    width="stretch", key="prediction_shares")

# ---------------------------------------------------------------- stored checks
st.markdown("### Stored daily checks")
records = ui.guarded(lambda: list_daily(ws, version), "Reading daily checks") or []
if records:
    st.dataframe(pd.DataFrame([{
        "date": r.date, "status": r.status, "requests": r.rows, "errors": r.errors,
        "P99 ms": r.latency.get("p99"),
        "prediction PSI": r.drift.prediction.psi if r.drift and r.drift.prediction else None,
        "max feature PSI": r.drift.max_psi if r.drift else None,
        "alerts": ", ".join(a["kind"] for a in r.alerts),
    } for r in reversed(records)]), hide_index=True, width="stretch")
else:
    st.caption("No daily checks stored yet for this version: run one above, or "
               "`deployready daily` from cron.")
