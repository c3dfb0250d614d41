"""Requests in flight over a run, from each request's send and completion time.

A request is *in flight* on the half-open interval ``[send, end)`` (µs from the phase
start, one clock): sent and not yet answered, timed out or failed. The count over time
is a step function computed by a sweep over the sorted send (+1) and end (−1) events;
at equal times ends come first, so a request answered at *t* and one sent at *t* never
overlap. The count is capped at the connection pool (``pool``: the closed loop's clients,
the open loop's connections): requests beyond it wait in the client for a connection
and do not reach the server.

Summary (the ``concurrency`` section of a run's result):

- ``max`` / ``mean``: the largest count and the time-weighted mean over the measured
  span, first send → last completion (``duration_s``);
- ``us_at_least``: element ``k − 1`` is the time, in µs, during which at least ``k``
  requests were in flight — so the time at or above any concurrency can be read back
  later against whatever the policy then says;
- ``max_outstanding``: the uncapped largest count (above ``pool`` when requests waited
  for a connection).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def in_flight_steps(send_us: np.ndarray, end_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The in-flight count as a step function: ``count[i]`` holds on ``[t[i], t[i+1])``.

    ``t`` are the distinct event times (sorted); the last count is 0.
    """
    send = np.asarray(send_us, dtype=np.int64).ravel()
    end = np.asarray(end_us, dtype=np.int64).ravel()
    if send.shape != end.shape:
        raise ValueError(f"{send.size} send times but {end.size} completion times")
    if send.size and np.any(end < send):
        bad = int(np.flatnonzero(end < send)[0])
        raise ValueError(f"request {bad} completes ({end[bad]} µs) before it is sent "
                         f"({send[bad]} µs)")
    if send.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    times = np.concatenate([send, end])
    delta = np.concatenate([np.ones(send.size, dtype=np.int64),
                            -np.ones(end.size, dtype=np.int64)])
    order = np.lexsort((delta, times))  # by time, then −1 before +1
    t = times[order]
    count = np.cumsum(delta[order])
    last_of_time = np.r_[t[1:] != t[:-1], True]
    return t[last_of_time], count[last_of_time]


def concurrency_profile(send_us: np.ndarray, end_us: np.ndarray,
                        pool: int | None = None) -> dict[str, Any]:
    """Max, time-weighted mean and time at each level of the requests in flight."""
    t, raw = in_flight_steps(send_us, end_us)
    if t.size == 0:
        return {"measured": True, "requests": 0, "pool": pool, "duration_s": 0.0,
                "duration_us": 0, "max": 0, "mean": 0.0, "max_outstanding": 0,
                "us_at_least": []}
    count = np.minimum(raw, pool) if pool is not None else raw
    dt = np.diff(t)  # µs each count holds; the last count (0) holds for no time
    level = count[:-1]
    duration_us = int(t[-1] - t[0])
    top = int(count.max())
    at_level = np.bincount(level, weights=dt, minlength=top + 1).astype(np.int64)
    at_least = np.cumsum(at_level[::-1])[::-1]  # [k]: time with >= k in flight
    mean = float(np.dot(level, dt)) / duration_us if duration_us > 0 else 0.0
    return {
        "measured": True,
        "requests": int(np.asarray(send_us).size),
        "pool": pool,
        "duration_s": round(duration_us / 1e6, 6),
        "duration_us": duration_us,
        "max": top,
        "mean": round(mean, 3),
        "max_outstanding": int(raw.max()),
        "us_at_least": [int(v) for v in at_least[1:]],
    }


def time_at_least(profile: dict[str, Any], level: int) -> tuple[float, float]:
    """(seconds, fraction of the measured span) with at least ``level`` in flight."""
    at_least = profile.get("us_at_least") or []
    duration_us = int(profile.get("duration_us") or 0)
    if level <= 0:
        return duration_us / 1e6, 1.0 if duration_us > 0 else 0.0
    us = int(at_least[level - 1]) if level <= len(at_least) else 0
    return us / 1e6, (us / duration_us if duration_us > 0 else 0.0)


def is_measured(profile: Any) -> bool:
    """True when a stored run carries its in-flight measurement."""
    return (isinstance(profile, dict) and profile.get("measured") is True
            and isinstance(profile.get("us_at_least"), list)
            and isinstance(profile.get("duration_us"), int))


def step_series(send_us: np.ndarray, end_us: np.ndarray, pool: int | None = None,
                bins: int = 400) -> dict[str, list[float]]:
    """The in-flight count for a chart: per time bin, the time-weighted mean and the max.

    ``t_s`` are the bins' start times in seconds from the first send.
    """
    t, raw = in_flight_steps(send_us, end_us)
    if t.size < 2 or t[-1] == t[0]:
        return {"t_s": [], "mean": [], "max": []}
    count = np.minimum(raw, pool) if pool is not None else raw
    edges = np.linspace(float(t[0]), float(t[-1]), bins + 1)
    # integral of the count at each step time, then at each bin edge (linear between)
    integral = np.r_[0.0, np.cumsum(count[:-1] * np.diff(t).astype(np.float64))]
    at_edges = np.interp(edges, t.astype(np.float64), integral)
    mean = np.diff(at_edges) / np.diff(edges)
    # max per bin: the count in force at the bin's start, and every step inside it
    start_idx = np.searchsorted(t, edges[:-1], side="right") - 1
    peak = count[np.clip(start_idx, 0, None)].astype(np.int64)
    inside = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    np.maximum.at(peak, inside, count)
    return {"t_s": [round((e - float(t[0])) / 1e6, 6) for e in edges[:-1]],
            "mean": [round(float(v), 3) for v in mean], "max": [int(v) for v in peak]}
