"""Performance: realized vs estimated per prediction day, label coverage and delay,
importance stability and the retrain recommendation — the engine's report, laid out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import ui
from deployready.charts.performance import (
    importance_bars,
    label_coverage,
    label_delays,
    performance_trend,
)
from deployready.checks import Status, format_value, status_glyph, status_text
from deployready.performance.api import PerformanceReport
from deployready.performance.join import JoinedPredictions

#: Why the estimate and the labels can disagree, in one sentence.
CONCEPT_NOTE = (
    "The estimate reads only the model's scores, so it follows a change in the inputs "
    "(covariate shift moves the scores) but cannot see a change in how the inputs relate to "
    "the label (a concept change), which only the labels show: where realized performance "
    "falls below the estimate, suspect a concept change."
)

ui.setup_page("Performance", "📈")
ws, version = ui.sidebar(deployed=True)
st.title("📈 Performance")
ui.require_versions(ws)
assert version is not None
version_: str = version

policy = ui.policy_or_stop(ws)
perf = policy.performance
rules = policy.certification.metrics

info = ui.guarded(lambda: ui.log_versions(ws), "Reading the production logs")
if info is None:
    st.stop()
assert info is not None
ui.stop_without_logs(ws, version, info)

# ---------------------------------------------------------------- period and metric
first: date = pd.Timestamp(info[version]["first"]).date()
last: date = pd.Timestamp(info[version]["last"]).date()
c1, c2 = st.columns([2, 1])
period = c1.date_input("Prediction days (UTC)",
                       value=(max(first, last - timedelta(days=29)), last),
                       min_value=first, max_value=last, key="performance_period")
names = list(rules)
metric = c2.selectbox("Metric", names, index=names.index("roc_auc") if "roc_auc" in names else 0,
                      key="performance_metric")
if isinstance(period, tuple) and len(period) == 2:
    start, end = period
else:
    start = end = period if isinstance(period, date) else last


@st.cache_data(show_spinner=False, max_entries=16)
def _performance(root: str, version: str, start: str, end: str, today: str,
                 evidence: str) -> tuple[JoinedPredictions, PerformanceReport]:
    """The labels joined to the logs and the report on them. ``today`` is in the key:
    which days are provisional changes with the date; ``evidence`` (one digest of their
    signatures) covers the logs, the label files, the policy and the package."""
    from deployready.performance.api import performance_report
    from deployready.performance.join import joined_predictions
    from deployready.times import day_bounds
    from deployready.workspace import Workspace

    ws = Workspace.open(root)
    joined = joined_predictions(ws, version, day_bounds(start)[0], day_bounds(end)[1])
    return joined, performance_report(ws, version, start, end, joined=joined)


with st.spinner("Joining the labels and computing performance…"):
    data = ui.guarded(lambda: _performance(
        str(ws.root), version_, start.isoformat(), end.isoformat(),
        datetime.now(UTC).date().isoformat(), ui.evidence_key(ws, version_),
    ), "Reading the labels and computing performance")
if data is None:
    st.stop()
assert data is not None
joined, report = data
realized, estimated, cal = report.realized, report.estimated, report.calibration

# ---------------------------------------------------------------- where the labels stand
if not joined.files:
    st.info(f"No label files in `{ws.labels_dir}` yet: every day is pending. The estimate "
            "below needs no labels.", icon="ℹ️")
no_id = int(joined.no_id.sum())
if no_id:
    st.warning(f"{no_id:,} logged predictions carry no request id (logs written before ids): "
               "they count in label coverage, but no label can join them.", icon="⚠️")
if joined.unmatched:
    st.caption(f"{joined.unmatched:,} label(s) match no logged prediction and are not used.")

pending = [d for d in realized if d.status is Status.PENDING]
provisional = [d for d in realized if d.provisional]
judged = [d for d in realized if d.status is not Status.PENDING]
error = report.estimate_error.get(metric)
m = st.columns(5)
m[0].metric("Labelled predictions", f"{joined.labelled:,}",
            help=f"{len(joined.files)} label file(s) in {ws.labels_dir}")
m[1].metric("Days judged", f"{len(judged)} of {len(realized)}",
            help=f"at least {perf.min_labelled} labels and {perf.min_coverage:.0%} coverage")
m[2].metric("Pending days", f"{len(pending)}", help="too few labels to judge yet")
m[3].metric("Provisional days", f"{len(provisional)}",
            help=f"labels may still arrive: final {perf.label_window_days} days after the day")
m[4].metric(f"Estimate error ({metric})",
            "unreliable" if not cal.reliable else format_value(error),
            help="mean |estimate − realized| over the days that have both")

# ---------------------------------------------------------------- per day
rule = rules[metric]
ui.chart(performance_trend(realized, estimated, metric, op=rule.op,
                           threshold=rule.threshold, confidence=perf.confidence),
         key="performance_trend")
if pending:
    st.caption(f"{status_glyph(Status.PENDING)} Pending (too few labels, hatched): "
               + ", ".join(d.day.isoformat() for d in pending))
if provisional:
    st.caption(f"Provisional (labels may still arrive, hollow markers): {len(provisional)} "
               f"day(s), {provisional[0].day.isoformat()} … {provisional[-1].day.isoformat()}; "
               f"final from {provisional[0].final_on.isoformat()} on.")
left, right = st.columns(2)
with left:
    ui.chart(label_coverage(realized, min_coverage=perf.min_coverage), key="performance_coverage")
with right:
    ui.chart(label_delays(joined.frame, window_days=perf.label_window_days),
             key="performance_delays")

by_day = {e.day: e for e in estimated}
rows = []
for day in realized:
    fig = day.metrics.get(metric)
    est = by_day.get(day.day)
    guess = est.values.get(metric) if est is not None else None
    rows.append({
        "": status_glyph(day.status), "day": day.day.isoformat(),
        "realized": status_text(day.status),
        metric: format_value(fig.value if fig is not None else None),
        "CI": "—" if fig is None or fig.low is None else f"[{fig.low:.4g}, {fig.high:.4g}]",
        "labelled": day.counts.labelled, "predictions": day.counts.predictions,
        "coverage": f"{day.counts.coverage:.1%}",
        "labels": (f"provisional until {day.final_on.isoformat()}" if day.provisional
                   else "final"),
        "estimated": ("unreliable" if not cal.reliable and guess is None
                      else format_value(guess)),
        "estimate": status_text(est.status) if est is not None else "—",
        "finding": day.finding,
    })
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

# ---------------------------------------------------------------- the estimate
st.markdown("### The estimate against the labels")
if not cal.reliable:
    st.warning(f"**Estimate unreliable.** {cal.reason}", icon="⚠️")
else:
    st.caption(f"CBPE: scores calibrated (isotonic) on {cal.rows:,} labelled holdout rows of "
               f"the package; cross-fitted calibration error {format_value(cal.error)} "
               f"(at most {perf.max_calibration_error:g}).")
st.dataframe(pd.DataFrame([{
    "metric": name, "threshold": f"{r.op} {r.threshold:g}",
    "mean |estimate − realized|": ("unreliable" if not cal.reliable
                                   else format_value(report.estimate_error.get(name))),
} for name, r in rules.items()]), hide_index=True, width="stretch")
st.info(CONCEPT_NOTE, icon="💡")

# ---------------------------------------------------------------- importance
st.markdown("### Feature importance stability")
importance = report.importance
if importance is None:
    st.caption("Not in this report: importance stability explains a sample of the week's "
               "production feature rows.")
else:
    ui.chart(importance_bars(importance, top_k=perf.importance_top_k), key="performance_importance")
    st.dataframe(pd.DataFrame([{
        "": status_glyph(c.status), "check": c.name, "value": format_value(c.value),
        "threshold": c.threshold, "finding": c.message} for c in importance.checks]),
        hide_index=True, width="stretch")

# ---------------------------------------------------------------- retrain
st.markdown("### Retrain decision")
decision = report.retrain
show = {"retrain": st.error, "watch": st.warning}.get(decision.recommendation, st.success)
show(f"**{decision.recommendation.capitalize()}** for {report.version} over "
     f"{start.isoformat()} … {end.isoformat()}.")
st.markdown("\n".join(f"- {reason}" for reason in decision.reasons))
