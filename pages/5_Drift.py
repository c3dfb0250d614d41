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
from deployready.monitoring.daily import (
    RAW_ROWS_SHOWN,
    DailyRecord,
    drift_by_day,
    list_daily,
    raw_day_rows,
)
from deployready.monitoring.drift import DriftResult, FeatureDrift

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
def _drift(root: str, version: str, fingerprint: Any) -> dict[str, dict[str, Any]]:
    """PSI per logged day. ``fingerprint`` covers the logs, the policy and the package
    (its reference profile). A resource cache (shared, not copied): the page only reads
    it, and copying 365 days × 100 features on every rerun would cost about a second."""
    from deployready.workspace import Workspace

    found = drift_by_day(Workspace.open(root), version)
    return {d.isoformat(): r.as_dict() for d, r in found.items()}


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

raw = ui.guarded(lambda: _drift(str(ws.root), version_, (
    ui.log_key(ws),
    ui.files_signature([ws.policy_path, *ws.package_path(version_).glob("*")]),
)), "Computing PSI")
if not raw:
    st.stop()
assert raw is not None
by_day: dict[str, dict[str, Any]] = raw
days = sorted(by_day)
features = list(by_day[days[-1]]["features"])
_results: dict[str, DriftResult] = {}


def day_result(day: str) -> DriftResult:
    """One day's result, built only when shown (365 days × 100 features add up)."""
    if day not in _results:
        _results[day] = DriftResult.from_dict(by_day[day])
    return _results[day]


# ---------------------------------------------------------------- heatmap
matrix = [[by_day[d]["features"][f]["psi"] if f in by_day[d]["features"] else None for d in days]
          for f in features]
st.plotly_chart(psi_heatmap(days, features, matrix, warn=dp.psi_warn, alert=dp.psi_alert),
                width="stretch", key="psi_heatmap")
latest = day_result(days[-1])
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
fd = day_result(chosen_day).features[feature]
st.plotly_chart(
    distribution_bars(fd.bins, fd.reference, fd.current,
                      title=f"{feature} on {chosen_day}: PSI {fd.psi:.3f} ({fd.status})"),
    width="stretch", key="drift_distribution",
)
st.dataframe(pd.DataFrame({"bin": fd.bins, "reference": fd.reference, "current": fd.current}),
             hide_index=True, width="stretch")
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
pred: list[tuple[str, FeatureDrift | None]] = [
    (d, FeatureDrift.from_dict(by_day[d]["prediction"])) for d in days
    if by_day[d].get("prediction")
]
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


@st.cache_data(show_spinner=False, max_entries=16)
def _stored(root: str, version: str, signature: ui.FileSignature) -> list[dict[str, Any]]:
    """The stored-checks table; ``signature`` covers the store (database and WAL)."""
    from deployready.workspace import Workspace

    return [{
        "date": r.date, "status": r.status, "requests": r.rows, "errors": r.errors,
        "P99 ms": r.latency.get("p99"),
        "prediction PSI": r.drift.prediction.psi if r.drift and r.drift.prediction else None,
        "max feature PSI": r.drift.max_psi if r.drift else None,
        "alerts": ", ".join(a["kind"] for a in r.alerts),
    } for r in reversed(list_daily(Workspace.open(root), version))]


store_files = [ws.store_path, ws.store_path.with_name(ws.store_path.name + "-wal")]
records = ui.guarded(lambda: _stored(str(ws.root), version_, ui.files_signature(store_files)),
                     "Reading daily checks") or []
if records:
    st.dataframe(pd.DataFrame(records), hide_index=True, width="stretch")
else:
    st.caption("No daily checks stored yet for this version: run one above, or "
               "`deployready daily` from cron.")
