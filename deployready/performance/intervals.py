"""Confidence intervals of realized performance, each computed once per day in
O(n log n) — never a metric recomputed on n rows per resample.

Which method each metric gets is decided by :func:`interval_method` alone:

- ``roc_auc``: **DeLong**, analytic. The variance of the AUC is
  ``S10 / m + S01 / n`` over the m positives and n negatives, ``S10`` and ``S01`` the
  sample variances (ddof 1) of the structural components — for each positive the share
  of negatives it outscores (ties count ½), for each negative the share of positives
  that outscore it — the midrank counts of Sun & Xu's fast algorithm, read from the
  day's one sort (:mod:`~deployready.performance.sorted_day`): every row of a tie group
  and label has the same component, from the negatives below the group and the
  positives above it plus half of the group's own. The interval is
  ``AUC ± z · sqrt(variance)``, z the normal quantile of the confidence, clipped to
  [0, 1].
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
  multinomial draws of the day's n rows over its count table (one generator seeded 0
  per day; the draws made by :mod:`~deployready.performance.resample`, exactly
  multinomial, 5–8× faster than NumPy's own on a 100,000-row day), each metric
  computed for blocks of draws at once by
  :func:`~deployready.performance.weighted.weighted_metrics` on the table (a few
  thousand groups instead of n rows, already in score order); the interval is the
  (1 − c)/2 and (1 + c)/2 percentiles of the drawn values (draws with a single class
  left out).
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
  cell is missed). The table is read from the day's sorted rows (:func:`day_table`):
  the cells and sides are runs of the ascending scores. The figures themselves are
  always computed exactly (equal to scikit-learn's).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from deployready.certification.metrics import DECISION_THRESHOLD, ECE_BINS
from deployready.performance.resample import multinomial_draws
from deployready.performance.sorted_day import SortedDay, sort_day
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
_BLOCK_CELLS = 1 << 18


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


def delong_from(day: SortedDay) -> tuple[float, float]:
    """(AUC, its DeLong variance) from the tie groups of a sorted day: the structural
    components are the same for every row of a tie group and label (see the module doc)."""
    m, n = int(day.positives.sum()), int(day.negatives.sum())
    if m < 2 or n < 2:
        raise ValueError("DeLong needs at least two positives and two negatives")
    pos, neg = day.positives.astype(np.float64), day.negatives.astype(np.float64)
    fps, tps = day.curve  # at or above each tie group, highest first
    below = n - fps[::-1]  # negatives under each tie group
    above = tps[::-1] - pos  # positives over it
    v10 = (below + 0.5 * neg) / n  # per positive: share of negatives below it
    v01 = (above + 0.5 * pos) / m  # per negative: share of positives above it
    auc = float(np.einsum("i,i->", pos, v10) / m)  # (NumPy's loops, not BLAS: weighted._dot)
    v10 -= auc
    s10 = float(np.einsum("i,i,i->", pos, v10, v10) / (m - 1))
    mean01 = float(np.einsum("i,i->", neg, v01) / n)
    v01 -= mean01
    s01 = float(np.einsum("i,i,i->", neg, v01, v01) / (n - 1))
    return auc, s10 / m + s01 / n


def delong_variance(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(AUC, its DeLong variance) of the scores ``p`` for 0/1 labels ``y``."""
    return delong_from(sort_day(y, p))


