"""Requests in flight from per-request send/completion times, and the load-profile rule.

The sweep over sorted start/end events is checked against a brute-force count on every
microsecond of small random runs; the rule is checked on stored results of both modes,
on a run stored before the measurement existed, and at its boundaries.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.checks import Status
from deployready.errors import PolicyError
from deployready.loadtest.checks import (
    checks_from_result,
    load_profile_check,
    profile_text,
    run_profile,
)
from deployready.loadtest.concurrency import (
    concurrency_profile,
    in_flight_steps,
    is_measured,
    step_series,
    time_at_least,
)
from deployready.loadtest.loadgen import NOT_SENT, OK, Samples
from deployready.loadtest.results import LoadTestResult
from deployready.loadtest.summary import phase_summary
from deployready.policy import LoadTestPolicy, parse_policy

# --------------------------------------------------------------------------- the sweep


def brute_force(send: np.ndarray, end: np.ndarray, pool: int | None) -> np.ndarray:
    """The count on every µs of [first send, last end): sent <= u < end."""
    grid = np.arange(send.min(), end.max())
    count = ((send[:, None] <= grid[None, :]) & (grid[None, :] < end[:, None])).sum(axis=0)
    return np.minimum(count, pool) if pool is not None else count


intervals = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 80)), min_size=1,
                     max_size=60)


@settings(max_examples=200, deadline=None)
@given(intervals, st.one_of(st.none(), st.integers(1, 12)))
def test_profile_matches_a_brute_force_count(pairs: list[tuple[int, int]],
                                             pool: int | None) -> None:
    send = np.array([s for s, _ in pairs], dtype=np.int64)
    end = send + np.array([d for _, d in pairs], dtype=np.int64)
    prof = concurrency_profile(send, end, pool=pool)
    assert prof["requests"] == len(pairs)
    assert prof["duration_us"] == end.max() - send.min()
    if prof["duration_us"] == 0:  # every request took 0 µs: nothing was ever in flight
        assert prof["max"] == 0 and prof["us_at_least"] == []
        return
    count = brute_force(send, end, pool)
    assert prof["max"] == count.max()
    assert prof["mean"] == pytest.approx(count.mean(), abs=1e-3)
    assert len(prof["us_at_least"]) == count.max()
    for k in range(1, count.max() + 2):
        seconds, fraction = time_at_least(prof, k)
        assert seconds * 1e6 == pytest.approx(np.count_nonzero(count >= k))
        assert fraction == pytest.approx(np.count_nonzero(count >= k) / count.size)
    uncapped = brute_force(send, end, None)
    assert prof["max_outstanding"] == uncapped.max()
    if pool is None:  # Little's law: mean in flight = total time in flight / span
        assert prof["mean"] == pytest.approx((end - send).sum() / count.size, abs=1e-3)


def test_steps_by_hand() -> None:
    # a: [0, 10), b: [5, 15), c: [10, 12) — b and c overlap, a ends as c starts
    t, c = in_flight_steps(np.array([0, 5, 10]), np.array([10, 15, 12]))
    assert list(t) == [0, 5, 10, 12, 15]
    assert list(c) == [1, 2, 2, 1, 0]
    prof = concurrency_profile(np.array([0, 5, 10]), np.array([10, 15, 12]))
    assert prof["max"] == 2 and prof["us_at_least"] == [15, 7]
    assert prof["mean"] == pytest.approx((10 + 10 + 2) / 15, abs=1e-3)
    assert time_at_least(prof, 2) == (7e-6, pytest.approx(7 / 15))
    assert time_at_least(prof, 3) == (0.0, 0.0)
    # back to back on one client is never two in flight
    prof = concurrency_profile(np.array([0, 10, 20]), np.array([10, 20, 30]))
    assert prof["max"] == 1 and prof["us_at_least"] == [30]


def test_bad_times_are_refused() -> None:
    with pytest.raises(ValueError, match="request 1 completes"):
        in_flight_steps(np.array([0, 10]), np.array([5, 9]))
    with pytest.raises(ValueError, match="2 send times but 1"):
        in_flight_steps(np.array([0, 10]), np.array([5]))
    assert concurrency_profile(np.zeros(0), np.zeros(0))["max"] == 0


def test_step_series_keeps_peaks_and_means() -> None:
    rng = np.random.default_rng(3)
    send = np.sort(rng.integers(0, 1_000_000, 5000))
    end = send + rng.integers(1, 20_000, 5000)
    series = step_series(send, end, bins=50)
    count = brute_force(send[:300], end[:300], None)  # small enough to brute-force
    small = step_series(send[:300], end[:300], bins=10)
    assert len(series["t_s"]) == 50 and series["t_s"][0] == 0.0
    assert max(series["max"]) == concurrency_profile(send, end)["max"]
    assert max(small["max"]) == count.max()
    span = count.size / 10
    for i in range(10):
        chunk = count[round(i * span):round((i + 1) * span)]
        assert small["mean"][i] == pytest.approx(chunk.mean(), rel=0.02, abs=0.02)
        assert small["max"][i] >= chunk.max()


def test_phase_summary_measures_in_flight_from_the_samples() -> None:
    s = Samples.empty(4)
    s.kind[:] = [OK, OK, OK, NOT_SENT]
    s.latency_us[:] = [1000, 1000, 1000, -1]
    s.send_us[:] = [0, 0, 500, -1]
    s.end_us[:] = [1000, 1000, 1500, -1]
    s.duration_s = s.dispatch_s = 0.0015
    out = phase_summary(s, mode="closed", rate=None, pool=2).as_dict()
    conc = out["concurrency"]
    assert conc["requests"] == 3 and conc["max"] == 2 and conc["max_outstanding"] == 3
    assert conc["duration_us"] == 1500 and conc["us_at_least"] == [1500, 1000]
    assert is_measured(conc)


# --------------------------------------------------------------------------- the rule


POLICY = LoadTestPolicy(concurrency=100, requests=1000)
R = LoadTestResult.from_dict  # a result as a stored row reads


def _result(mode: str, *, sent: int = 1000, held_us: int = 900_000, duration_us: int = 1_000_000,
            max_in_flight: int = 100, pool: int = 100, rate: float = 200.0) -> dict[str, Any]:
    at_least = [duration_us] * (max_in_flight - 1) + [held_us] if max_in_flight else []
    return {
        "requests": {"planned": sent, "sent": sent, "ok": sent, "errors": 0, "timeouts": 0,
                     "not_sent": 0},
        "duration_s": duration_us / 1e6,
        "config": {"mode": mode, "concurrency": pool, "rate": rate, "requests": sent},
        "concurrency": {"measured": True, "requests": sent, "pool": pool,
                        "duration_s": duration_us / 1e6, "duration_us": duration_us,
                        "max": max_in_flight, "mean": 95.0, "max_outstanding": max_in_flight,
                        "us_at_least": at_least},
    }


def test_a_closed_loop_holding_the_concurrency_passes() -> None:
    check = load_profile_check(R(_result("closed")), POLICY, None)
    assert check.status is Status.PASS, check.message
    assert check.value == 0.9
    assert ">= 100 for 90% of the run" in check.message
    assert check.threshold == ">= 1000 requests, >= 100 in flight for >= 50% of the run"


def test_an_open_loop_holding_the_concurrency_passes_too() -> None:
    check = load_profile_check(R(_result("open", rate=5000.0)), POLICY, None)
    assert check.status is Status.PASS, check.message
    assert "open loop at 5000 req/s" in check.message


def test_an_open_loop_with_one_request_in_flight_fails() -> None:
    """The issue: 200 req/s × 1000 against a fast server is about one in flight."""
    result = _result("open", max_in_flight=3, held_us=0)
    check = load_profile_check(R(result), POLICY, None)
    assert check.status is Status.FAIL
    assert check.value == 0.0
    assert "100 requests in flight for 0% of the run" in check.message
    by_name = {c.name: c for c in checks_from_result(R(result), POLICY, None)}
    assert by_name["load profile"].status is Status.FAIL


@pytest.mark.parametrize(("held_us", "status"), [
    (499_999, Status.FAIL), (500_000, Status.PASS), (1_000_000, Status.PASS),
])
def test_the_time_at_concurrency_boundary(held_us: int, status: Status) -> None:
    check = load_profile_check(R(_result("closed", held_us=held_us)), POLICY, None)
    assert check.status is status
    if status is Status.FAIL:  # shown rounded down: never "50 %" for a failing 49.9999 %
        assert "for 49.9% of the run" in check.message


def test_the_policy_fraction_is_used() -> None:
    strict = LoadTestPolicy(concurrency=100, requests=1000, min_time_at_concurrency=0.95)
    check = load_profile_check(R(_result("closed", held_us=900_000)), strict, None)
    assert check.status is Status.FAIL and "asks for 95%" in check.message
    assert ">= 95% of the run" in check.threshold


def test_too_few_requests_or_too_few_connections_fail() -> None:
    check = load_profile_check(R(_result("closed", sent=999)), POLICY, None)
    assert check.status is Status.FAIL and "only 999 requests sent" in check.message
    check = load_profile_check(R(_result("closed", pool=50, max_in_flight=50)), POLICY, None)
    assert check.status is Status.FAIL and "50 connections" in check.message
    # the policy's concurrency is read back from the stored curve, whatever it is now
    lower = LoadTestPolicy(concurrency=50, requests=1000)
    assert load_profile_check(R(_result("closed", pool=50, max_in_flight=50)), lower,
                              None).status is Status.PASS


def test_a_run_stored_without_the_measurement_is_pending() -> None:
    old = copy.deepcopy(_result("closed"))
    del old["concurrency"]
    check = load_profile_check(R(old), POLICY, None)
    assert check.status is Status.PENDING and check.value is None
    assert "re-run the load test" in check.message
    assert "concurrency not measured" in profile_text(R(old), 100)
    profile = run_profile(R(old), 100)
    assert profile.measured is False and profile.held_fraction is None
    assert profile.rate_rps == 1000.0 and profile.duration_s == 1.0
    garbage = dict(old, concurrency={"max": 100})  # a hand-edited row: not evidence
    assert load_profile_check(R(garbage), POLICY, None).status is Status.PENDING


def test_profile_text_states_mode_held_rate_and_duration() -> None:
    text = profile_text(R(_result("closed", duration_us=1_234_000)), 100)
    assert text == ("closed loop · 1000 req in 1.23 s (810 req/s) · in flight max 100, "
                    "mean 95.0, >= 100 for 72.9% of the run")


@pytest.mark.parametrize("value", [0, -0.1, 1.5, "half"])
def test_policy_min_time_at_concurrency_is_validated(value: Any) -> None:
    with pytest.raises(PolicyError, match=r"load_test\.min_time_at_concurrency"):
        parse_policy({"load_test": {"min_time_at_concurrency": value}})
    assert parse_policy({"load_test": {"min_time_at_concurrency": 1}}).load_test \
        .min_time_at_concurrency == 1.0
