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
- ``ece`` the registry's 10 equal-width bins, Σ_b |Σw·(y − p)| / Σw;
- ``roc_auc``, ``average_precision`` from the weighted TP / FP counts at each distinct
  score, highest first (ties form one threshold, as ``roc_curve``): trapezoidal area
  under (FPR, TPR) and Σ (R_k − R_{k−1}) · P_k; ``ks`` max |TPR − FPR| over the same
  thresholds, computed from below: at the threshold t, TPR − FPR = FP_{<t} / N −
  TP_{<t} / P with the cumulative counts under t.

The rows are put in ascending score order once (a stable sort; ``ascending=True`` says
they already are): the ECE bins and the side of the decision threshold are then runs of
rows, the curves cumulative sums. With ``w`` all ones and 0/1 labels each equals the
scikit-learn figure of :mod:`deployready.certification.metrics` up to floating-point
rounding (a weighting without both classes gives NaN for the metrics that need both).
"""

from __future__ import annotations

import numpy as np

from deployready.certification.metrics import DECISION_THRESHOLD, ECE_BINS

CURVE_METRICS = ("roc_auc", "average_precision")
_EPS = float(np.finfo(np.float64).eps)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _dot(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``w @ v`` by NumPy's own loops: a BLAS product runs on a thread pool, which stalls
    when the machine's other cores are busy (a 100,000-row product 0.08 → 17 ms)."""
    return np.asarray(np.einsum("ij,j->i", w, v))


def _confusion(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    hard = int(np.searchsorted(p, DECISION_THRESHOLD, side="left"))  # rows p >= 0.5 on
    total = w.sum(axis=1)
    tp = _dot(w[:, hard:], y[hard:])
    predicted = w[:, hard:].sum(axis=1)
    positives = _dot(w, y)
    if name == "accuracy":
        return _ratio(tp + _dot(w[:, :hard], 1 - y[:hard]), total)
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
    """Weighted cumulative TP and FP at each distinct score, highest score first (the
    ascending rows read backwards).

    With 0/1 labels the positives' and the negatives' weights are summed apart (one pass
    over the weights each, no products)."""
    ps, ys, ws = p[::-1], y[::-1], w[:, ::-1]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # last row of each tie group
    if _hard(ys):
        hard = ys == 1
        positives = np.cumsum(hard)[last]  # positives up to the end of each group
        return (_cumulative_at(ws[:, hard], positives),
                _cumulative_at(ws[:, ~hard], last + 1 - positives))
    tp = np.cumsum(ws * ys, axis=1)[:, last]
    fp = np.cumsum(ws * (1 - ys), axis=1)[:, last]
    return tp, fp


def _curve_metric(name: str, tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    pos, neg = tp[:, -1:], fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "roc_auc":
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


def _ks(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """max |TPR − FPR| over the distinct scores, from the cumulative counts below each:
    |FP_{<t} / N − TP_{<t} / P| = |seen · (1/N) − TP_{<t} · (1/N + 1/P)|, seen = TP + FP
    below t (whole-number weights stay whole numbers, so the cumulative counts are exact)."""
    hits = w * (y.astype(w.dtype) if w.dtype.kind in "iu" and _hard(y) else y)
    tp = np.cumsum(hits, axis=1, dtype=hits.dtype)
    seen = np.cumsum(w, axis=1, dtype=w.dtype)
    pos, neg = tp[:, -1].astype(np.float64), (seen[:, -1] - tp[:, -1]).astype(np.float64)
    ends = np.flatnonzero(np.diff(p))  # last row of each tie group but the top one
    if ends.size < p.size - 1:
        tp, seen = tp[:, ends], seen[:, ends]
    else:
        tp, seen = tp[:, :-1], seen[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = seen * (1 / neg)[:, None]
        gap -= tp * (1 / neg + 1 / pos)[:, None]
        out = np.maximum(gap.max(axis=1, initial=0.0), -gap.min(axis=1, initial=0.0))
    return np.where((pos > 0) & (neg > 0), out, np.nan)


def _hard(y: np.ndarray) -> bool:
    """0/1 labels only (the first rows decide at once for soft labels)."""
    head = y[:64]
    return bool(np.all((head == 0) | (head == 1))) and bool(np.all((y == 0) | (y == 1)))


def weighted_metrics(
    names: list[str] | tuple[str, ...],
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    *,
    ascending: bool = False,
) -> dict[str, np.ndarray]:
    """Every metric of ``names`` under each row of the weights ``w`` (b × n), the TP / FP
    curves computed once for the curve metrics; ``ascending``: the rows are already in
    ascending score order."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    w = np.atleast_2d(np.asarray(w))
    if w.dtype.kind not in "iu":  # whole-number weights (counts) are kept as they are
        w = np.asarray(w, dtype=np.float64)
    if not ascending:
        order = np.argsort(p, kind="stable")
        y, p, w = y[order], p[order], w[:, order]
    curves = None
    out = {}
    for name in names:
        if name == "ks":
            out[name] = _ks(y, p, w)
        elif name in CURVE_METRICS:
            curves = curves or _curves(y, p, w)
            out[name] = _curve_metric(name, *curves)
        else:
            out[name] = _pointwise(name, y, p, w)
    return out


def weighted_metric(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Metric ``name`` under each row of the weights ``w`` (b × n): an array of b values."""
    return weighted_metrics([name], y, p, w)[name]


def _pointwise(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    if name == "brier":
        return _ratio(_dot(w, p * p - 2 * p * y + y), w.sum(axis=1))  # (p − y)², y² = y
    if name == "log_loss":
        q = np.clip(p, _EPS, 1 - _EPS)
        return _ratio(-_dot(w, y * np.log(q) + (1 - y) * np.log(1 - q)), w.sum(axis=1))
    if name == "ece":
        bins = np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)  # non-decreasing
        starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
        if p.size == 0:
            return np.zeros(w.shape[0])
        gap = np.abs(np.add.reduceat(w * (y - p), starts, axis=1)).sum(axis=1)
        return _ratio(gap, w.sum(axis=1))
    if name in ("accuracy", "precision", "recall", "f1"):
        return _confusion(name, y, p, w)
    raise ValueError(f"unknown metric {name!r}")
