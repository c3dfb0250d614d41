"""The demo workspace: a model team's real workflow, run end to end on generated data.

``build_demo(DIR)`` writes the policy, trains and certifies eight retrain runs with
:func:`~deployready.certification.training.record_run` (the first four fail for real reasons: an
under-fitted model, a near-constant feature, too much synthetic data, too noisy
augmentation; the last four are green), exports ``v1.0`` and the retrained ``v1.1``
with :func:`~deployready.package.export.export_package`, records ``v1.0``'s earlier rollout,
writes 30 days of production logs made by ``v1.0``'s real model on drifting data (drift
in a few features over the last week, with a concept change there, one latency-spike
day, one error-spike day), the ground-truth labels that have arrived by the day after
the last one (:mod:`deployready.demo.labels`: most 3-10 days late, some never) and
backfills the daily checks, performance included. Nothing is invented: every number
comes from a model, a dataset or a measurement.

Dates are relative to ``end_date`` (default: yesterday, UTC) so the dashboard is current;
given the same ``end_date`` and ``seed`` the workspace is identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from deployready.certification.training import RunResult, record_run
from deployready.demo.data import make_dataset
from deployready.package.export import PackageInfo, export_package
from deployready.policy import POLICY_FILE, Policy, write_policy
from deployready.rollout.events import PROMOTE, append_event
from deployready.workspace import Workspace

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoRun:
    """One retrain of the demo's history."""

    days_before_end: int
    note: str
    max_iter: int = 120
    max_depth: int | None = 4
    constant_feature: bool = False
    synthetic_share: float = 0.0
    synthetic_noise: float = 0.0
    export: bool = False


RUNS: tuple[DemoRun, ...] = (
    DemoRun(240, "baseline: under-fitted (4 boosting rounds of depth 1)", max_iter=4, max_depth=1),
    DemoRun(200, "added legacy_flag (near-constant)", constant_feature=True),
    DemoRun(160, "doubled the data with synthetic rows", synthetic_share=1.0, synthetic_noise=0.01),
    DemoRun(120, "augmentation with 6 % jitter", synthetic_share=0.3, synthetic_noise=0.06),
    DemoRun(90, "augmentation 20 % at 1 % jitter", synthetic_share=0.2, synthetic_noise=0.01),
    DemoRun(70, "monthly retrain"),
    DemoRun(48, "monthly retrain; released as v1.0", export=True),
    DemoRun(14, "monthly retrain; candidate v1.1", export=True),
)

DATA_DAYS = 420  # history of the training dataset before end_date
ROWS = 22_000
PRODUCTION_DAYS = 30


def _model(run: DemoRun) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=run.max_iter,
        max_depth=run.max_depth,
        learning_rate=0.1,
        l2_regularization=1.0,
        random_state=0,
    )


def _iso(day: date, hour: int = 6) -> str:
    return datetime.combine(day, time(hour), tzinfo=UTC).isoformat()


def _train_frame(run: DemoRun, end: date, seed: int) -> pd.DataFrame:
    start = end - timedelta(days=DATA_DAYS)
    cutoff = end - timedelta(days=run.days_before_end + 1)
    frame = make_dataset(
        ROWS,
        start.isoformat(),
        (end - timedelta(days=12)).isoformat(),
        seed=seed,
        synthetic_share=run.synthetic_share,
        synthetic_noise=run.synthetic_noise,
        constant_feature=run.constant_feature,
    )
    cut = pd.Timestamp(cutoff.isoformat(), tz="UTC")
    return frame[frame["event_time"] < cut].reset_index(drop=True)


def _record_rollout(ws: Workspace, version: str, sha: str, end: date) -> None:
    """The rollout of v1.0 happened before these logs begin: record it as history."""
    stages = ws.policy().rollout.stages
    entered = end - timedelta(days=PRODUCTION_DAYS + 14)
    previous = 0
    with ws.store.transaction() as conn:
        for i, pct in enumerate(stages):
            append_event(
                conn,
                version=version,
                action=PROMOTE,
                from_pct=previous,
                to_pct=pct,
                allowed=True,
                actor="release-manager",
                reason=f"demo history: {version} promoted to {pct} %",
                evidence={"package_sha256": sha, "source": "demo history"},
                created_at=_iso(entered + timedelta(days=4 * i), 9),
            )
            previous = pct


