"""Estimated performance before the labels arrive: confidence-based performance
estimation (CBPE).

1. **Calibrate** the model's scores on the package's labelled holdout
   (``calibration.parquet``): isotonic regression (scikit-learn, clipped to [0, 1]).
2. **Reliability**: the calibrator's *cross-fitted* calibration error on the holdout —
   5 seeded stratified folds, each fold's scores calibrated by an isotonic fit on the
   other four, the ECE (the registry's 10 bins) of those calibrated scores against the
   labels. Above ``performance.max_calibration_error``, or fewer than
   ``performance.min_calibration_rows`` labelled holdout rows, the estimate is
   **unreliable**: every estimated check is ``pending`` with a finding that says so and no
   value. A package without a labelled holdout gives ``pending`` "no labelled holdout in
   the package".
3. **Expected metrics** of each day: the calibrated probability q of every prediction is
   the chance its label is 1, used as a soft label in the formulas of
   :mod:`~deployready.performance.weighted` — expected TP / FP at each threshold (ROC
   AUC, average precision, KS), expected Brier ``mean(q(1 − p)² + (1 − q)p²)``, expected
   ECE per bin ``|Σq − Σp|`` and so on. (Ratios are ratios of expectations.) On perfectly
   calibrated scores the estimates of ROC AUC, average precision and Brier equal the
   realized figures on average; ECE and KS are estimated for the population, while their
   realized values on n rows are pushed up by sampling noise (a maximum, an absolute value),
   by about 1/√n.
4. **Status**: ``pass`` when the estimate meets the certification threshold, ``warn``
   when it does not (an estimate is a warning, not a verdict).

An estimate sees a change of the inputs (covariate shift: the scores move); it cannot
see a change of the relation between inputs and label (concept shift), which only the
labels show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from deployready.certification.metrics import expected_calibration_error
from deployready.checks import Category, Check, Evidence, Status, compare
from deployready.performance.frame import check_joined
from deployready.performance.weighted import weighted_metrics
from deployready.policy.sections import MetricRule, PerformancePolicy

FOLDS = 5
NO_HOLDOUT = "no labelled holdout in the package (calibration.parquet): no estimate"


@dataclass(frozen=True)
class Calibrator:
    """The isotonic calibrator of a package and how far it can be trusted."""

    model: IsotonicRegression | None
    rows: int  # labelled holdout rows
    error: float | None  # cross-fitted ECE on the holdout
    reliable: bool
    reason: str  # why not reliable ("" when reliable)

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        assert self.model is not None
        return np.clip(np.asarray(self.model.predict(scores), dtype=np.float64), 0.0, 1.0)


def _isotonic(scores: np.ndarray, labels: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)


def cross_fitted_error(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """ECE of out-of-fold isotonic calibration (see the module doc)."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    out = np.empty(len(scores), dtype=np.float64)
    for fit_rows, test_rows in folds.split(scores, labels):
        out[test_rows] = _isotonic(scores[fit_rows], labels[fit_rows]).predict(scores[test_rows])
    return expected_calibration_error(labels, np.clip(out, 0.0, 1.0))


def fit_calibrator(holdout: pd.DataFrame | None, policy: PerformancePolicy) -> Calibrator:
    """The calibrator of a package's labelled holdout (``score``, ``label``), or an
    unreliable one saying why."""
    if holdout is None or len(holdout) == 0:
        return Calibrator(None, 0, None, False, NO_HOLDOUT)
    scores = holdout["score"].to_numpy(np.float64)
    labels = holdout["label"].to_numpy(np.int64)
    n = len(holdout)
    if n < policy.min_calibration_rows or np.bincount(labels, minlength=2).min() < FOLDS:
        return Calibrator(_isotonic(scores, labels), n, None, False,
                          f"estimate unreliable: {n} labelled holdout rows "
                          f"(at least {policy.min_calibration_rows} of both classes needed)")
    error = cross_fitted_error(scores, labels)
    if error > policy.max_calibration_error:
        return Calibrator(_isotonic(scores, labels), n, error, False,
                          f"estimate unreliable: cross-fitted calibration error {error:.3f} on "
                          f"the holdout > {policy.max_calibration_error:g}")
    return Calibrator(_isotonic(scores, labels), n, error, True, "")


@dataclass(frozen=True)
class EstimatedDay:
    day: date
    predictions: int
    values: dict[str, float | None]  # metric → expected value (None when unreliable)
    status: Status  # pass, warn, or pending (no / unreliable estimate)
    checks: list[Check] = field(default_factory=list)


def expected_metrics(
    scores: np.ndarray, calibrator: Calibrator, names: list[str]
) -> dict[str, float]:
    """Every metric's expected value on ``scores``, calibrated probabilities as soft labels."""
    q = calibrator.calibrate(scores)
    w = np.ones((1, len(scores)))
    return {name: float(v[0]) for name, v in weighted_metrics(names, q, scores, w).items()}


def estimated_day(
    day: date,
    scores: np.ndarray,
    calibrator: Calibrator,
    rules: Mapping[str, MetricRule],
) -> EstimatedDay:
    names = list(rules)
    values: dict[str, float | None] = dict.fromkeys(names)
    if calibrator.reliable and len(scores):
        values.update(expected_metrics(scores, calibrator, names))
    checks = [
        _check(day, name, rule, values[name], len(scores), calibrator)
        for name, rule in rules.items()
    ]
    statuses = {c.status for c in checks}
    status = next((s for s in (Status.PENDING, Status.WARN) if s in statuses), Status.PASS)
    return EstimatedDay(day, len(scores), values, status, checks)


def _check(
    day: date, name: str, rule: MetricRule, value: float | None, n: int, cal: Calibrator
) -> Check:
    detail = {
        "day": day.isoformat(),
        "predictions": n,
        "method": "CBPE (isotonic calibration on the package's labelled holdout)",
        "calibration_rows": cal.rows,
        "calibration_error": cal.error,
        "reliable": cal.reliable,
    }
    if value is None:
        status = Status.PENDING
        message = cal.reason or f"no predictions on {day.isoformat()}"
    else:
        status = Status.PASS if compare(value, rule.op, rule.threshold) else Status.WARN
        message = (f"estimated {name} {value:.4g} on {n} predictions (CBPE, before labels)"
                   + ("" if status is Status.PASS else ": below threshold, a warning"))
    return Check(f"estimated_{name}", Category.PERFORMANCE, status, value,
                 f"{rule.op} {rule.threshold:g}", message,
                 Evidence("production log + calibration.parquet", detail=detail))


def estimated_performance(
    joined: pd.DataFrame, calibrator: Calibrator, rules: Mapping[str, MetricRule]
) -> list[EstimatedDay]:
    """The estimate of every day of ``joined`` (every prediction, labelled or not)."""
    check_joined(joined)
    return [
        estimated_day(d, g["prediction"].to_numpy(np.float64), calibrator, rules)
        for d, g in sorted(joined.groupby("day"), key=lambda item: item[0])
    ]
