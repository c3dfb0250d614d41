"""Estimated performance before the labels arrive: confidence-based performance
estimation (CBPE).

1. **Calibrate, only when it helps**: on the package's labelled holdout
   (``calibration.parquet``) the *cross-fitted* calibration error of isotonic
   regression (scikit-learn, clipped to [0, 1]) — 5 seeded stratified folds, each
   fold's scores calibrated by an isotonic fit on the other four, the ECE (the
   registry's 10 bins) of those calibrated scores against the labels — is compared with
   the ECE of the raw scores on the same rows (nothing fitted, so nothing to cross-fit).
   The calibrated scores are CBPE's probabilities only when their error is clearly lower
   (:func:`use_calibration`: lower by more than ``CLEAR_GAIN`` and by more than the
   *noise floor* of the raw ECE — the ECE that perfectly calibrated scores would show on
   these rows by chance alone, ``sqrt(2/π) · Σ_b sqrt(Σ_{i∈b} p_i(1 − p_i)) / n``, the
   mean absolute value of each bin's normal label-sum deviation); otherwise the raw scores
   are, as NannyML does —
   an isotonic fit is a step function and flattens the ranking inside each step, which
   costs the estimate of the ranking metrics (average precision) more than it gains when
   the scores are already calibrated. The calibrator record says which and why.
2. **Reliability**: the cross-fitted error of the scores used (step 1). Above
   ``performance.max_calibration_error``, or fewer than
   ``performance.min_calibration_rows`` labelled holdout rows, the estimate is
   **unreliable**: every estimated check is ``pending`` with a finding that says so and no
   value. A package without a labelled holdout gives ``pending`` "no labelled holdout in
   the package".
3. **Expected metrics** of each day: the probability q (calibrated or raw, step 1) of
   every prediction is the chance its label is 1 (the day's scores sorted once, q
   computed on the sorted scores), used as a soft label in the formulas of
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

from deployready.certification.metrics import ECE_BINS, expected_calibration_error
from deployready.checks import Category, Check, Evidence, Status, compare
from deployready.performance.frame import JoinedDays, as_numbers, joined_days
from deployready.performance.weighted import weighted_metrics
from deployready.policy.sections import MetricRule, PerformancePolicy

FOLDS = 5
#: calibration is used only when it lowers the ECE by more than this (and the noise floor)
CLEAR_GAIN = 0.002
NO_HOLDOUT = "no labelled holdout in the package (calibration.parquet): no estimate"


@dataclass(frozen=True)
class Calibrator:
    """The probabilities CBPE uses (isotonic-calibrated or raw scores) and how far they
    can be trusted."""

    model: IsotonicRegression | None
    rows: int  # labelled holdout rows
    error: float | None  # cross-fitted ECE on the holdout of the scores used
    reliable: bool
    reason: str  # why not reliable ("" when reliable)
    calibrated: bool = True  # isotonic-calibrated scores (else the raw scores)
    raw_error: float | None = None  # ECE of the raw scores on the holdout
    choice: str = ""  # which scores are used and why

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """CBPE's probabilities of ``scores``."""
        if not self.calibrated:
            return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
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


def noise_floor(scores: np.ndarray) -> float:
    """The ECE perfectly calibrated ``scores`` would show by chance (see the module doc)."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if p.size == 0:
        return 0.0
    bins = np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
    variance = np.bincount(bins, weights=p * (1 - p), minlength=ECE_BINS)
    return float(np.sqrt(2 / np.pi) * np.sqrt(variance).sum() / p.size)


def use_calibration(raw_error: float, calibrated_error: float, noise: float) -> bool:
    """Calibrate only when it clearly helps: the cross-fitted error of the calibrated
    scores is below the raw scores' by more than ``CLEAR_GAIN`` and the raw ECE's
    ``noise`` floor."""
    return raw_error - calibrated_error > max(CLEAR_GAIN, noise)


def _choice(
    raw_error: float, calibrated_error: float, noise: float
) -> tuple[bool, float, str]:
    """(calibrate?, error of the scores used, why) — decided by :func:`use_calibration`."""
    both = (f"cross-fitted ECE {calibrated_error:.4f} calibrated vs {raw_error:.4f} raw, "
            f"noise floor {noise:.4f}")
    if use_calibration(raw_error, calibrated_error, noise):
        return True, calibrated_error, f"isotonic-calibrated scores ({both})"
    return False, raw_error, f"raw scores, calibration does not clearly help ({both})"


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
    raw_error = expected_calibration_error(labels, np.clip(scores, 0.0, 1.0))
    calibrated, error, choice = _choice(
        raw_error, cross_fitted_error(scores, labels), noise_floor(scores)
    )
    model = _isotonic(scores, labels)
    if error > policy.max_calibration_error:
        return Calibrator(model, n, error, False,
                          f"estimate unreliable: cross-fitted calibration error {error:.3f} on "
                          f"the holdout > {policy.max_calibration_error:g} ({choice})",
                          calibrated, raw_error, choice)
    return Calibrator(model, n, error, True, "", calibrated, raw_error, choice)


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
    """Every metric's expected value on ``scores``, CBPE's probabilities as soft labels:
    the scores sorted once, the probabilities computed on the sorted scores (a function
    of the score, so equal scores get equal ones)."""
    p = np.sort(np.asarray(scores, dtype=np.float64))
    q = calibrator.calibrate(p)
    w = np.ones((1, p.size))
    return {name: float(v[0])
            for name, v in weighted_metrics(names, q, p, w, ascending=True).items()}


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
        "method": "CBPE (probabilities chosen on the package's labelled holdout)",
        "calibrated": cal.calibrated,
        "probabilities": cal.choice,
        "calibration_rows": cal.rows,
        "calibration_error": cal.error,
        "raw_calibration_error": cal.raw_error,
        "reliable": cal.reliable,
    }
    if value is None:
        status = Status.PENDING
        message = cal.reason or f"no predictions on {day.isoformat()}"
    else:
        status = Status.PASS if compare(value, rule.op, rule.threshold) else Status.WARN
        message = (f"estimated {name} {value:.4g} on {n} predictions (CBPE, before labels, "
                   f"on {cal.choice})"
                   + ("" if status is Status.PASS else ": below threshold, a warning"))
    return Check(f"estimated_{name}", Category.PERFORMANCE, status, value,
                 f"{rule.op} {rule.threshold:g}", message,
                 Evidence("production log + calibration.parquet", detail=detail))


def estimated_performance(
    joined: pd.DataFrame | JoinedDays, calibrator: Calibrator, rules: Mapping[str, MetricRule]
) -> list[EstimatedDay]:
    """The estimate of every day of ``joined`` (a joined frame, or its
    :class:`~deployready.performance.frame.JoinedDays`; every prediction, labelled or
    not)."""
    days = joined_days(joined)
    prediction = as_numbers(days.frame["prediction"])
    return [estimated_day(d, prediction[rows], calibrator, rules) for d, rows in days.rows.items()]
