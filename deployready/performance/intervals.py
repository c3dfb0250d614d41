"""Confidence intervals of realized performance.

- ROC AUC: **DeLong**, analytic. The variance of the AUC is
  ``S10 / m + S01 / n`` over the m positives and n negatives, ``S10`` and ``S01`` the
  sample variances (ddof 1) of the structural components — for each positive the share
  of negatives it outscores (ties count ½), for each negative the share of positives
  that outscore it — computed from midranks (Sun & Xu's fast algorithm:
  ``scipy.stats.rankdata`` of the positives, the negatives and both, O(N log N)). The
  interval is ``AUC ± z · sqrt(variance)``, z the normal quantile of the confidence,
  clipped to [0, 1].
- Every other metric: a **seeded percentile bootstrap**: ``resamples`` resamples of the
  labelled rows (with replacement, seed 0), each metric computed for all of them at once
  by :func:`~deployready.performance.weighted.weighted_metrics` on the resample counts,
  in blocks of bounded memory; the interval is the (1 − c)/2 and (1 + c)/2 percentiles
  of the resampled values (resamples with a single class left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from deployready.performance.weighted import weighted_metrics

DELONG = "DeLong"
BOOTSTRAP = "bootstrap"
#: cells (resamples × rows) of one block of bootstrap weights
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    method: str  # DELONG or BOOTSTRAP


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


def bootstrap_intervals(
    names: Sequence[str],
    y: np.ndarray,
    p: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of every metric in ``names`` (one set of resamples)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    n = y.size
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {name: [] for name in names}
    block = max(1, min(resamples, _BLOCK_CELLS // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        idx = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        for name, drawn in weighted_metrics(list(names), y, p, counts).items():
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
