"""The generator's clock, property-style, against a real loopback server.

One monotonic clock (``perf_counter_ns``) for schedule, send and completion: a request
is never sent before its scheduled time, so its send lag, its latency and its time in
flight are never negative — for any schedule, including sub-millisecond gaps, on
asyncio's and uvloop's event loops (uvloop's timers fire up to ~1.4 ms early).

Every example is bounded: at most 120 requests and about 0.4 s of schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from loadtest_models import make_workspace

from deployready.loadtest.concurrency import concurrency_profile
from deployready.loadtest.loadgen import (
    NOT_SENT,
    TIMEOUT,
    ClockError,
    Samples,
    make_session,
    run_phase,
    wait_until,
)

MAX_SCHEDULE_NS = 400_000_000
POOL = 8


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from test_serve import start_server

    root, version = make_workspace(tmp_path_factory.mktemp("clock-ws"))
    for server in start_server(root / "models" / version, tmp_path_factory.mktemp("clock-srv")):
        yield server.url


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.new_event_loop  # type: ignore[no-any-return]
    return None


def _drive(url: str, path: str, loop: str, n: int, rate: float, arrival: str,
           seed: int, **kwargs: Any) -> Samples:
    body = b'{"rows":[{"amount":10.0,"age":30,"score":0.1,"tenure":2.0,"channel":"web"}]}'

    async def go() -> Samples:
        async with make_session(POOL, 5.0) as session:
            # warm keep-alive connections, as the worker's warm-up does: a /noop answer
            # then takes ~0.2 ms, less than an early timer
            await run_phase(session, url + "/noop", [body], np.zeros(1, dtype=np.int32),
                            mode="closed", requests=16, concurrency=POOL, rate=1.0,
                            arrival="constant", timeout_s=5.0, max_seconds=10.0,
                            should_stop=lambda: False, expect_predictions=False)
            return await run_phase(
                session, url + path, [body], np.zeros(1, dtype=np.int32), mode="open",
                requests=n, concurrency=POOL, rate=rate, arrival=arrival, timeout_s=5.0,
                max_seconds=10.0, should_stop=lambda: False, seed=seed,
                expect_predictions=path == "/predict", **kwargs)

    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        return runner.run(go())


def assert_clock_invariants(s: Samples) -> None:
    sent = s.kind != NOT_SENT
    assert np.count_nonzero(sent) > 0
    assert np.all(s.offset_us[sent] >= 0), s.offset_us[sent].min()
    assert np.all(s.lag_us[sent] >= 0), s.lag_us[sent].min()
    assert np.all(s.latency_us[sent] >= 0), np.sort(s.latency_us[sent])[:5]
    answered = sent & (s.kind != TIMEOUT)
    assert np.all(s.latency_us[answered] >= s.lag_us[answered])
    # never sent before the schedule, never answered before the send: one clock
    assert np.all(s.send_us[sent] >= s.offset_us[sent])
    assert np.all(s.end_us[sent] >= s.send_us[sent])
    assert np.all(np.abs(s.lag_us[sent] - (s.send_us[sent] - s.offset_us[sent])) <= 1)
    assert np.all(s.send_us[~sent] == -1) and np.all(s.end_us[~sent] == -1)
    profile = concurrency_profile(s.send_us[sent], s.end_us[sent], pool=POOL)
    assert 1 <= profile["max"] <= POOL and profile["mean"] >= 0
    s.check_clock()  # the generator's own check agrees


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rate=st.floats(min_value=50.0, max_value=20_000.0),
       arrival=st.sampled_from(["constant", "poisson"]),
       n=st.integers(min_value=5, max_value=120),
       loop=st.sampled_from(["asyncio", "uvloop"]),
       path=st.sampled_from(["/noop", "/predict"]),
       seed=st.integers(min_value=0, max_value=2**16))
# gaps of 2.5-4 ms with warm /noop answers of ~0.3 ms: an early uvloop timer showed here
@example(rate=250.0, arrival="constant", n=120, loop="uvloop", path="/noop", seed=0)
@example(rate=300.0, arrival="poisson", n=120, loop="uvloop", path="/noop", seed=1)
@example(rate=400.0, arrival="constant", n=120, loop="uvloop", path="/noop", seed=0)
@example(rate=300.0, arrival="constant", n=120, loop="asyncio", path="/noop", seed=0)
def test_no_sample_is_negative_for_any_rate(server_url: str, rate: float, arrival: str, n: int,
                                            loop: str, path: str, seed: int) -> None:
    n = max(2, min(n, int(rate * MAX_SCHEDULE_NS / 1e9)))
    assert_clock_invariants(_drive(server_url, path, loop, n, rate, arrival, seed))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(gaps_us=st.lists(st.one_of(st.integers(min_value=0, max_value=999),
                                  st.integers(min_value=1000, max_value=6000)),
                        min_size=1, max_size=100),
       loop=st.sampled_from(["asyncio", "uvloop"]),
       path=st.sampled_from(["/noop", "/predict"]))
def test_no_sample_is_negative_for_any_schedule(server_url: str, gaps_us: list[int], loop: str,
                                                path: str) -> None:
    """Random schedules: bursts (gap 0), sub-millisecond gaps and gaps a timer serves."""
    offsets = np.cumsum(np.r_[0, np.asarray(gaps_us, dtype=np.int64)] * 1000)
    offsets = offsets[offsets <= MAX_SCHEDULE_NS]
    s = _drive(server_url, path, loop, int(offsets.size), 1.0, "constant", 0,
               offsets_ns=offsets)
    assert_clock_invariants(s)
    assert np.array_equal(s.offset_us, offsets // 1000)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_wait_until_never_returns_early(loop: str) -> None:
    import time

    async def go() -> list[int]:
        early = []
        for i in range(150):
            target = time.perf_counter_ns() + (i % 9) * 350_000  # 0 .. 2.8 ms
            await wait_until(target)
            early.append(target - time.perf_counter_ns())
        return early

    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        assert max(runner.run(go())) <= 0


def test_a_broken_clock_fails_the_phase() -> None:
    s = Samples.empty(3)
    s.kind[:] = 0
    s.offset_us[:] = [0, 1000, 2000]
    s.send_us[:] = [10, 1005, 1990]  # the third one left 10 µs before its schedule
    s.end_us[:] = [500, 1500, 2500]
    s.lag_us[:] = [10, 5, 0]
    s.latency_us[:] = [500, 500, 500]
    with pytest.raises(ClockError, match="1 requests with a send before its scheduled time"):
        s.check_clock()
    s.send_us[2] = 2000
    s.check_clock()
    s.latency_us[1] = -3
    with pytest.raises(ClockError, match="negative latency"):
        s.check_clock()