def _loadtest(ws: Workspace, version: str, policy: Policy) -> str:
    """The deployed version's dry deployment: a real load test, its baseline for latency."""
    from deployready.loadtest import JobRegistry, LoadTestConfig

    config = LoadTestConfig.from_policy(version, policy.load_test)
    job, _ = JobRegistry().start(ws, config)
    snapshot = job.wait(timeout=policy.load_test.max_seconds + 60)
    if not snapshot.finished:
        job.cancel()
        return f"load test of {version}: did not finish in time, cancelled"
    return f"load test of {version}: {snapshot.status}"


def build_demo(
    root: str | Path,
    *,
    seed: int = 7,
    end_date: date | None = None,
    progress: Progress | None = None,
    loadtest: bool = True,
) -> list[str]:
    """Build the demo workspace in ``root``; returns a short summary, one line per step.

    ``loadtest=False`` skips the deployed version's dry deployment (a real load test of
    a few seconds); its latency drift check then has no baseline.
    """
    say = progress or (lambda _m: None)
    ws = Workspace.open(root)
    ws.root.mkdir(parents=True, exist_ok=True)
    end = end_date or (datetime.now(UTC).date() - timedelta(days=1))
    if not (ws.root / POLICY_FILE).exists():
        write_policy(ws.root)
    policy = ws.policy()
    summary: list[str] = []
    packages: list[PackageInfo] = []
    for i, run in enumerate(RUNS, 1):
        trained = end - timedelta(days=run.days_before_end)
        say(f"retrain {i}/{len(RUNS)} ({trained}): {run.note}")
        result = _retrain(ws, run, trained, end, seed, policy, len(packages))
        summary.append(f"run {result.run_id}: {_state(result)}")
        if run.export:
            say(f"exporting package from {result.run_id}")
            info = _export(ws, run, result, trained, policy)
            packages.append(info)
            summary.append(f"package {info.version} ({info.bump}) sha256 {info.sha256[:16]}")
    return summary + _production(ws, packages[0], end, seed, policy, say, loadtest)


def _retrain(ws: Workspace, run: DemoRun, trained: date, end: date, seed: int,
             policy: Policy, exported: int) -> RunResult:
    """One retrain of the history, recorded with ``record_run``."""
    return record_run(
        ws.certification_dir / "history.csv",
        _model(run),
        _train_frame(run, end, seed),
        target="target",
        time_column="event_time",
        policy=policy,
        trained_at=_iso(trained),
        notes=run.note,
        model_version="" if not run.export else f"v1.{exported}",
    )


def _state(result: RunResult) -> str:
    if result.evaluation.green:
        return "green"
    return "red: " + ", ".join(result.evaluation.failing)


def _export(ws: Workspace, run: DemoRun, result: RunResult, trained: date,
            policy: Policy) -> PackageInfo:
    """The package of a retrain, its real test rows as the holdout."""
    return export_package(
        ws,
        model=result.model,
        scaler=result.scaler,
        train=result.train,
        features=result.features,
        target_column="target",
        holdout=result.test[[*result.features, "target"]],
        run_id=result.run_id,
        metrics={k: float(result.row[k]) for k in policy.certification.metrics},
        description=f"Card-fraud risk model, {run.note}.",
        created_at=_iso(trained, 12),
        shap_max_rows=300,
        shap_time_budget_s=10.0,
    )


def _production(ws: Workspace, deployed: PackageInfo, end: date, seed: int, policy: Policy,
                say: Progress, loadtest: bool) -> list[str]:
    """The deployed version's life: its dry deployment, rollout, logs and daily checks."""
    summary: list[str] = []
    if loadtest:
        say(f"dry deployment of {deployed.version}: load test (closed loop)")
        summary.append(_loadtest(ws, deployed.version, policy))
    _record_rollout(ws, deployed.version, deployed.sha256, end)
    say(f"writing {PRODUCTION_DAYS} days of production logs for {deployed.version}")
    from deployready.demo.logs import write_demo_logs

    logs = write_demo_logs(ws, deployed.path, days=PRODUCTION_DAYS, end_date=end, seed=seed)
    summary.append(f"production logs: {logs.rows} predictions, {logs.start} .. {logs.end}")
    now = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
    if logs.truth is not None:
        say("writing the labels that have arrived (chargebacks, 3-10 days late)")
        from deployready.demo.labels import write_demo_labels

        labels = write_demo_labels(ws, logs.truth, now, seed=seed)
        summary.append(f"labels: {labels.labels} arrived, {labels.pending} still to come, "
                       f"{labels.never} never")

    say("backfilling the daily checks")
    from deployready.performance.daily import run_daily_range

    records = run_daily_range(ws, version=deployed.version, policy=policy, deliver=False,
                              now=now)
    red = sum(1 for r in records if not r.green)
    summary.append(f"daily checks: {len(records)} days, {red} with alerts")
    return summary
