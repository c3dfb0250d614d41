"""The latency histogram of a profile: fixed log-linear buckets that merge exactly.

Buckets are the intervals between fixed edges ``e_k = MIN_MS · γ^k`` (k = 0..N), with
``γ = (1 + α) / (1 − α)`` and ``α = RELATIVE_ERROR`` (0.5 %), as DDSketch maps values.
A latency ``x`` goes to bucket ``#{k : e_k ≤ x}`` — bucket 0 holds ``x < MIN_MS``
(1 µs, zero included), bucket ``k + 1`` holds ``e_k ≤ x < e_{k+1}``. The edges are
one table of float64 numbers (:data:`EDGES`), so every engine assigns a bucket by
comparing against the same numbers and the counts are identical whichever computed
them; counts of two profiles add.

**The bound.** A bucket is represented by ``2·e_k·e_{k+1} / (e_k + e_{k+1})``, within
``α`` of every value in it (relative). A percentile is numpy's default (linear
interpolation between the order statistics ``⌊h⌋`` and ``⌈h⌉``, ``h = q·(n − 1)``) taken
over the representatives of those two order statistics: each is within ``α`` of the
true value, so is their interpolation. Hence: **every percentile, the maximum and the
minimum from a histogram are within 0.5 % of the exact figure** (or 1 µs, for latencies
under 1 µs). The mean is exact to 1 µs: profiles keep ``Σ ⌊latency_ms · 1000⌋``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from deployready.monitoring.logs_schema import MAX_LATENCY_MS

__all__ = [
    "EDGES",
    "GAMMA",
    "MIN_MS",
    "RELATIVE_ERROR",
    "buckets_of",
    "histogram_of",
    "quantiles",
    "representatives",
]

RELATIVE_ERROR = 0.005
GAMMA = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
MIN_MS = 0.001  # 1 µs: smaller latencies (zero included) share bucket 0
_N = math.ceil(math.log(MAX_LATENCY_MS / MIN_MS) / math.log(GAMMA)) + 1
#: e_0 .. e_N; e_N > MAX_LATENCY_MS, so every valid latency has a bucket below N + 1
EDGES: np.ndarray = MIN_MS * np.power(GAMMA, np.arange(_N + 1, dtype=np.float64))
EDGES.setflags(write=False)


def buckets_of(latency_ms: np.ndarray) -> np.ndarray:
    """Bucket of every latency: the number of edges ≤ it (int64)."""
    values = np.asarray(latency_ms, dtype=np.float64)
    return np.searchsorted(EDGES, values, side="right").astype(np.int64)


def histogram_of(latency_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(buckets, counts) of the non-empty buckets, buckets ascending."""
    buckets, counts = np.unique(buckets_of(latency_ms), return_counts=True)
    return buckets.astype(np.int64), counts.astype(np.int64)


def representatives(buckets: np.ndarray) -> np.ndarray:
    """The value a bucket stands for: 0 for bucket 0, else the harmonic mean of its edges
    (within :data:`RELATIVE_ERROR` of every value in the bucket)."""
    b = np.asarray(buckets, dtype=np.int64)
    lo = EDGES[np.clip(b - 1, 0, EDGES.size - 1)]
    hi = EDGES[np.clip(b, 0, EDGES.size - 1)]
    rep = 2.0 * lo * hi / (lo + hi)
    return np.where(b == 0, 0.0, rep)


def quantiles(
    buckets: np.ndarray, counts: np.ndarray, qs: Sequence[float]
) -> list[float | None]:
    """numpy-default (linear) percentiles of the values a histogram holds, within the
    bound above; None for every ``q`` of an empty histogram."""
    b = np.asarray(buckets, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    keep = c > 0
    b, c = b[keep], c[keep]
    order = np.argsort(b, kind="stable")
    b, c = b[order], c[order]
    n = int(c.sum())
    if n == 0:
        return [None for _ in qs]
    ends = np.cumsum(c)  # order statistic j (0-based) is in the first bucket with ends > j
    reps = representatives(b)
    out: list[float | None] = []
    for q in qs:
        h = float(q) * (n - 1)
        lo, hi = math.floor(h), math.ceil(h)
        r_lo = reps[int(np.searchsorted(ends, lo, side="right"))]
        r_hi = reps[int(np.searchsorted(ends, hi, side="right"))]
        out.append(float(r_lo + (h - lo) * (r_hi - r_lo)))
    return out
