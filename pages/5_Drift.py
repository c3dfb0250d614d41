"""Drift: PSI heatmap (features × days), distributions, prediction stability, daily check."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import identity, ui
from deployready.charts.monitoring import (
    distribution_bars,
    prediction_shares,
    prediction_stability,
    psi_heatmap,
)
from deployready.checks import format_value, status_glyph
from deployready.monitoring.daily import RAW_ROWS_SHOWN, DailyRecord, raw_day_rows
from deployready.monitoring.daily_store import daily_summaries
from deployready.monitoring.drift import DriftResult
from deployready.monitoring.drift_history import DriftHistory, drift_history, drift_of_day

ui.setup_page("Drift", "🌊")
ws, version = ui.sidebar(deployed=True)
st.title("🌊 Drift")
ui.require_versions(ws)
assert version is not None
version_: str = version

policy = ui.policy_or_stop(ws)
dp = policy.drift

_FLASH = "drift_daily_result"


@st.cache_resource(show_spinner=False, max_entries=8)
def _history(root: str, version: str, fingerprint: Any) -> DriftHistory:
    """PSI per logged day and feature. ``fingerprint`` covers the logs, the policy and the
    package (its reference profile). A resource cache (shared, not copied): the page only
    reads it."""
    from deployready.workspace import Workspace

    return drift_history(Workspace.open(root), version)


@st.cache_resource(show_spinner=False, max_entries=32)
def _day(root: str, version: str, day: str, fingerprint: Any) -> DriftResult | None:
    """One day's exact drift, from that day's counts (``fingerprint`` as above)."""
    from deployready.workspace import Workspace

    return drift_of_day(Workspace.open(root), version, day)


info = ui.guarded(lambda: ui.log_versions(ws), "Reading the production logs")
if info is None:
    st.stop()
assert info is not None
has_logs = version in info

# ---------------------------------------------------------------- daily check button
with st.form("daily_check"):
    st.markdown("### Run the daily check")
    default_day = pd.Timestamp(info[version]["last"]).date() if has_logs else date.today()
    day = st.date_input("Day (UTC)", value=default_day, key="daily_day")
    submitted = st.form_submit_button("Run daily check", type="primary")
if submitted:
    # imported when asked for: its performance part pulls in scikit-learn (~3 s cold)
    from deployready.performance.daily import run_daily

    with st.spinner("Checking latency, errors and drift…"):
        record = ui.guarded(lambda: (identity.require_action(ws, "daily", version_, policy),
                                     run_daily(ws, version_, day))[1], "The daily check")
    if record is not None:
        st.session_state[_FLASH] = record.as_dict()
flash = st.session_state.get(_FLASH)
if flash and flash.get("version") == version:
    result = DailyRecord.from_dict(flash)
    text = (f"Daily check {result.date} for {result.version}: **{result.status.upper()}** — "
            f"{result.rows} requests, {result.errors} errors, {len(result.alerts)} alert(s).")
    {"ok": st.success, "alert": st.error}.get(result.status, st.warning)(text)
    st.dataframe(pd.DataFrame([{
        "": status_glyph(c.status), "check": c.name,
        "value": format_value(c.value), "threshold": c.threshold,
        "finding": c.message} for c in result.checks]), hide_index=True, width="stretch")
    if result.alerts:
        st.dataframe(pd.DataFrame(result.alerts), hide_index=True, width="stretch")

ui.stop_without_logs(ws, version, info)

fingerprint = ui.guarded(lambda: (
    ui.log_key(ws),
    ui.files_signature([ws.policy_path, *ws.package_path(version_).glob("*")]),
), "Reading the production logs")
history = ui.guarded(lambda: _history(str(ws.root), version_, fingerprint), "Computing PSI")
if fingerprint is None or history is None or not history.days:
    st.stop()
assert history is not None
days = [d.isoformat() for d in history.days]


def day_result(day: str) -> DriftResult | None:
    """One day's exact result, computed when shown."""
    return ui.guarded(lambda: _day(str(ws.root), version_, day, fingerprint), "Computing PSI")


