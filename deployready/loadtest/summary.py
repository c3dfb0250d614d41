"""From raw samples to the parts of a :class:`~deployready.loadtest.results.LoadTestResult`.

Percentile rules:

- Percentiles (numpy's default linear interpolation) are over the requests that
  succeeded **and** the timeouts, each timeout entered at exactly the timeout value, so
  a server that stalls past the timeout cannot improve its P99. Other errors (HTTP
  5xx, refused connections) are excluded from the percentiles — a fast 500 is not a fast
  prediction — and counted as errors, which fail the run on their own.
- Every percentile is reported with the number of samples it was computed from and
  the number of samples above it (1000 requests leave 10 samples above P99).

Consistency (tolerance ``policy.load_test.consistency_tolerance``, stated in the result):

- *holdout*: each returned prediction against the package's expected prediction for
  that holdout row (``holdout_expected.json``);
- *repeats*: the same row sent several times must get the same prediction (max − min
  per row within the tolerance; batched and single predictions differ by ~1e-16).
"""

from __future__ import annotations

import numpy as np

from deployready.loadtest.concurrency import concurrency_profile
from deployready.loadtest.loadgen import KINDS, LATE_US, NOT_SENT, OK, TIMEOUT, Samples
from deployready.loadtest.results import (
    Consistency,
    InFlight,
    OpenLoop,
    Percentiles,
    PhaseSummary,
    Requests,
)

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9),
)


def latency_summary(latency_us: np.ndarray) -> Percentiles:
    """P50/P95/P99/P99.9/mean/max/min in ms (µs precision) with sample counts."""
    values = np.asarray(latency_us, dtype=np.float64)
    n = int(values.size)
    if n == 0:
        return Percentiles(count=0)
    pcts = np.percentile(values, [q for _, q in PERCENTILES])
    above = {name: int(np.count_nonzero(values > value))
             for (name, _), value in zip(PERCENTILES, pcts, strict=True)}
    p50, p95, p99, p99_9, mean, top, low = (
        round(float(v) / 1000.0, 3) for v in (*pcts, values.mean(), values.max(), values.min()))
    return Percentiles(count=n, p50=p50, p95=p95, p99=p99, p99_9=p99_9, mean=mean, max=top,
                       min=low, above=above)


def measured(samples: Samples) -> np.ndarray:
    """The latencies that enter the percentiles: successes and timeouts."""
    mask = (samples.kind == OK) | (samples.kind == TIMEOUT)
    kept: np.ndarray = samples.latency_us[mask]
    return kept


def _open_loop(samples: Samples, rate: float | None, sent: int) -> OpenLoop:
    lag = samples.lag_us[samples.kind != NOT_SENT]
    return OpenLoop(
        target_rate_rps=rate,
        achieved_rate_rps=round((sent - 1) / samples.dispatch_s, 2)
        if samples.dispatch_s > 0 and sent > 1 else None,
        late_sends=int(np.count_nonzero(lag > LATE_US)),
        late_threshold_ms=LATE_US / 1000.0,
        max_send_lag_ms=round(float(lag.max()) / 1000.0, 3) if lag.size else None,
        p99_send_lag_ms=round(float(np.percentile(lag, 99)) / 1000.0, 3) if lag.size else None,
    )


def phase_summary(samples: Samples, *, mode: str, rate: float | None,
                  pool: int | None = None) -> PhaseSummary:
    """Counts, percentiles, duration and the requests in flight of one phase; ``pool``
    is the run's connection pool (closed loop: its clients)."""
    kinds = samples.kind
    counts = {name: int(np.count_nonzero(kinds == i)) for i, name in enumerate(KINDS)}
    sent = samples.planned - counts["not_sent"]
    ok = counts["ok"]
    was_sent = kinds != NOT_SENT
    return PhaseSummary(
        latency_ms=latency_summary(measured(samples)),
        requests=Requests(planned=samples.planned, sent=sent, ok=ok,
                          errors=samples.planned - ok, timeouts=counts["timeout"],
                          not_sent=counts["not_sent"]),
        errors_by_kind={k: v for k, v in counts.items() if k != "ok" and v},
        duration_s=round(samples.duration_s, 4),
        throughput_rps=round(ok / samples.duration_s, 2) if samples.duration_s > 0 else None,
        concurrency=InFlight.from_dict(concurrency_profile(
            samples.send_us[was_sent], samples.end_us[was_sent], pool=pool)),
        open_loop=_open_loop(samples, rate, sent) if mode == "open" else None,
    )


def consistency(samples: Samples, expected: np.ndarray, tolerance: float) -> Consistency:
    """Holdout predictions vs expected, and repeated rows vs each other."""
    ok = (samples.kind == OK) & np.isfinite(samples.prediction) & (samples.row >= 0)
    rows = samples.row[ok].astype(np.int64)
    preds = samples.prediction[ok]
    in_holdout = rows < len(expected)
    rows, preds = rows[in_holdout], preds[in_holdout]
    diff = np.abs(preds - expected[rows]) if rows.size else np.zeros(0)
    holdout_bad = int(np.count_nonzero(diff > tolerance))
    spread = np.zeros(0)
    if rows.size:
        order = np.argsort(rows, kind="stable")
        r, p = rows[order], preds[order]
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        counts = np.diff(np.r_[starts, r.size])
        spread = (np.maximum.reduceat(p, starts) - np.minimum.reduceat(p, starts))[counts > 1]
    repeat_bad = int(np.count_nonzero(spread > tolerance))
    checked = int(rows.size)
    return Consistency(
        tolerance=tolerance, checked=checked,
        distinct_rows=int(np.unique(rows).size) if rows.size else 0,
        holdout_mismatches=holdout_bad, max_abs_diff=float(diff.max()) if diff.size else 0.0,
        repeated_rows=int(spread.size), repeat_mismatches=repeat_bad,
        max_repeat_spread=float(spread.max()) if spread.size else 0.0,
        consistent=checked > 0 and holdout_bad == 0 and repeat_bad == 0,
    )
