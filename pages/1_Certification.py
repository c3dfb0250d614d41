"""Certification: metric trajectories across retrains, streak, CV folds, entropy, expansion."""

from __future__ import annotations

import json
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

from deployready.certification.checks import (  # noqa: E402
    RunEvaluation,
    history_evaluations,
    streak,
)

# The most recent runs drawn one by one (streak strip, CV boxes); every run elsewhere.
RECENT_RUNS = 40


@st.cache_resource(show_spinner=False, max_entries=4)
def _history(
    path: str, signature: ui.FileSignature, _policy: Policy
) -> tuple[pd.DataFrame, list[RunEvaluation]]:
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
if loaded is None or loaded[0].empty:
    st.stop()
assert loaded is not None
history, evaluations = loaded


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        parsed = json.loads(value)
        return list(parsed) if isinstance(parsed, list) else []
    return list(value) if value is not None else []


def _as_dict(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        parsed = json.loads(value)
        return dict(parsed) if isinstance(parsed, dict) else {}
    return dict(value) if value is not None else {}


package_run = None
if version:
    from deployready.package.manifest import read_metadata

    package = ws.package_path(version)
    meta = ui.guarded(lambda: read_metadata(package), "Reading package metadata")
    package_run = (meta or {}).get("run_id") or None

run_ids = [str(r) for r in history["run_id"]]
times = [str(t) for t in history["trained_at"]]
green = [e.green for e in evaluations]
upto = package_run if package_run in run_ids else run_ids[-1]
current_streak = streak(evaluations, upto)

c1, c2, c3 = st.columns(3)
c1.metric("Retrain runs", len(run_ids))
c2.metric(
    f"Consecutive green (need {cert.consecutive_green})",
    current_streak,
    help=f"Green runs in a row ending at {upto}",
)
c3.metric("Package run", package_run or "—", help=f"run_id in {version}/model_metadata.json")
if package_run and package_run not in run_ids:
    st.error(f"{version} was trained in run {package_run}, which is not in {path.name}.")

upto_index = run_ids.index(upto)
recent = slice(max(0, upto_index + 1 - RECENT_RUNS), upto_index + 1)
if len(run_ids) > RECENT_RUNS:
    st.caption(
        f"Streak strip and CV folds: the {RECENT_RUNS} runs up to {upto} "
        f"(of {len(run_ids):,}); the metric charts and the table below show every run."
    )
st.plotly_chart(
    streak_strip(run_ids[recent], green[recent], cert.consecutive_green), key="streak"
)

st.markdown("### Metrics across retrains")
cols = st.columns(2)
for i, (name, rule) in enumerate(cert.metrics.items()):
    if name not in history.columns:
        cols[i % 2].warning(f"Metric `{name}` is not in {path.name}.")
        continue
    passed = [
        bool(check and check.passed)
        for check in (
            next((c for c in e.checks if c.name.startswith(name)), None) for e in evaluations
        )
    ]
    fig = metric_trajectory(
        run_ids,
        times,
        history[name].astype(float).tolist(),
        passed,
        metric=name,
        threshold=rule.threshold,
        direction=rule.direction,
    )
    cols[i % 2].plotly_chart(fig, key=f"metric-{name}")

st.markdown("### Time-series cross-validation")
folds = {
    rid: [float(x) for x in _as_list(v)]
    for rid, v in zip(
        run_ids[recent], history["cv_fold_scores"].iloc[recent], strict=True
    )
}
st.plotly_chart(
    cv_folds(folds, min_fold_score=cert.cv.min_fold_score, metric=cert.cv.metric), key="cv"
)

selected = st.selectbox("Run", run_ids, index=run_ids.index(upto), key="cert_run")
row = history.iloc[run_ids.index(selected)]
evaluation = evaluations[run_ids.index(selected)]

left, right = st.columns(2)
with left:
    entropy = _as_dict(row.get("feature_entropy"))
    st.plotly_chart(
        feature_bars(
            entropy,
            title=f"Normalized feature entropy — {selected}",
            threshold=cert.entropy.min_normalized,
        ),
        key="entropy",
    )
with right:
    bounds = _as_list(row.get("cv_folds"))
    if bounds:
        st.markdown("**CV fold windows** (train must end before test starts)")
        st.dataframe(pd.DataFrame(bounds), hide_index=True, width="stretch")
    st.markdown("**Data expansion**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "check": "synthetic ratio",
                    "value": float(row["synthetic_ratio"]),
                    "threshold": f"≤ {cert.expansion.max_synthetic_ratio:g}×",
                },
                {
                    "check": "noise",
                    "value": float(row["noise"]),
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
        "failing": ["; ".join(c.name for c in e.checks if not c.passed) for e in evaluations],
    }
)
st.dataframe(table, hide_index=True, width="stretch")
