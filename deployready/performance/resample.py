"""The bootstrap's resamples of a count table: exact multinomial draws, fast.

One bootstrap resample of a day's n rows, grouped in k cells of ``rows`` rows each, is one
draw of Multinomial(n, rows / n) over the cells. NumPy's ``Generator.multinomial`` draws
it as one binomial per cell, ~0.1 µs each: 0.4 s for 200 draws of the 18,000 cells of a
100,000-row day. :func:`multinomial_draws` draws the same distribution, exactly, in two
steps:

1. **Poissonization**: independent X_g ~ Poisson(rows_g · (1 − c)) for every cell,
   c = min(1/2, 3 / √n). Given their total s, X is Multinomial(s, rows / n) (the means
   are proportional to the rows). The means add up to a little less than n, so that s
   falls short of n in all but ~0.1 % of the draws (3 standard deviations).
2. **Correction to n**: when s < n, n − s more rows are drawn from rows / n (each a
   uniform row number mapped to its cell) and added; when s > n, s − n of the s drawn
   rows, chosen uniformly without replacement, are taken away. Either way the result,
   given s, is Multinomial(n, rows / n) — a multinomial plus an independent one with
   the same probabilities, or a uniform subset of exchangeable draws — so it is that,
   whatever s was (c changes the cost, never the distribution).

The Poisson variates of cells of at most :data:`SMALL` rows (nearly all of them) are
drawn by **inversion through a guide table**, per distinct row count λ: the CDF of
Poisson(λ) is tabulated (SciPy, float64) and [0, 1) cut into 4,096 equal buckets; a
random bucket whose interval holds no CDF value gives its variate at once (one table
look-up), the others (a bucket holding a CDF value: ~1 %) draw a uniform inside the
bucket and count the CDF values below it. That is inversion of the tabulated CDF, exact
up to float64. Larger cells: NumPy's ``poisson``. All from the one seeded generator.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: cells of at most this many rows: guide-table inversion (larger: NumPy's poisson)
SMALL = 64
_BITS = 12
_BUCKETS = 1 << _BITS
#: draws whose variates are made together (bounds the temporaries)
_BLOCK = 32


def _tables(lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cdf, guide) of the distinct row counts ``lams``: ``cdf[r, x]`` = P(X ≤ x) for
    X ~ Poisson(lams[r]); ``guide[r, b]`` = the variate of every uniform in bucket b, or
    −1 − (the variate at the bucket's start) when a CDF value lies inside the bucket."""
    top = int(lams.max() + 12 * np.sqrt(lams.max()) + 30)  # beyond: P < 1e-30
    cdf = stats.poisson.cdf(np.arange(top)[None, :], lams[:, None].astype(np.float64))
    cdf[:, -1] = 1.0
    scaled = cdf * _BUCKETS  # exact: a power of two
    # the variate at u = b / B is the number of CDF values <= u, i.e. ceil(B·F) <= b
    first = np.minimum(np.ceil(scaled).astype(np.int64), _BUCKETS)
    counts = np.zeros((lams.size, _BUCKETS + 1), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(lams.size), top), first.ravel()), 1)
    guide = np.cumsum(counts[:, :_BUCKETS], axis=1).astype(np.int32)
    inside = (scaled != np.floor(scaled)) & (scaled < _BUCKETS)
    rows, cols = np.nonzero(inside)
    bucket = np.floor(scaled[rows, cols]).astype(np.int64)
    guide[rows, bucket] = -1 - guide[rows, bucket]
    return cdf, guide


def _refine(
    rng: np.random.Generator, start: np.ndarray, bucket: np.ndarray, cdf: np.ndarray,
    row: np.ndarray,
) -> np.ndarray:
    """The variates of uniforms drawn inside ``bucket`` (each of the distribution of its
    ``cdf`` row), counted up from the variate at the bucket's start."""
    u = (bucket + rng.random(bucket.size)) / _BUCKETS
    x = start.astype(np.int64)
    while True:
        below = u >= cdf[row, x]
        if not below.any():
            return x
        x += below


def _poisson_small(rng: np.random.Generator, lam: np.ndarray, size: int) -> np.ndarray:
    """``size`` × len(lam) Poisson(lam) variates by guide-table inversion."""
    lams, column = np.unique(lam, return_inverse=True)
    cdf, guide = _tables(lams)
    base = column.astype(np.intp) * _BUCKETS
    flat = guide.ravel()
    out = np.empty((size, lam.size), dtype=np.int32)
    for first in range(0, size, _BLOCK):
        block = out[first:min(size, first + _BLOCK)]
        bucket = rng.integers(0, _BUCKETS, size=block.shape, dtype=np.int16)
        np.take(flat, base + bucket, out=block)
        odd = np.flatnonzero(block < 0)
        if odd.size:
            col = odd % lam.size
            block.ravel()[odd] = _refine(rng, -1 - block.ravel()[odd], bucket.ravel()[odd],
                                         cdf, column[col])
    return out


def _poisson(rng: np.random.Generator, lam: np.ndarray, size: int) -> np.ndarray:
    small = lam <= SMALL
    if small.all():
        return _poisson_small(rng, lam, size)
    out = np.empty((size, lam.size), dtype=np.int32)
    if small.any():
        out[:, small] = _poisson_small(rng, lam[small], size)
    out[:, ~small] = rng.poisson(lam[~small], size=(size, int((~small).sum())))
    return out


def _correct(rng: np.random.Generator, draws: np.ndarray, rows: np.ndarray) -> None:
    """Step 2 of the module doc, in place: every draw brought to n = rows.sum() rows."""
    n, k = int(rows.sum()), rows.size
    gap = n - draws.sum(axis=1, dtype=np.int64)
    short = np.flatnonzero(gap > 0)
    if short.size:  # uniform row numbers, each row's cell looked up
        which = np.repeat(short, gap[short])
        cell_of_row = np.repeat(np.arange(k), rows)
        cells = cell_of_row[rng.integers(0, n, which.size)]
        np.add.at(draws.ravel(), which * k + cells, draws.dtype.type(1))
    for j in np.flatnonzero(gap < 0):  # distinct drawn rows, each row's cell looked up
        have = np.cumsum(draws[j], dtype=np.int64)
        drop = rng.choice(int(have[-1]), size=int(-gap[j]), replace=False)
        cells = np.searchsorted(have, drop, side="right")
        draws[j] -= np.bincount(cells, minlength=k).astype(draws.dtype)


def multinomial_draws(rng: np.random.Generator, rows: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws (rows of the result) of Multinomial(n, rows / n), n = rows.sum(),
    over the cells of ``rows`` (positive counts): see the module doc."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros((size, 0), dtype=np.int32)
    share = 1.0 - min(0.5, 3.0 / float(np.sqrt(rows.sum())))
    draws = _poisson(rng, rows * share, size)
    _correct(rng, draws, rows)
    return draws
