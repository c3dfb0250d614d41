"""Confidence intervals of realized performance, each computed once per day in
O(n log n) — never a metric recomputed on n rows per resample.

Which method each metric gets is decided by :func:`interval_method` alone:

- ``roc_auc``: **DeLong**, analytic. The variance of the AUC is
  ``S10 / m + S01 / n`` over the m positives and n negatives, ``S10`` and ``S01`` the
  sample variances (ddof 1) of the structural components — for each positive the share
  of negatives it outscores (ties count ½), for each negative the share of positives
  that outscore it — computed from midranks (Sun & Xu's fast algorithm:
  ``scipy.stats.rankdata`` of the positives, the negatives and both, O(N log N)). The
  interval is ``AUC ± z · sqrt(variance)``, z the normal quantile of the confidence,
  clipped to [0, 1].
- ``brier`` and ``log_loss``: **CLT**. Each is the mean of a per-row loss
  (``(p − y)²``, ``−y ln p − (1 − y) ln(1 − p)``), so the interval is the textbook one of
  a mean — ``mean ± t · s / √n``, t Student's quantile with n − 1 degrees of freedom, s
  the per-row losses' standard deviation — exact in method (no approximation beyond the
  central limit theorem itself), clipped to the metric's range.
- ``average_precision``: the **logit** interval of Boyd, Eng & Page (2013), "Area under
  the precision-recall curve: point estimates and confidence intervals" (ECML PKDD):
  ``expit(logit(AP) ± z · τ)``, ``τ = 1 / sqrt(m · AP · (1 − AP))``, m the positives —
  the interval among those they compare with close to nominal coverage on binormal
  scores. (None when AP is 0 or 1.)
- every other metric (``ece``, ``ks``, the confusion-matrix metrics): a **seeded
  percentile bootstrap of the (score cell, label) count table** — ``resamples``
  multinomial draws of the day's n rows over its count table (seed 0), each metric
  computed for all draws at once by :func:`~deployready.performance.weighted.weighted_metrics`
  on the table (a few thousand groups instead of n rows); the interval is the (1 − c)/2
  and (1 + c)/2 percentiles of the drawn values (draws with a single class left out).
  The table groups rows by label and by **exact score** when the day has at most
  ``CELLS`` distinct scores — then the draw *is* the row bootstrap (rows of equal score
  and label are interchangeable) — else by one of ``CELLS`` = 10 000 equal-width score
  cells (1 000 in each of the ECE's 10 bins, the bin computed as the ECE does) and sides
  of the 0.5 decision threshold, each group's rows given their mean score (kept within
  their range, so no row changes bin or side). The groups nest the ECE bins and the
  decision threshold exactly, so the accuracy / precision / recall / F1 of every
  draw are exact; a draw's ECE moves by at most the cell width, 1 / ``CELLS`` = 0.0001
  (each row's score moves by less than that within its bin); its KS by at most the
  largest share of the positives plus the negatives one cell holds (a threshold inside a
  cell is missed). The figures themselves are always computed exactly (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from deployready.certification.metrics import DECISION_THRESHOLD, ECE_BINS
from deployready.performance.weighted import weighted_metrics

DELONG = "DeLong"
CLT = "CLT"
LOGIT = "logit"
BOOTSTRAP = "bootstrap"
#: per-row loss of the metrics that are a mean of one (their interval: CLT)
_LOSSES = ("brier", "log_loss")
#: score cells of the bootstrap's count table (a multiple of the ECE bins)
CELLS = 10_000
#: cells (draws × groups) of one block of bootstrap weights
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    method: str  # DELONG, CLT, LOGIT or BOOTSTRAP


def interval_method(name: str) -> str:
    """The interval method of metric ``name`` (see the module doc)."""
    if name == "roc_auc":
        return DELONG
    if name in _LOSSES:
        return CLT
    if name == "average_precision":
        return LOGIT
    return BOOTSTRAP


def _split(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    return p[y == 1], p[y == 0]


def delong_variance(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(AUC, its DeLong variance) of the scores ``p`` for 0/1 labels ``y``."""
    pos, neg = _split(y, p)
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        raise ValueError("DeLong needs at least two positives and two negatives")
    tx = stats.rankdata(pos)
    ty = stats.rankdata(neg)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n  # per positive: share of negatives below it
    v01 = 1.0 - (tz[m:] - ty) / m  # per negative: share of positives above it
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    return float(auc), variance