@functools.lru_cache(maxsize=16)
def z_value(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (one per policy: kept)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def delong_interval(
    y: np.ndarray, p: np.ndarray, confidence: float, day: SortedDay | None = None
) -> Interval:
    """``AUC ± z · sqrt(variance)``, clipped to [0, 1] (``day``: the rows' sort)."""
    auc, variance = delong_from(day if day is not None else sort_day(y, p))
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


def day_table(day: SortedDay, cells: int = CELLS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, score, rows) of each non-empty (score group, label) group of a sorted day,
    ascending by score: a group per distinct score when there are at most ``cells``, else
    per score cell and side of the decision threshold, its score the mean of its rows'
    kept within their range (see the module doc). ``cells`` is a multiple of the ECE's
    bins."""
    if day.starts.size <= cells:
        rows = np.stack((day.negatives, day.positives), axis=1).ravel()
        labels = np.tile(np.array([0.0, 1.0]), day.starts.size)
        keep = rows > 0
        return labels[keep], np.repeat(day.group_scores, 2)[keep], rows[keep]
    p, y = day.scores, day.labels
    block = _cell(p, cells) * 2 + (p >= DECISION_THRESHOLD)  # non-decreasing along p
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    rows = np.stack((np.diff(np.r_[starts, p.size]) - np.add.reduceat(y, starts),
                     np.add.reduceat(y, starts)), axis=1)
    score = np.empty(rows.shape)
    for label in (0, 1):
        mine = y == label
        total = np.add.reduceat(np.where(mine, p, 0.0), starts)
        low = np.minimum.reduceat(np.where(mine, p, np.inf), starts)
        high = np.maximum.reduceat(np.where(mine, p, -np.inf), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            score[:, label] = np.clip(total / rows[:, label], low, high)
    keep = rows.ravel() > 0
    labels = np.tile(np.array([0.0, 1.0]), starts.size)[keep]
    scores, counts = score.ravel()[keep], rows.ravel()[keep]
    order = np.argsort(scores, kind="stable")  # a cell's two labels: either mean first
    return labels[order], scores[order], counts[order]


def count_table(
    y: np.ndarray, p: np.ndarray, cells: int = CELLS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`day_table` of the rows (0/1 labels ``y``, scores ``p``)."""
    return day_table(sort_day(y, p), cells)


def bootstrap_intervals(
    names: Sequence[str],
    y: np.ndarray,
    p: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int = 0,
    cells: int = CELLS,
    day: SortedDay | None = None,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of every metric in ``names``: one set of
    multinomial draws of the rows over their count table (see the module doc); ``day``
    is the rows' :func:`~deployready.performance.sorted_day.sort_day` when known."""
    labels, scores, rows = day_table(day if day is not None else sort_day(y, p), cells)
    draws = multinomial_draws(np.random.default_rng(seed), rows, resamples)
    values: dict[str, list[np.ndarray]] = {name: [] for name in names}
    block = max(1, min(resamples, _BLOCK_CELLS // max(rows.size, 1)))
    for first in range(0, resamples, block):
        counts = draws[first:first + block]
        drawn = weighted_metrics(list(names), labels, scores, counts, ascending=True)
        for name in names:
            values[name].append(drawn[name])
    tail = (1 - confidence) / 2 * 100
    out: dict[str, Interval] = {}
    for name in names:
        kept = np.concatenate(values[name])
        kept = kept[np.isfinite(kept)]
        if kept.size == 0:
            out[name] = Interval(None, None, BOOTSTRAP)
            continue
        low, high = np.percentile(kept, [tail, 100 - tail])
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
    day: SortedDay | None = None,
) -> dict[str, Interval]:
    """The interval of every metric of ``values`` (metric → its figure on ``y``, ``p``),
    each by its :func:`interval_method`; ``day`` is the rows' sort when known."""
    y = np.asarray(y, dtype=np.int64)
    methods = {name: interval_method(name) for name in values}
    if day is None and any(m in (DELONG, BOOTSTRAP) for m in methods.values()):
        day = sort_day(y, p)
    boot = [name for name, method in methods.items() if method == BOOTSTRAP]
    out = bootstrap_intervals(boot, y, p, confidence=confidence, resamples=resamples,
                              seed=seed, day=day) if boot else {}
    for name, method in methods.items():
        if method == DELONG:
            try:
                out[name] = delong_interval(y, p, confidence, day)
            except ValueError:  # fewer than two of a class
                out[name] = Interval(None, None, DELONG)
        elif method == CLT:
            out[name] = clt_interval(name, y, p, confidence)
        elif method == LOGIT:
            out[name] = logit_ap_interval(values[name], int(y.sum()), confidence)
    return out
