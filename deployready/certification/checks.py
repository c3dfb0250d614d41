"""Certification: the checks computed from recorded retrain runs.

A *retrain run* is one row of ``data/certification/history.{csv,parquet,jsonl}``
(read and written by :mod:`deployready.certification.history`).
:func:`~deployready.certification.training.record_run` computes every number of a row
from a model and
a time-ordered dataset — nothing in the history is typed by hand — and appends it
atomically. :func:`certification_checks` turns the row of the run a package was trained
in (its ``model_metadata.json`` ``run_id``) into the certification checks of the
readiness score; each run's own checks are computed by
:func:`~deployready.certification.evaluation.evaluate_run`. This module re-exports the
history and evaluation names it used to define (:data:`__all__`).

Definitions (the metrics themselves are defined in
:mod:`deployready.certification.metrics`, the test
split and the CV folds in :mod:`deployready.certification.training`):

- **Metric checks.** Every policy metric, computed on the real rows of the run's test
  split, against its threshold.
- **Time-series CV.** The folds are made by ``TimeSeriesSplit(n_splits=cv.min_folds)``
  on the training part, scored with ``cv.metric`` on real, purged test rows, each with
  its ``train_start``, ``train_end``, ``test_start``, ``test_end`` bounds stored. The CV
  check passes when there are at least ``min_folds`` folds, the population standard
  deviation (``ddof = 0``) of the fold scores is ``<= max_fold_std``, the lowest fold
  score is ``>= min_fold_score``, every fold's training window ends strictly before its
  test window starts (no leakage), and every test window starts strictly after the
  previous fold's test window ends.
- **Feature entropy** of the training features (real and synthetic rows); passes when
  every feature's normalized entropy is ``>= entropy.min_normalized``.
- **Synthetic ratio** ``= (real + synthetic training rows) / real training rows``;
  passes when ``<= expansion.max_synthetic_ratio``.
- **Noise**: median over synthetic training rows of the RMS per-numeric-feature distance
  (in units of the real rows' per-feature std, missing values imputed by the real rows'
  median) to the nearest real training row; 0 without synthetic rows; passes when
  ``<= expansion.max_noise`` (0.02 = 2 % of a standard deviation).
- **Green run**: every check above passes. The streak of a run is the number of
  consecutive green runs (in ``trained_at`` order) ending at that run.

The history columns are listed in :mod:`deployready.certification.history`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from deployready.certification.evaluation import (
    CV_CHECK,
    ENTROPY_CHECK,
    NOISE_CHECK,
    RATIO_CHECK,
    RunEvaluation,
    RunEvaluations,
    cv_failures,
    evaluate_history,
    evaluate_run,
    streak,
)
from deployready.certification.history import (
    append_run,
    load_history,
    resolve_history_path,
)
from deployready.certification.history_cache import history_evaluations
from deployready.certification.history_schema import (
    FOLD_KEYS,
    FORMATS,
    HISTORY_STEM,
    INT_COLUMNS,
    JSON_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    column_order,
    parse_time,
)
from deployready.certification.metrics import METRIC_NAMES, validate_policy_metrics
from deployready.checks import Category, Check, Evidence, Status
from deployready.policy import Policy
from deployready.workspace import Workspace

__all__ = [
    "CV_CHECK",
    "ENTROPY_CHECK",
    "FOLD_KEYS",
    "FORMATS",
    "HISTORY_STEM",
    "INT_COLUMNS",
    "JSON_COLUMNS",
    "METADATA_TOLERANCE",
    "NOISE_CHECK",
    "OPTIONAL_COLUMNS",
    "RATIO_CHECK",
    "REQUIRED_COLUMNS",
    "RunEvaluation",
    "append_run",
    "certification_checks",
    "column_order",
    "cv_failures",
    "evaluate_history",
    "evaluate_run",
    "history_evaluations",
    "load_history",
    "parse_time",
    "resolve_history_path",
    "streak",
]


METADATA_TOLERANCE = 1e-9


def _check_names(policy: Policy) -> list[str]:
    n = policy.certification.consecutive_green
    return [
        *policy.certification.metrics,
        f"{n} consecutive green retrains",
        CV_CHECK,
        ENTROPY_CHECK,
        RATIO_CHECK,
        NOISE_CHECK,
    ]


def _pending(policy: Policy, message: str) -> list[Check]:
    return [
        Check(
            name=n,
            category=Category.CERTIFICATION,
            status=Status.PENDING,
            value=None,
            threshold="",
            message=message,
        )
        for n in _check_names(policy)
    ]


def _display_path(ws: Workspace, path: Path) -> str:
    try:
        return path.relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def _run_detail(history: pd.DataFrame, row: pd.Series, run_id: str, row_number: int
                ) -> dict[str, Any]:
    """The evidence detail of the history row a package's checks are computed from."""
    detail: dict[str, Any] = {
        "run_id": run_id,
        "row": row_number,
        "metrics": {m: float(row[m]) for m in METRIC_NAMES if m in history.columns},
        "cv_metric": row["cv_metric"],
        "cv_fold_scores": row["cv_fold_scores"],
        "cv_folds": row["cv_folds"],
        "synthetic_ratio": float(row["synthetic_ratio"]),
        "noise": float(row["noise"]),
        "feature_entropy": row["feature_entropy"],
    }
    for column in (*INT_COLUMNS, "dataset_sha256", "model_version"):
        if column in history.columns and row[column] is not None:
            value = row[column]
            detail[column] = int(value) if column in INT_COLUMNS else str(value)
    return detail