def z_value(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def delong_interval(y: np.ndarray, p: np.ndarray, confidence: float) -> Interval:
    auc, variance = delong_variance(y, p)
    half = z_value(confidence) * float(np.sqrt(variance))
    return Interval(max(0.0, auc - half), min(1.0, auc + half), DELONG)


def clt_interval(name: str, y: np.ndarray, p: np.ndarray, confidence: float) -> Interval:
    """Student-t interval of the mean per-row loss of ``name`` (brier or log_loss)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if name == "brier":
        loss, top = (p - y) ** 2, 1.0
    else:
        q = np.clip(p, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
        loss, top = -(y * np.log(q) + (1 - y) * np.log(1 - q)), np.inf
    n = loss.size
    if n < 2:
        return Interval(None, None, CLT)
    mean = float(loss.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * loss.std(ddof=1) / np.sqrt(n))
    return Interval(max(0.0, mean - half), min(top, mean + half), CLT)


def logit_ap_interval(ap: float, positives: int, confidence: float) -> Interval:
    """Boyd, Eng & Page's (2013) logit interval of average precision ``ap`` on
    ``positives`` positive rows."""
    if not 0.0 < ap < 1.0 or positives < 1:
        return Interval(None, None, LOGIT)
    tau = 1.0 / np.sqrt(positives * ap * (1.0 - ap))
    mu = float(np.log(ap / (1.0 - ap)))
    z = z_value(confidence)
    low, high = (float(1.0 / (1.0 + np.exp(-(mu + s * z * tau)))) for s in (-1, 1))
    return Interval(low, high, LOGIT)


def _cell(p: np.ndarray, cells: int) -> np.ndarray:
    """Score cell of each row: ``cells / ECE_BINS`` equal cells inside each ECE bin (the
    bin computed as the ECE computes it, so the nesting holds in floating point too)."""
    per_bin = cells // ECE_BINS
    ece_bin = np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
    sub = np.clip(((p * ECE_BINS - ece_bin) * per_bin).astype(np.int64), 0, per_bin - 1)
    return ece_bin * per_bin + sub


def count_table(
    y: np.ndarray, p: np.ndarray, cells: int = CELLS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, score, rows) of each non-empty (score group, label) group of the rows: a
    group per distinct score when there are at most ``cells``, else per score cell and
    side of the decision threshold, its score the mean of its rows' kept within their
    range (see the module doc). ``cells`` is a multiple of the ECE's bins."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    distinct, exact_key = np.unique(p, return_inverse=True)
    if distinct.size <= cells:
        groups, rows = np.unique(exact_key * 2 + y, return_counts=True)
        return (groups % 2).astype(np.float64), distinct[groups // 2], rows
    hard = (p >= DECISION_THRESHOLD).astype(np.int64)
    code = (_cell(p, cells) * 2 + hard) * 2 + y
    order = np.argsort(code, kind="stable")
    ordered, ps = code[order], p[order]
    starts = np.flatnonzero(np.r_[True, np.diff(ordered) != 0])
    rows = np.diff(np.r_[starts, ordered.size])
    mean = np.add.reduceat(ps, starts) / rows
    score = np.clip(mean, np.minimum.reduceat(ps, starts), np.maximum.reduceat(ps, starts))
    return (ordered[starts] % 2).astype(np.float64), score, rows


def bootstrap_intervals(
    names: Sequence[str],
    y: np.ndarray,
    p: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int = 0,
    cells: int = CELLS,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of every metric in ``names``: one set of
    multinomial draws of the rows over their count table (see the module doc)."""
    labels, scores, rows = count_table(y, p, cells)
    n = int(rows.sum())
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {name: [] for name in names}
    block = max(1, min(resamples, _BLOCK_CELLS // max(rows.size, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        counts = rng.multinomial(n, rows / n, size=b).astype(np.float64)
        for name, drawn in weighted_metrics(list(names), labels, scores, counts).items():
            values[name].append(drawn)
        done += b
    tail = (1 - confidence) / 2 * 100
    out: dict[str, Interval] = {}
    for name in names:
        drawn = np.concatenate(values[name])
        drawn = drawn[np.isfinite(drawn)]
        if drawn.size == 0:
            out[name] = Interval(None, None, BOOTSTRAP)
            continue
        low, high = np.percentile(drawn, [tail, 100 - tail])
        out[name] = Interval(float(low), float(high), BOOTSTRAP)
    return out


def metric_intervals(
    values: Mapping[str, float],
    y: np.ndarray,
    p: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> dict[str, Interval]:
    """The interval of every metric of ``values`` (metric → its figure on ``y``, ``p``),
    each by its :func:`interval_method`."""
    y = np.asarray(y, dtype=np.int64)
    methods = {name: interval_method(name) for name in values}
    boot = [name for name, method in methods.items() if method == BOOTSTRAP]
    out = bootstrap_intervals(boot, y, p, confidence=confidence, resamples=resamples,
                              seed=seed) if boot else {}
    for name, method in methods.items():
        if method == DELONG:
            try:
                out[name] = delong_interval(y, p, confidence)
            except ValueError:  # fewer than two of a class
                out[name] = Interval(None, None, DELONG)
        elif method == CLT:
            out[name] = clt_interval(name, y, p, confidence)
        elif method == LOGIT:
            out[name] = logit_ap_interval(values[name], int(y.sum()), confidence)
    return out
