"""Certification measures: the metric registry, feature entropy and data expansion.

Every metric takes ``(y_true, y_score)`` — 0/1 labels and the predicted probability of
class 1 — and returns a float. scikit-learn computes them wherever it can:

============================  ===============================================================
``roc_auc``                   ``roc_auc_score``
``average_precision``         ``average_precision_score``
``brier``                     ``brier_score_loss``
``log_loss``                  ``log_loss`` (labels [0, 1])
``accuracy`` ``f1``           ``accuracy_score``, ``f1_score``, ``precision_score``,
``precision`` ``recall``      ``recall_score`` on ``y_score >= 0.5`` (zero_division = 0)
``ece``                       expected calibration error: 10 equal-width bins over [0, 1]
                              (bin ``min(floor(10·p), 9)``, so p = 1 is in the last bin);
                              ``Σ_b n_b / N · |mean(y)_b − mean(p)_b|`` over non-empty bins,
                              the per-bin sums computed with ``numpy.bincount``
``ks``                        Kolmogorov–Smirnov statistic between the score distributions
                              of positives and negatives = ``max |TPR − FPR|`` over the
                              thresholds of ``roc_curve``
============================  ===============================================================

Every metric lies in ``[0, 1]`` except ``log_loss`` in ``[0, inf)``
(:attr:`MetricSpec.bounds`); the certification history refuses a recorded value outside
its metric's interval.

Feature entropy (normalized Shannon entropy, natural log, in [0, 1]):

- numeric feature: ``numpy.histogram`` of the finite values into ``bins`` equal-width bins
  over their range; non-finite values (NaN, ±inf) form one extra "missing" bin when present.
  ``H = −Σ p_i ln p_i`` over all bins, divided by ``ln(bins + 1 if any missing else bins)``.
- categorical feature (string, bool, object, category dtype): one bin per distinct
  value, missing values one more bin; ``H / ln(number of distinct values incl. missing)``.
- a constant feature (one distinct value, or all missing, or a single row) has entropy 0.

Data expansion:

- ``synthetic_ratio = (n_real + n_synthetic) / n_real`` (1.0 = no augmentation).
- ``noise``: numeric features are imputed with the real rows' median and standardized
  with the real rows' mean and standard deviation (a zero std counts as 1); for every
  synthetic row, ``RMS over features of (synthetic − nearest real row)`` in those units,
  the nearest real row found by ``sklearn.neighbors.NearestNeighbors`` (Euclidean, which
  is the same as nearest by RMS); ``noise`` is the median over synthetic rows, 0 when
  there are none. A jitter of 1 % of each feature's std gives a noise of about 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.neighbors import NearestNeighbors

from deployready.errors import InputError, PolicyError
from deployready.package.profile import feature_kind

MetricFn = Callable[[np.ndarray, np.ndarray], float]

ECE_BINS = 10
DECISION_THRESHOLD = 0.5


def expected_calibration_error(
    y_true: np.ndarray, y_score: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Weighted mean |accuracy − confidence| over ``bins`` equal-width probability bins."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    if p.size == 0:
        return 0.0
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    idx = np.maximum(idx, 0)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    nonempty = count > 0
    gap = np.abs(sum_y[nonempty] - sum_p[nonempty])  # = n_b · |acc_b − conf_b|
    return float(gap.sum() / p.size)


def ks_statistic(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Two-sample KS statistic of the positives' vs negatives' scores: max |TPR − FPR|."""
    fpr, tpr, _ = skm.roc_curve(y_true, y_score)
    return float(np.max(np.abs(tpr - fpr)))


def _hard(y_score: np.ndarray) -> np.ndarray:
    return (np.asarray(y_score) >= DECISION_THRESHOLD).astype(np.int64)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    fn: MetricFn
    direction: str  # "higher" or "lower" is better
    description: str
    #: the closed interval every value of the metric lies in (a recorded value outside
    #: it was not computed by the metric: the history refuses it)
    bounds: tuple[float, float] = (0.0, 1.0)


