"""Certification: metric trajectories across retrains, streak, CV folds, entropy, expansion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from deployready.charts.readiness import cv_folds, feature_bars, metric_trajectory, streak_strip
from deployready.checks import format_value, pass_fail, status_glyph
from deployready.policy import Policy

ui.setup_page("Certification", "🎓")
ws, version = ui.sidebar()
st.title("🎓 Certification")

policy: Policy = ui.policy_or_stop(ws)
cert = policy.certification

found = ws.history_path()
if found is None:
    st.info(
        f"No certification history in `{ws.certification_dir}` (expected history.csv, .parquet "
        "or .jsonl). Record retrain runs with `deployready.record_run(...)`."
    )
    st.stop()
assert found is not None
path: Path = found

from deployready.certification.checks import history_evaluations  # noqa: E402
from deployready.certification.runs import RunEvaluations  # noqa: E402
from deployready.certification.view import CertificationView  # noqa: E402
from deployready.stacks.links import mlflow_links_of, package_link  # noqa: E402

# The most recent runs drawn one by one (streak strip, CV boxes); every run elsewhere.
RECENT_RUNS = 40


@st.cache_resource(show_spinner=False, max_entries=4)
def _history(
    path: str, signature: ui.FileSignature, _policy: Policy
) -> tuple[pd.DataFrame, RunEvaluations]:
    """The validated history and each run's evaluation; ``signature`` covers the history
    and the policy file, so an edit to either is a cache miss.

    A resource cache (shared, not copied): this page only reads the frame and the
    evaluations, and unpickling a copy of 10,000 evaluated runs on every rerun would
    cost seconds."""
    return history_evaluations(Path(path), _policy)  # shared with the Overview's score


loaded = ui.guarded(
    lambda: _history(str(path), ui.files_signature([path, ws.policy_path]), policy),
    "Reading the certification history",
)
if loaded is None or not loaded[1]:
    st.stop()
assert loaded is not None

package_run = None
meta: dict[str, Any] | None = None
if version:
    from deployready.package.manifest import read_metadata

    package = ws.package_path(version)
    meta = ui.guarded(lambda: read_metadata(package), "Reading package metadata")
    package_run = (meta or {}).get("run_id") or None

view = CertificationView(loaded[1], package_run=package_run)
run_ids, times, green = view.run_ids, view.times, view.green
upto = view.focus

c1, c2, c3 = st.columns(3)
c1.metric("Retrain runs", len(run_ids))
c2.metric(
    f"Consecutive green (need {cert.consecutive_green})",
    view.streak,
    help=f"Green runs in a row ending at {upto}",
)
c3.metric("Package run", package_run or "—", help=f"run_id in {version}/model_metadata.json")
links = mlflow_links_of(loaded[0])
link = package_link(meta or {}, links)
if link:
    st.caption(f"Package run {package_run} came from MLflow run "
               f"`{link['mlflow_run_id']}` (model `{link['mlflow_model_uri'] or '—'}`).")
if view.package_run_missing:
    st.error(f"{version} was trained in run {package_run}, which is not in {path.name}.")

recent = view.recent(RECENT_RUNS)
if len(run_ids) > RECENT_RUNS:
    st.caption(
        f"Streak strip and CV folds: the {RECENT_RUNS} runs up to {upto} "
        f"(of {len(run_ids):,}); the metric charts and the table below show every run."
    )
ui.chart(
    streak_strip(run_ids[recent], green[recent], cert.consecutive_green), key="streak"
)



@st.cache_resource(show_spinner=False, max_entries=4)
def _trajectories(path: str, signature: ui.FileSignature, _view: CertificationView,
                  _policy: Policy) -> dict[str, Any]:
    """Each policy metric's trajectory over every run, built once per history and policy
    (``signature``, as :func:`_history`): 10,000 points a figure, seconds to validate on
    every rerun. Shared figures: drawing one only reads it."""
    return {
        name: metric_trajectory(
            _view.run_ids,
            _view.times,
            _view.metric_values(name),
            _view.metric_passed(name),
            metric=name,
            threshold=rule.threshold,
            direction=rule.direction,
        )
        for name, rule in _policy.certification.metrics.items()
    }


st.markdown("### Metrics across retrains")
cols = st.columns(2)
trajectories = _trajectories(str(path), ui.files_signature([path, ws.policy_path]), view, policy)
for i, (name, fig) in enumerate(trajectories.items()):
    ui.chart(fig, key=f"metric-{name}", where=cols[i % 2])

st.markdown("### Time-series cross-validation")
folds = {e.run_id: e.cv_fold_scores for e in view.runs[recent]}
ui.chart(
    cv_folds(folds, min_fold_score=cert.cv.min_fold_score, metric=cert.cv.metric), key="cv"
)

selected = st.selectbox("Run", run_ids, index=view.index(upto), key="cert_run")
evaluation = view.run(selected)

left, right = st.columns(2)
with left:
    ui.chart(
        feature_bars(
            evaluation.feature_entropy,
            title=f"Normalized feature entropy — {selected}",
            threshold=cert.entropy.min_normalized,
        ),
        key="entropy",
    )
with right:
    if evaluation.cv_folds:
        st.markdown("**CV fold windows** (train must end before test starts)")
        st.dataframe(pd.DataFrame(evaluation.cv_folds), hide_index=True, width="stretch")
    st.markdown("**Data expansion**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "check": "synthetic ratio",
                    "value": evaluation.synthetic_ratio,
                    "threshold": f"≤ {cert.expansion.max_synthetic_ratio:g}×",
                },
                {
                    "check": "noise",
                    "value": evaluation.noise,
                    "threshold": f"≤ {cert.expansion.max_noise:g}",
                },
            ]
        ),
        hide_index=True,
        width="stretch",
    )

st.markdown(f"### Checks of run {selected}")
st.dataframe(
    pd.DataFrame(
        [
            {
                "": status_glyph(c.status),
                "check": c.name,
                "value": format_value(c.value),
                "threshold": c.threshold,
                "finding": c.message,
            }
            for c in evaluation.checks
        ]
    ),
    hide_index=True,
    width="stretch",
)

st.markdown("### All runs")
table = pd.DataFrame(
    {
        "run": run_ids,
        "trained at": times,
        "green": [status_glyph(pass_fail(g)) for g in green],
        "failing": ["; ".join(names) for names in view.failing],
    }
)
if links:
    table["MLflow run"] = [links.get(r, {}).get("mlflow_run_id", "") for r in run_ids]
    table["MLflow model"] = [links.get(r, {}).get("mlflow_model_uri", "") for r in run_ids]
st.dataframe(table, hide_index=True, width="stretch")
