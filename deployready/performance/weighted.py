"""Every certification metric on weighted rows, many weightings at once.

``weighted_metric(name, y, p, w)`` computes metric ``name`` of the scores ``p`` against
the labels ``y`` for every row of the weight matrix ``w`` (``b × n``): a row of ones is
the metric itself, a row of bootstrap counts is one bootstrap resample, and labels that
are probabilities (soft labels) give the metric's expected value under them — the same
arithmetic serves the bootstrap intervals of realized performance and the estimates of
CBPE. Every formula is linear in ``y`` for fixed thresholds:

- ``brier`` Σw(p² − 2py + y) / Σw (= Σw(p − y)² for 0/1 labels, y² = y);
  ``log_loss`` −Σw(y ln p + (1 − y) ln(1 − p)) / Σw, p clipped to [eps, 1 − eps]
  (eps of float64, as scikit-learn);
- ``accuracy``, ``precision``, ``recall``, ``f1`` from the weighted confusion matrix at
  ``p >= 0.5`` (0 where a denominator is 0, as ``zero_division=0``);
- ``ece`` the registry's 10 equal-width bins, Σ_b |Σw·y − Σw·p| / Σw;
- ``roc_auc``, ``average_precision``, ``ks`` from the weighted TP / FP counts at each
  distinct score (ties form one threshold, as ``roc_curve``): trapezoidal area under
  (FPR, TPR), Σ (R_k − R_{k−1}) · P_k, and max |TPR − FPR|.

With ``w`` all ones and 0/1 labels each equals the scikit-learn figure of
:mod:`deployready.certification.metrics` up to floating-point rounding (a weighting
without both classes gives NaN for the metrics that need both).
"""

from __future__ import annotations

import numpy as np

from deployready.certification.metrics import DECISION_THRESHOLD, ECE_BINS

CURVE_METRICS = ("roc_auc", "average_precision", "ks")
_EPS = float(np.finfo(np.float64).eps)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _confusion(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    hard = (p >= DECISION_THRESHOLD).astype(np.float64)
    total = w.sum(axis=1)
    tp = w @ (hard * y)
    predicted = w @ hard
    positives = w @ y
    if name == "accuracy":
        return _ratio(w @ (hard * y + (1 - hard) * (1 - y)), total)
    if name == "precision":
        return _ratio(tp, predicted)
    if name == "recall":
        return _ratio(tp, positives)
    return _ratio(2 * tp, predicted + positives)  # f1


def _cumulative_at(cols: np.ndarray, k: np.ndarray) -> np.ndarray:
    """For each j, the sum of the first ``k[j]`` columns of ``cols`` (b × m), as b × len(k)."""
    out = np.zeros((cols.shape[0], cols.shape[1] + 1))
    np.cumsum(cols, axis=1, out=out[:, 1:])
    return out[:, k]


def _curves(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted cumulative TP and FP at each distinct score, highest score first.

    With 0/1 labels the positives' and the negatives' weights are summed apart (one pass
    over the weights each, no products): the bootstrap's cost on large days."""
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # last row of each tie group
    if np.all((ys == 0) | (ys == 1)):
        hard = ys == 1
        positives = np.cumsum(hard)[last]  # positives up to the end of each group
        return (_cumulative_at(w[:, order[hard]], positives),
                _cumulative_at(w[:, order[~hard]], last + 1 - positives))
    ws = w[:, order]
    tp = np.cumsum(ws * ys, axis=1)[:, last]
    fp = np.cumsum(ws * (1 - ys), axis=1)[:, last]
    return tp, fp


def _curve_metric(name: str, tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    pos, neg = tp[:, -1:], fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "ks":
            out = np.max(np.abs(tp / pos - fp / neg), axis=1)
        elif name == "roc_auc":
            tpr0 = np.hstack([np.zeros((len(tp), 1)), tp / pos])
            fpr0 = np.hstack([np.zeros((len(tp), 1)), fp / neg])
            out = np.sum(np.diff(fpr0, axis=1) * (tpr0[:, 1:] + tpr0[:, :-1]) / 2, axis=1)
        else:  # average_precision: Σ (R_k − R_{k−1}) · P_k
            gained = np.diff(tp, axis=1, prepend=0.0)
            out = np.sum(gained * _ratio(tp, tp + fp), axis=1) / pos[:, 0]
    both = (pos[:, 0] > 0) & (neg[:, 0] > 0)
    out = np.where(both, out, np.nan)
    if name == "average_precision":  # defined without negatives, as scikit-learn
        out = np.where(pos[:, 0] > 0, np.where(neg[:, 0] > 0, out, 1.0), np.nan)
    return np.asarray(out, dtype=np.float64)


def weighted_metrics(
    names: list[str] | tuple[str, ...], y: np.ndarray, p: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric of ``names`` under each row of the weights ``w`` (b × n), the TP / FP
    curves computed once for all the curve metrics."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    curves = None
    out = {}
    for name in names:
        if name in CURVE_METRICS:
            curves = curves or _curves(y, p, w)
            out[name] = _curve_metric(name, *curves)
        else:
            out[name] = _pointwise(name, y, p, w)
    return out


def weighted_metric(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Metric ``name`` under each row of the weights ``w`` (b × n): an array of b values."""
    return weighted_metrics([name], y, p, w)[name]


def _pointwise(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    if name == "brier":
        return _ratio(w @ (p * p - 2 * p * y + y), total)  # (p − y)², with y² = y
    if name == "log_loss":
        q = np.clip(p, _EPS, 1 - _EPS)
        return _ratio(-(w @ (y * np.log(q) + (1 - y) * np.log(1 - q))), total)
    if name == "ece":
        idx = np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
        onehot = np.eye(ECE_BINS)[idx]  # n × bins
        gap = np.abs(w @ (onehot * y[:, None]) - w @ (onehot * p[:, None])).sum(axis=1)
        return _ratio(gap, total)
    if name in ("accuracy", "precision", "recall", "f1"):
        return _confusion(name, y, p, w)
    raise ValueError(f"unknown metric {name!r}")