def _spec(
    name: str,
    fn: MetricFn,
    direction: str,
    description: str,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> MetricSpec:
    return MetricSpec(name, fn, direction, description, bounds)


REGISTRY: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("roc_auc", lambda y, p: float(skm.roc_auc_score(y, p)), "higher", "ROC AUC"),
        _spec(
            "average_precision",
            lambda y, p: float(skm.average_precision_score(y, p)),
            "higher",
            "average precision (area under the precision-recall curve)",
        ),
        _spec("brier", lambda y, p: float(skm.brier_score_loss(y, p)), "lower", "Brier score"),
        _spec(
            "log_loss",
            lambda y, p: float(skm.log_loss(y, p, labels=[0, 1])),
            "lower",
            "log loss",
            (0.0, math.inf),
        ),
        _spec(
            "accuracy",
            lambda y, p: float(skm.accuracy_score(y, _hard(p))),
            "higher",
            "accuracy at threshold 0.5",
        ),
        _spec(
            "f1",
            lambda y, p: float(skm.f1_score(y, _hard(p), zero_division=0)),
            "higher",
            "F1 at threshold 0.5",
        ),
        _spec(
            "precision",
            lambda y, p: float(skm.precision_score(y, _hard(p), zero_division=0)),
            "higher",
            "precision at threshold 0.5",
        ),
        _spec(
            "recall",
            lambda y, p: float(skm.recall_score(y, _hard(p), zero_division=0)),
            "higher",
            "recall at threshold 0.5",
        ),
        _spec(
            "ece",
            expected_calibration_error,
            "lower",
            "expected calibration error (10 equal-width bins)",
        ),
        _spec("ks", ks_statistic, "higher", "Kolmogorov–Smirnov statistic (max |TPR − FPR|)"),
    )
}
METRIC_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_metric(name: str, *, key: str | None = None, source: str | None = None) -> MetricSpec:
    """The registry entry of ``name``; a :class:`PolicyError` naming the policy key if unknown."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise PolicyError(
            f"unknown metric {name!r}",
            source=source,
            location=key or f"certification.metrics.{name}",
            expected="one of " + ", ".join(METRIC_NAMES),
        ) from None


def validate_policy_metrics(names: Iterable[str], cv_metric: str | None = None) -> None:
    for name in names:
        get_metric(name)
    if cv_metric is not None:
        get_metric(cv_metric, key="certification.cv.metric")


def evaluation_rows(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, scores)`` as arrays, or an InputError: equal 1-d shapes, both classes,
    scores finite in [0, 1] — what every metric of the registry is computed on."""
    y = np.asarray(y_true)
    p = np.asarray(y_score, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise InputError(
            f"labels {y.shape} and scores {p.shape} differ", expected="equal 1-d shapes"
        )
    if _classes(y) != 2:
        raise InputError("the evaluation rows hold only one class", expected="both classes 0 and 1")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise InputError("scores outside [0, 1]", expected="probabilities of class 1")
    return y, p


def _classes(y: np.ndarray) -> int:
    """How many distinct labels (integer labels: from their extremes, without a sort)."""
    if y.dtype.kind in "biu" and y.size:
        low, high = y.min(), y.max()
        if low == high:
            return 1
        return 2 if bool(np.all((y == low) | (y == high))) else 3
    return int(np.unique(y).size)


def compute_metrics(
    y_true: np.ndarray, y_score: np.ndarray, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Every metric in ``names`` (default: the whole registry)."""
    y, p = evaluation_rows(y_true, y_score)
    return {name: get_metric(name).fn(y, p) for name in (names or METRIC_NAMES)}


# --------------------------------------------------------------------------- entropy


def is_categorical(series: pd.Series) -> bool:
    """The package's own rule (:func:`deployready.package.profile.feature_kind`)."""
    return feature_kind(series) == "categorical"


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts / total
    return float(-(p * np.log(p)).sum())


def normalized_entropy(series: pd.Series, bins: int = 10) -> float:
    """Normalized Shannon entropy of one feature (definition in the module docstring)."""
    if is_categorical(series):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        missing = int((codes < 0).sum())
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        if missing:
            counts = np.append(counts, missing)
        n_bins = len(counts)
        if n_bins <= 1:
            return 0.0
        return min(1.0, _entropy(counts) / float(np.log(n_bins)))
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    missing = int((~finite).sum())
    kept = values[finite]
    if kept.size == 0 or (missing == 0 and kept.min() == kept.max()):
        return 0.0
    counts, _ = np.histogram(kept, bins=bins)
    if missing:
        counts = np.append(counts, missing)
    return min(1.0, _entropy(counts) / float(np.log(len(counts))))


def feature_entropy(
    frame: pd.DataFrame, features: Sequence[str] | None = None, bins: int = 10
) -> dict[str, float]:
    return {
        str(f): float(normalized_entropy(frame[f], bins)) for f in (features or list(frame.columns))
    }


# --------------------------------------------------------------------------- data expansion


def synthetic_ratio(n_real: int, n_synthetic: int) -> float:
    if n_real <= 0:
        raise InputError("no real rows", expected="at least one real (non-synthetic) training row")
    return float((n_real + n_synthetic) / n_real)


def synthetic_noise(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Median RMS standardized distance of synthetic rows to their nearest real row."""
    if len(synthetic) == 0 or real.shape[1] == 0:
        return 0.0
    if len(real) == 0:
        raise InputError("synthetic rows without real rows", expected="real rows to compare with")
    r = real.to_numpy(dtype=np.float64, na_value=np.nan)
    s = synthetic[list(real.columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    median = np.nanmedian(np.where(np.isfinite(r), r, np.nan), axis=0)
    median = np.where(np.isnan(median), 0.0, median)
    r = np.where(np.isfinite(r), r, median)
    s = np.where(np.isfinite(s), s, median)
    mean = r.mean(axis=0)
    std = r.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    r = (r - mean) / std
    s = (s - mean) / std
    nn = NearestNeighbors(n_neighbors=1).fit(r)
    dist, _ = nn.kneighbors(s)
    rms = dist[:, 0] / np.sqrt(r.shape[1])
    return float(np.median(rms))
