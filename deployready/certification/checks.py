"""Certification: the checks computed from recorded retrain runs.

A *retrain run* is one row of ``data/certification/history.{csv,parquet,jsonl}``
(read and written by :mod:`deployready.certification.history`).
:func:`~deployready.certification.training.record_run` computes every number of a row
from a model and
a time-ordered dataset — nothing in the history is typed by hand — and appends it
atomically. :func:`certification_checks` turns the row of the run a package was trained
in (its ``model_metadata.json`` ``run_id``) into the certification checks of the
readiness score. This module re-exports the history names it used to define
(:data:`__all__`).

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.history import (
    append_run,
    load_history,
    resolve_history_path,
)
from deployready.certification.history_schema import (
    FOLD_KEYS,
    FORMATS,
    HISTORY_FILE_EXPECTED,
    HISTORY_STEM,
    INT_COLUMNS,
    JSON_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    as_json,
    as_number,
    bounds_of,
    column_order,
    in_bounds,
    parse_time,
)
from deployready.certification.metrics import METRIC_NAMES, validate_policy_metrics
from deployready.checks import Category, Check, Evidence, Status, compare
from deployready.errors import HistoryError, require_file
from deployready.memo import FileMemo
from deployready.policy import CVPolicy, Policy
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
    "load_history",
    "parse_time",
    "resolve_history_path",
    "streak",
]


METADATA_TOLERANCE = 1e-9

CV_CHECK = "time-series CV"
ENTROPY_CHECK = "feature entropy"
RATIO_CHECK = "synthetic ratio"
NOISE_CHECK = "noise"


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class RunEvaluation:
    run_id: str
    trained_at: str
    checks: list[Check]
    green: bool


def cv_failures(
    scores: Sequence[float], folds: Sequence[Mapping[str, Any]], cv: CVPolicy
) -> list[str]:
    """Every failing CV condition, as sentences (empty when the CV check passes)."""
    failures: list[str] = []
    if len(scores) < cv.min_folds:
        failures.append(f"{len(scores)} folds, fewer than {cv.min_folds}")
    if scores:
        std = float(np.std(scores))
        if std > cv.max_fold_std:
            failures.append(f"fold std {std:.4f} > {cv.max_fold_std:g}")
        low = float(np.min(scores))
        if low < cv.min_fold_score:
            failures.append(f"lowest fold {cv.metric} {low:.4f} < {cv.min_fold_score:g}")
    if len(folds) != len(scores):
        failures.append(f"{len(folds)} fold windows recorded for {len(scores)} fold scores")
    previous_end: datetime | None = None
    for i, fold in enumerate(folds, start=1):
        t = {k: parse_time(fold[k]) for k in FOLD_KEYS}
        if t["train_start"] > t["train_end"] or t["test_start"] > t["test_end"]:
            failures.append(f"fold {i} has a window that ends before it starts")
        if not t["train_end"] < t["test_start"]:
            failures.append(
                f"fold {i} leaks: training ends {fold['train_end']}, not before its test window "
                f"starts {fold['test_start']}"
            )
        if previous_end is not None and not t["test_start"] > previous_end:
            failures.append(f"fold {i} test window does not start after fold {i - 1}'s ends")
        previous_end = t["test_end"]
    return failures


def _get(row: Mapping[str, Any] | pd.Series, column: str, source: str | None) -> Any:
    if column not in row:
        raise HistoryError(f"missing column {column}", source=source, location=f"column {column}")
    return row[column]


def _num(row: Mapping[str, Any] | pd.Series, column: str, source: str | None) -> float:
    value = _get(row, column, source)
    bounds = bounds_of(column)
    try:
        return in_bounds(as_number(value), bounds)
    except (ValueError, TypeError) as exc:
        raise HistoryError(
            f"bad value {value!r}: {exc}",
            source=source,
            location=f"run {row.get('run_id', '?')}, column {column}",
            expected="a finite number"
            + (f" in [{bounds[0]:g}, {bounds[1]:g}]" if bounds else ""),
        ) from None


def evaluate_run(
    row: Mapping[str, Any] | pd.Series,
    policy: Policy,
    *,
    source: str | None = None,
    evidence: Evidence | None = None,
) -> RunEvaluation:
    """The checks of one retrain run: policy metrics, CV, entropy, synthetic ratio, noise."""
    cert = policy.certification
    validate_policy_metrics(cert.metrics, cert.cv.metric)
    cat = Category.CERTIFICATION
    run_id = str(_get(row, "run_id", source))
    checks: list[Check] = []
    for name, rule in cert.metrics.items():
        value = _num(row, name, source)
        ok = compare(value, rule.op, rule.threshold)
        checks.append(
            Check(
                name=name,
                category=cat,
                status=Status.PASS if ok else Status.FAIL,
                value=value,
                threshold=f"{rule.op} {rule.threshold:g}",
                message=f"{name} = {value:.4f} on the test split, "
                f"{'meets' if ok else 'misses'} {rule.op} {rule.threshold:g}.",
                evidence=evidence,
            )
        )

    scores = [float(s) for s in as_json(_get(row, "cv_fold_scores", source))]
    folds = list(as_json(_get(row, "cv_folds", source)))
    failures = cv_failures(scores, folds, cert.cv)
    cv_metric = str(_get(row, "cv_metric", source))
    if cv_metric != cert.cv.metric:
        failures.insert(0, f"CV scored {cv_metric}, the policy asks for {cert.cv.metric}")
    summary = (
        f"{len(scores)} folds, {cv_metric} mean {np.mean(scores):.4f}, std {np.std(scores):.4f}, "
        f"min {np.min(scores):.4f}"
        if scores
        else "no folds"
    )
    checks.append(
        Check(
            name=CV_CHECK,
            category=cat,
            status=Status.FAIL if failures else Status.PASS,
            value=float(np.min(scores)) if scores else None,
            threshold=f">= {cert.cv.min_folds} folds, std <= {cert.cv.max_fold_std:g}, "
            f"min {cert.cv.metric} >= {cert.cv.min_fold_score:g}, time-ordered",
            message=(f"{summary}: " + "; ".join(failures) + ".")
            if failures
            else f"{summary}; every fold is time-ordered without leakage.",
            evidence=evidence,
        )
    )

    entropy = {
        str(k): float(v) for k, v in dict(as_json(_get(row, "feature_entropy", source))).items()
    }
    low = {k: v for k, v in entropy.items() if v < cert.entropy.min_normalized}
    floor = cert.entropy.min_normalized
    if not entropy:
        ent_msg, ent_ok = "No feature entropy recorded.", False
    elif low:
        named = ", ".join(f"{k} ({v:.3f})" for k, v in sorted(low.items(), key=lambda kv: kv[1]))
        ent_msg, ent_ok = f"Below {floor:g}: {named}.", False
    else:
        ent_msg, ent_ok = f"Every one of {len(entropy)} features is at or above {floor:g}.", True
    checks.append(
        Check(
            name=ENTROPY_CHECK,
            category=cat,
            status=Status.PASS if ent_ok else Status.FAIL,
            value=min(entropy.values()) if entropy else None,
            threshold=f">= {floor:g} for every feature",
            message=ent_msg,
            evidence=evidence,
        )
    )

    exp = cert.expansion
    ratio = _num(row, "synthetic_ratio", source)
    ok = ratio <= exp.max_synthetic_ratio
    checks.append(
        Check(
            name=RATIO_CHECK,
            category=cat,
            status=Status.PASS if ok else Status.FAIL,
            value=ratio,
            threshold=f"<= {exp.max_synthetic_ratio:g}",
            message=f"(real + synthetic) / real training rows = {ratio:.4f}"
            f"{'' if ok else f', above {exp.max_synthetic_ratio:g}'}.",
            evidence=evidence,
        )
    )
    noise = _num(row, "noise", source)
    ok = noise <= exp.max_noise
    checks.append(
        Check(
            name=NOISE_CHECK,
            category=cat,
            status=Status.PASS if ok else Status.FAIL,
            value=noise,
            threshold=f"<= {exp.max_noise:g}",
            message="No synthetic training rows (noise 0)."
            if ratio == 1.0 and noise == 0.0
            else f"Synthetic rows lie a median {noise:.4f} std (RMS) from the nearest real row"
            f"{'' if ok else f', above {exp.max_noise:g}'}.",
            evidence=evidence,
        )
    )
    return RunEvaluation(
        run_id=run_id,
        trained_at=str(_get(row, "trained_at", source)),
        checks=checks,
        green=all(c.passed for c in checks),
    )


def evaluate_history(df: pd.DataFrame, policy: Policy) -> list[RunEvaluation]:
    source = df.attrs.get("source")
    # plain dicts, not iterrows() Series: the same values, without a Series per row
    return [evaluate_run(row, policy, source=source) for row in df.to_dict("records")]


#: (history, its evaluations) per history file and certification policy: at 10,000 runs
#: validating and evaluating the history is ~5 s, and it only changes with the file.
HISTORY_MEMO: FileMemo[tuple[pd.DataFrame, list[RunEvaluation]]] = FileMemo(8)


def history_evaluations(path: Path, policy: Policy
                        ) -> tuple[pd.DataFrame, list[RunEvaluation]]:
    """``load_history`` and ``evaluate_history`` of ``path``, remembered until the file or
    the certification policy changes. The frame and list are shared: do not modify."""

    def build() -> tuple[pd.DataFrame, list[RunEvaluation]]:
        history = load_history(path, policy)
        return history, evaluate_history(history, policy)

    require_file(path, HistoryError, expected=HISTORY_FILE_EXPECTED)
    return HISTORY_MEMO.compute([path], repr(policy.certification), build)


def streak(evaluations: Sequence[RunEvaluation], upto_run_id: str) -> int:
    """Consecutive green runs ending at ``upto_run_id`` (0 if it is red or unknown)."""
    ids = [e.run_id for e in evaluations]
    if upto_run_id not in ids:
        return 0
    count = 0
    for evaluation in reversed(evaluations[: ids.index(upto_run_id) + 1]):
        if not evaluation.green:
            break
        count += 1
    return count


# --------------------------------------------------------------------------- readiness checks


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
    row_number = int(matches[0])
    row = history.loc[row_number]
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
    evidence = Evidence(
        source=f"{shown} row {row_number}",
        time=str(row["trained_at"]),
        package_sha256=package_sha256,
        detail=detail,
    )
    evaluation = evaluate_run(row, policy, source=str(path), evidence=evidence)

    recorded = metadata.get("metrics")
    if not isinstance(recorded, Mapping):
        recorded = {}
    checks: list[Check] = []
    n_metrics = len(cert.metrics)
    for check in evaluation.checks[:n_metrics]:
        if check.name in recorded:
            try:
                mine = float(recorded[check.name])
            except (TypeError, ValueError):
                mine = math.nan
            hist = float(check.value) if isinstance(check.value, int | float) else math.nan
            if not abs(mine - hist) <= METADATA_TOLERANCE:
                check = Check(
                    name=check.name,
                    category=check.category,
                    status=Status.FAIL,
                    value=check.value,
                    threshold=check.threshold,
                    evidence=evidence,
                    message=f"The package and the history disagree: {version} records "
                    f"{check.name} = {recorded[check.name]!r}, {shown} row {row_number} "
                    f"has {hist!r}.",
                )
        checks.append(check)

    run_streak = streak(evaluations, run_id)
    need = cert.consecutive_green
    ok = run_streak >= need
    checks.append(
        Check(
            name=f"{need} consecutive green retrains",
            category=Category.CERTIFICATION,
            status=Status.PASS if ok else Status.FAIL,
            value=run_streak,
            threshold=f">= {need}",
            message=f"{run_streak} green retrain run{'s' if run_streak != 1 else ''} in a row "
            f"end at {run_id}{'' if ok else f'; {need} are needed'}.",
            evidence=Evidence(
                source=f"{shown} rows up to {row_number}",
                time=str(row["trained_at"]),
                package_sha256=package_sha256,
                detail={
                    "run_id": run_id,
                    "streak": run_streak,
                    "green": {e.run_id: e.green for e in evaluations},
                },
            ),
        )
    )
    checks.extend(evaluation.checks[n_metrics:])
    return checks