# ---------------------------------------------------------------- heatmap
ui.chart(psi_heatmap(days, history.features, history.matrix(), warn=dp.psi_warn,
                     alert=dp.psi_alert), key="psi_heatmap")
latest = day_result(days[-1])
if latest is None:
    st.stop()
assert latest is not None
red = ", ".join(latest.alerting) or "none"
amber = ", ".join(latest.warning) or "none"
st.caption(f"Last day {days[-1]}: red {red}; amber {amber}. PSI against the package's "
           "reference profile "
           f"(reference-quantile bins, NaN bin, epsilon {dp.epsilon:g}); amber ≥ {dp.psi_warn:g}, "
           f"red ≥ {dp.psi_alert:g}.")

# ---------------------------------------------------------------- one feature, one day
st.markdown("### Reference vs current distribution")
c1, c2 = st.columns(2)
on_latest = latest.features
ranked = sorted(on_latest, key=lambda f: -(on_latest[f].psi or 0))
feature = c1.selectbox("Feature", ranked, key="drift_feature")
chosen_day = c2.selectbox("Day", list(reversed(days)), key="drift_day")
chosen = day_result(chosen_day)
fd = chosen.features.get(feature) if chosen is not None else None
if fd is not None:
    ui.chart(
        distribution_bars(fd.bins, fd.reference, fd.current,
                          title=f"{feature} on {chosen_day}: PSI {fd.psi:.3f} ({fd.status})"),
        key="drift_distribution",
    )
    st.dataframe(pd.DataFrame({"bin": fd.bins, "reference": fd.reference,
                               "current": fd.current}), hide_index=True, width="stretch")
else:
    st.caption(f"No successful request of {version_} counted `{feature}` on {chosen_day}.")
st.caption("Counts from the profiles (exact: the package's reference bins). The raw log rows "
           "stay the source of truth:")
if st.toggle(f"Raw rows of {chosen_day}", key="drift_raw_rows"):
    rows = ui.guarded(lambda: raw_day_rows(ws, version_, date.fromisoformat(chosen_day)),
                      "Reading the raw log rows")
    if rows is not None:
        st.caption(f"{len(rows):,} rows of {version_} on {chosen_day} (UTC), first "
                   f"{min(len(rows), RAW_ROWS_SHOWN):,} shown; feature `{feature}` first.")
        front = ["timestamp", "latency_ms", "prediction", "error", feature]
        shown = rows[[*front, *(c for c in rows.columns if c not in front)]]
        st.dataframe(shown.head(RAW_ROWS_SHOWN), hide_index=True, width="stretch")

# ---------------------------------------------------------------- predictions
st.markdown("### Prediction distribution")
if history.has_prediction:
    ui.chart(prediction_stability(days, history.prediction_values(),
                                  warn=dp.psi_warn, alert=dp.psi_alert), key="prediction_psi")
    ui.chart(prediction_shares(days, history.prediction_bins,
                               history.prediction_current.tolist(),
                               history.prediction_reference), key="prediction_shares")

# ---------------------------------------------------------------- stored checks
st.markdown("### Stored daily checks")


@st.cache_data(show_spinner=False, max_entries=16)
def _stored(root: str, version: str, signature: ui.FileSignature) -> list[dict[str, Any]]:
    """The stored-checks table; ``signature`` covers the store (database and WAL)."""
    from deployready.workspace import Workspace

    return [{
        "date": s.date, "status": s.status, "requests": s.rows, "errors": s.errors,
        "P99 ms": s.p99, "prediction PSI": s.prediction_psi, "max feature PSI": s.max_psi,
        "alerts": ", ".join(s.alert_kinds),
    } for s in reversed(daily_summaries(Workspace.open(root), version))]


store_files = [ws.store_path, ws.store_path.with_name(ws.store_path.name + "-wal")]
records = ui.guarded(lambda: _stored(str(ws.root), version_, ui.files_signature(store_files)),
                     "Reading daily checks") or []
if records:
    st.dataframe(pd.DataFrame(records), hide_index=True, width="stretch")
else:
    st.caption("No daily checks stored yet for this version: run one above, or "
               "`deployready daily` from cron.")