def _agrees_with_metadata(
    check: Check, recorded: Mapping[str, Any], version: str, where: str, evidence: Evidence
) -> Check:
    """``check`` of a policy metric, failed when ``model_metadata.json`` records another
    value for it (by more than :data:`METADATA_TOLERANCE`)."""
    if check.name not in recorded:
        return check
    try:
        mine = float(recorded[check.name])
    except (TypeError, ValueError):
        mine = math.nan
    hist = float(check.value) if isinstance(check.value, int | float) else math.nan
    if abs(mine - hist) <= METADATA_TOLERANCE:
        return check
    return Check(
        name=check.name,
        category=check.category,
        status=Status.FAIL,
        value=check.value,
        threshold=check.threshold,
        evidence=evidence,
        message=f"The package and the history disagree: {version} records "
        f"{check.name} = {recorded[check.name]!r}, {where} has {hist!r}.",
    )


def _streak_check(
    evaluations: Sequence[RunEvaluation], run_id: str, need: int, evidence: Evidence
) -> Check:
    runs = RunEvaluations.of(evaluations)
    run_streak = streak(runs, run_id)
    ok = run_streak >= need
    return Check(
        name=f"{need} consecutive green retrains",
        category=Category.CERTIFICATION,
        status=Status.PASS if ok else Status.FAIL,
        value=run_streak,
        threshold=f">= {need}",
        message=f"{run_streak} green retrain run{'s' if run_streak != 1 else ''} in a row "
        f"end at {run_id}{'' if ok else f'; {need} are needed'}.",
        evidence=replace(evidence, detail={
            "run_id": run_id,
            "streak": run_streak,
            "green": dict(zip(runs.run_ids, runs.green, strict=True)),
        }),
    )


def certification_checks(
    ws: Workspace,
    version: str,
    package_sha256: str | None,
    metadata: Mapping[str, Any],
    policy: Policy,
) -> list[Check]:
    """The certification category of the readiness score for package ``version``.

    Order: one check per policy metric, the consecutive-green streak, time-series CV,
    feature entropy, synthetic ratio, noise. Without history, or when the package's
    ``run_id`` is not in it, every check is pending. A metric recorded in
    ``model_metadata.json`` (``metrics``) that differs from the history row by more
    than 1e-9 fails.
    """
    cert = policy.certification
    validate_policy_metrics(cert.metrics, cert.cv.metric)
    path = ws.history_path()
    if path is None:
        return _pending(
            policy,
            f"No certification history in {_display_path(ws, ws.certification_dir)} "
            "(history.csv, .parquet or .jsonl): record retrain runs with record_run().",
        )
    run_id = str(metadata.get("run_id") or "")
    if not run_id:
        return _pending(
            policy,
            f"model_metadata.json of {version} names no run_id, so no retrain run certifies it.",
        )
    history, evaluations = history_evaluations(path, policy)
    shown = _display_path(ws, path)
    matches = [i for i, r in zip(history.index, history["run_id"], strict=True) if r == run_id]
    if not matches:
        return _pending(
            policy, f"Run {run_id} of {version} is not in {shown}: its retrain evidence is missing."
        )
    recorded = metadata.get("metrics")
    package = _Package(version, package_sha256,
                       recorded if isinstance(recorded, Mapping) else {})
    return _run_checks(package, path, shown, int(matches[0]), history, evaluations, policy)


@dataclass(frozen=True)
class _Package:
    version: str
    sha256: str | None
    #: the ``metrics`` of its ``model_metadata.json``
    recorded: Mapping[str, Any]


def _run_checks(
    package: _Package,
    path: Path,
    shown: str,
    row_number: int,
    history: pd.DataFrame,
    evaluations: Sequence[RunEvaluation],
    policy: Policy,
) -> list[Check]:
    """The certification checks of the package trained in history row ``row_number``."""
    cert = policy.certification
    row = history.loc[row_number]
    run_id = str(row["run_id"])
    where = f"{shown} row {row_number}"
    evidence = Evidence(
        source=where,
        time=str(row["trained_at"]),
        package_sha256=package.sha256,
        detail=_run_detail(history, row, run_id, row_number),
    )
    evaluation = evaluate_run(row, policy, source=str(path), evidence=evidence)
    n_metrics = len(cert.metrics)
    checks = [_agrees_with_metadata(c, package.recorded, package.version, where, evidence)
              for c in evaluation.checks[:n_metrics]]
    up_to = Evidence(source=f"{shown} rows up to {row_number}", time=evidence.time,
                     package_sha256=package.sha256)
    checks.append(_streak_check(evaluations, run_id, cert.consecutive_green, up_to))
    return checks + evaluation.checks[n_metrics:]
