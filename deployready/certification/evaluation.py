"""The checks of one retrain run, and of the whole history.

A *retrain run* is one row of ``data/certification/history.{csv,parquet,jsonl}``
(read and written by :mod:`deployready.certification.history`). :func:`evaluate_run`
turns a row into its checks; :func:`evaluate_history` does so for every row of a
history (:func:`~deployready.certification.history_cache.history_evaluations` for a
history file, remembered and cached); :func:`streak` counts the green runs in a row.
The definitions of each check are in :mod:`deployready.certification.checks`.

A :class:`RunEvaluation` carries the run's parsed evidence (metric values, fold scores
and windows, feature entropy, synthetic ratio, noise) next to its checks, so that a
screen lays them out without reading the history's columns again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from deployready.certification.history_schema import (
    FOLD_KEYS,
    as_json,
    as_number,
    bounds_of,
    in_bounds,
    parse_time,
)
from deployready.certification.metrics import validate_policy_metrics
from deployready.certification.runs import RunEvaluation as RunEvaluation
from deployready.certification.runs import RunEvaluations as RunEvaluations
from deployready.checks import Category, Check, Evidence, Status, compare
from deployready.errors import HistoryError
from deployready.policy import CertificationPolicy, CVPolicy, Policy

CV_CHECK = "time-series CV"
ENTROPY_CHECK = "feature entropy"
RATIO_CHECK = "synthetic ratio"
NOISE_CHECK = "noise"

Row: TypeAlias = Mapping[str, Any] | pd.Series


def cv_failures(
    scores: Sequence[float], folds: Sequence[Mapping[str, Any]], cv: CVPolicy
) -> list[str]:
    """Every failing CV condition, as sentences (empty when the CV check passes)."""
    failures: list[str] = []
    if len(scores) < cv.min_folds:
        failures.append(f"{len(scores)} folds, fewer than {cv.min_folds}")
    if len(scores):
        array = np.asarray(scores)
        std = float(array.std())
        if std > cv.max_fold_std:
            failures.append(f"fold std {std:.4f} > {cv.max_fold_std:g}")
        low = float(array.min())
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


def _get(row: Row, column: str, source: str | None) -> Any:
    if column not in row:
        raise HistoryError(f"missing column {column}", source=source, location=f"column {column}")
    return row[column]


def _num(row: Row, column: str, source: str | None) -> float:
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


def _check(name: str, ok: bool, value: float | None, threshold: str, message: str,
           evidence: Evidence | None) -> Check:
    return Check(name=name, category=Category.CERTIFICATION,
                 status=Status.PASS if ok else Status.FAIL, value=value,
                 threshold=threshold, message=message, evidence=evidence)


def _metric_checks(
    metrics: Mapping[str, float], cert: CertificationPolicy, evidence: Evidence | None
) -> list[Check]:
    checks: list[Check] = []
    for name, rule in cert.metrics.items():
        value = metrics[name]
        ok = compare(value, rule.op, rule.threshold)
        checks.append(
            _check(name, ok, value, f"{rule.op} {rule.threshold:g}",
                   f"{name} = {value:.4f} on the test split, "
                   f"{'meets' if ok else 'misses'} {rule.op} {rule.threshold:g}.", evidence)
        )
    return checks


def _cv_check(
    cv_metric: str,
    scores: list[float],
    failures: list[str],
    cv: CVPolicy,
    evidence: Evidence | None,
) -> Check:
    if cv_metric != cv.metric:
        failures.insert(0, f"CV scored {cv_metric}, the policy asks for {cv.metric}")
    array = np.asarray(scores)
    low = array.min() if scores else None
    summary = (
        f"{len(scores)} folds, {cv_metric} mean {array.mean():.4f}, std {array.std():.4f}, "
        f"min {low:.4f}"
        if scores
        else "no folds"
    )
    return _check(
        CV_CHECK,
        not failures,
        float(low) if low is not None else None,
        f">= {cv.min_folds} folds, std <= {cv.max_fold_std:g}, "
        f"min {cv.metric} >= {cv.min_fold_score:g}, time-ordered",
        (f"{summary}: " + "; ".join(failures) + ".")
        if failures
        else f"{summary}; every fold is time-ordered without leakage.",
        evidence,
    )


def _entropy_check(
    entropy: dict[str, float], floor: float, evidence: Evidence | None
) -> Check:
    low = {k: v for k, v in entropy.items() if v < floor}
    if not entropy:
        message, ok = "No feature entropy recorded.", False
    elif low:
        named = ", ".join(f"{k} ({v:.3f})" for k, v in sorted(low.items(), key=lambda kv: kv[1]))
        message, ok = f"Below {floor:g}: {named}.", False
    else:
        message, ok = f"Every one of {len(entropy)} features is at or above {floor:g}.", True
    return _check(ENTROPY_CHECK, ok, min(entropy.values()) if entropy else None,
                  f">= {floor:g} for every feature", message, evidence)


def _expansion_checks(
    ratio: float, noise: float, cert: CertificationPolicy, evidence: Evidence | None
) -> list[Check]:
    exp = cert.expansion
    ratio_ok, noise_ok = ratio <= exp.max_synthetic_ratio, noise <= exp.max_noise
    return [
        _check(RATIO_CHECK, ratio_ok, ratio, f"<= {exp.max_synthetic_ratio:g}",
               f"(real + synthetic) / real training rows = {ratio:.4f}"
               f"{'' if ratio_ok else f', above {exp.max_synthetic_ratio:g}'}.", evidence),
        _check(NOISE_CHECK, noise_ok, noise, f"<= {exp.max_noise:g}",
               "No synthetic training rows (noise 0)."
               if ratio == 1.0 and noise == 0.0
               else f"Synthetic rows lie a median {noise:.4f} std (RMS) from the nearest real "
               f"row{'' if noise_ok else f', above {exp.max_noise:g}'}.", evidence),
    ]


def evaluate_run(
    row: Row,
    policy: Policy,
    *,
    source: str | None = None,
    evidence: Evidence | None = None,
) -> RunEvaluation:
    """The checks of one retrain run: policy metrics, CV, entropy, synthetic ratio, noise."""
    cert = policy.certification
    validate_policy_metrics(cert.metrics, cert.cv.metric)
    run_id = str(_get(row, "run_id", source))
    metrics = {name: _num(row, name, source) for name in cert.metrics}
    checks = _metric_checks(metrics, cert, evidence)
    scores = [float(s) for s in as_json(_get(row, "cv_fold_scores", source))]
    folds = list(as_json(_get(row, "cv_folds", source)))
    failures = cv_failures(scores, folds, cert.cv)
    cv_metric = str(_get(row, "cv_metric", source))
    checks.append(_cv_check(cv_metric, scores, failures, cert.cv, evidence))
    entropy = {
        str(k): float(v) for k, v in dict(as_json(_get(row, "feature_entropy", source))).items()
    }
    checks.append(_entropy_check(entropy, cert.entropy.min_normalized, evidence))
    ratio = _num(row, "synthetic_ratio", source)
    noise = _num(row, "noise", source)
    checks += _expansion_checks(ratio, noise, cert, evidence)
    return RunEvaluation(
        run_id=run_id,
        trained_at=str(_get(row, "trained_at", source)),
        checks=checks,
        green=all(c.passed for c in checks),
        metrics=metrics,
        cv_metric=cv_metric,
        cv_fold_scores=scores,
        cv_folds=folds,
        feature_entropy=entropy,
        synthetic_ratio=ratio,
        noise=noise,
    )


def evaluate_history(df: pd.DataFrame, policy: Policy) -> RunEvaluations:
    source = df.attrs.get("source")
    # plain dicts, not iterrows() Series: the same values, without a Series per row
    return RunEvaluations.of(
        [evaluate_run(row, policy, source=source) for row in df.to_dict("records")]
    )


def streak(evaluations: Sequence[RunEvaluation], upto_run_id: str) -> int:
    """Consecutive green runs ending at ``upto_run_id`` (0 if it is red or unknown)."""
    runs = RunEvaluations.of(evaluations)
    ids = runs.run_ids
    if upto_run_id not in ids:
        return 0
    count = 0
    for green in reversed(runs.green[: ids.index(upto_run_id) + 1]):
        if not green:
            break
        count += 1
    return count
