"""The HTTP load generator: closed and open loop over aiohttp, raw samples in µs.

- **Closed loop**: ``concurrency`` clients send back to back (the checklist's test).
- **Open loop**: requests are *scheduled* at a constant rate or as a Poisson process
  (seeded), independent of how fast responses come back; each request's latency is
  measured from its **scheduled** send time, so a stalled server shows as queueing
  instead of being hidden by clients that stopped sending (coordinated omission). The
  lag between scheduled and actual send is kept per request ("late" when above
  :data:`LATE_US`).
- The connection pool is bounded (``concurrency`` connections, keep-alive).
- Every request has a deadline (its scheduled time + timeout); a timeout is an error of
  kind ``timeout`` and its latency is recorded as exactly the timeout.
- Each request's actual send and completion times are kept (``send_us``, ``end_us``):
  the requests in flight over the run are computed from them
  (:mod:`~deployready.loadtest.concurrency`).
- Every loop is bounded by the request count, by a wall-clock deadline and by a stop
  flag (cancel); requests never sent are kind ``not_sent``.

Clock: one monotonic clock, ``time.perf_counter_ns``, for the schedule, the send, the
completion and the deadline; samples are int64 microseconds. A request is never sent
before its scheduled time: event-loop timers may fire early (uvloop rounds to whole
milliseconds and fired up to ~1.4 ms early), so the open loop sleeps to within
:data:`SPIN_NS` of the scheduled time and then yields to the loop until the clock has
reached it. Hence, for every sent request, ``0 <= lag_us``, ``0 <= latency_us`` and
``offset_us <= send_us <= end_us``; :meth:`Samples.check_clock` asserts it at the end of
every phase and a run that breaks it fails instead of storing wrong numbers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deployready.errors import JobError
from deployready.loadtest.protocols import Protocol, ResponseError, column_kinds, protocol_for

KINDS: tuple[str, ...] = ("ok", "timeout", "http_4xx", "http_5xx", "connection", "bad_response",
                          "not_sent")
OK, TIMEOUT, HTTP_4XX, HTTP_5XX, CONNECTION, BAD_RESPONSE, NOT_SENT = range(len(KINDS))
LATE_US = 1_000  # an open-loop send more than 1 ms behind its schedule is "late"
HEADERS = {"Content-Type": "application/json"}
SPIN_NS = 1_000_000  # the open loop yields (instead of sleeping) this close to a send


class ClockError(JobError):
    """The generator's clock invariant broke: a sample would be negative."""


@dataclass
class Samples:
    """Raw per-request measurements of one phase (arrays of length ``planned``)."""

    planned: int
    latency_us: np.ndarray  # int64, -1 when not sent
    kind: np.ndarray  # int8 index into KINDS
    offset_us: np.ndarray  # int64 scheduled (open) / actual (closed) send time from phase start
    lag_us: np.ndarray  # int64 actual send − scheduled send (0 in closed loop)
    row: np.ndarray  # int32 payload index
    prediction: np.ndarray  # float64 first prediction of the response, NaN on error
    status: np.ndarray  # int16 HTTP status, 0 when none
    send_us: np.ndarray  # int64 actual send time from phase start, -1 when not sent
    end_us: np.ndarray  # int64 completion (answer, error or timeout) from phase start
    duration_s: float = 0.0  # first scheduled send → last completion
    dispatch_s: float = 0.0  # first → last actual send

    @classmethod
    def empty(cls, n: int) -> Samples:
        return cls(
            planned=n,
            latency_us=np.full(n, -1, dtype=np.int64),
            kind=np.full(n, NOT_SENT, dtype=np.int8),
            offset_us=np.full(n, -1, dtype=np.int64),
            lag_us=np.zeros(n, dtype=np.int64),
            row=np.full(n, -1, dtype=np.int32),
            prediction=np.full(n, np.nan, dtype=np.float64),
            status=np.zeros(n, dtype=np.int16),
            send_us=np.full(n, -1, dtype=np.int64),
            end_us=np.full(n, -1, dtype=np.int64),
        )

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}{name}": getattr(self, name) for name in
                ("latency_us", "kind", "offset_us", "lag_us", "row", "prediction", "status",
                 "send_us", "end_us")}

    def check_clock(self) -> None:
        """Raise :class:`ClockError` unless every sent request has non-negative lag and
        latency and was sent at or after its scheduled time and before its completion."""
        sent = self.kind != NOT_SENT
        rules = (
            ("a negative latency", self.latency_us < 0),
            ("a negative send lag", self.lag_us < 0),
            ("a send before its scheduled time", self.send_us < self.offset_us),
            ("a completion before its send", self.end_us < self.send_us),
            ("a time before the phase start", self.offset_us < 0),
        )
        for what, bad in rules:
            hits = np.flatnonzero(sent & bad)
            if hits.size:
                k = int(hits[0])
                raise ClockError(
                    f"load generator clock: {hits.size} requests with {what} (request {k}: "
                    f"scheduled {self.offset_us[k]} µs, sent {self.send_us[k]} µs, done "
                    f"{self.end_us[k]} µs, latency {self.latency_us[k]} µs)")


@dataclass
class Live:
    """Counters updated on every completion; read by the progress reporter."""

    planned: int
    start_ns: int = 0
    done: int = 0
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    completed_ns: list[int] = field(default_factory=list)  # completion times, ns
    latencies: list[int] = field(default_factory=list)  # µs, same order as completed_ns

    def record(self, kind: int, latency_us: int, now_ns: int) -> None:
        self.done += 1
        name = KINDS[kind]
        self.by_kind[name] = self.by_kind.get(name, 0) + 1
        self.completed_ns.append(now_ns)
        self.latencies.append(latency_us)


def payload_bodies(records: list[dict[str, Any]], rows_per_request: int, count: int,
                   protocol: Protocol | None = None) -> tuple[list[bytes], np.ndarray]:
    """Pre-encoded JSON bodies in ``protocol`` (deployready's when None); request k
    starts at row k·m (mod len).

    Returns (bodies, first row of each body)."""
    n = len(records)
    if n == 0:
        raise ValueError("no rows to send")
    encode = (protocol or protocol_for("deployready")).encode
    kinds = column_kinds(records)
    distinct = min(count, n) if rows_per_request == 1 else min(count, 1000)
    bodies: list[bytes] = []
    first = np.empty(distinct, dtype=np.int32)
    for k in range(distinct):
        start = (k * rows_per_request) % n
        rows = [records[(start + j) % n] for j in range(rows_per_request)]
        bodies.append(encode(rows, kinds))
        first[k] = start
    return bodies, first


def schedule(n: int, rate: float, arrival: str, seed: int) -> np.ndarray:
    """Open-loop send offsets in ns from the phase start (first at 0)."""
    if arrival == "poisson":
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, n)
        gaps[0] = 0.0
        return np.round(np.cumsum(gaps) * 1e9).astype(np.int64)
    return np.round(np.arange(n) * (1e9 / rate)).astype(np.int64)


async def wait_until(target_ns: int) -> None:
    """Return at or after ``target_ns`` (``perf_counter_ns``), never before: sleep to
    within :data:`SPIN_NS`, then yield to the loop until the clock reaches it."""
    while True:
        remaining = target_ns - time.perf_counter_ns()
        if remaining <= 0:
            return
        await asyncio.sleep((remaining - SPIN_NS) / 1e9 if remaining > SPIN_NS else 0)


def make_session(pool: int, timeout_s: float) -> Any:
    """A client session with a bounded keep-alive pool and no cookies."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool, ttl_dns_cache=None,
                                     keepalive_timeout=60.0)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=aiohttp.ClientTimeout(total=None, connect=timeout_s))


async def get_json(session: Any, url: str, timeout_s: float = 5.0) -> tuple[int, Any]:
    """GET a JSON document; (status, parsed body or None)."""
    async with asyncio.timeout(timeout_s), session.get(url) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, None


Decode = Callable[[bytes], float]


def first_prediction(raw: bytes) -> float:
    """The first prediction of a deployready answer (the hot path: no array built)."""
    try:
        return float(json.loads(raw)["predictions"][0])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ResponseError("no predictions") from None


def decoder(protocol: Protocol | None, rows_per_body: int) -> Decode:
    """The first row's prediction of an answer in ``protocol`` (deployready's: None)."""
    if protocol is None or protocol.name == "deployready":
        return first_prediction
    return lambda raw: float(protocol.decode(raw, rows_per_body)[0])


def _kind_of(status: int, raw: bytes, decode: Decode | None) -> tuple[int, float]:
    """(kind, first prediction) of an answered request."""
    if status != 200:
        return (HTTP_4XX if 400 <= status < 500 else HTTP_5XX), float("nan")
    if decode is None:
        return OK, float("nan")
    try:
        return OK, decode(raw)
    except (ResponseError, ValueError, TypeError):
        return BAD_RESPONSE, float("nan")


class _Phase:
    """One phase's state: the samples it fills and the clock readings it keeps."""

    def __init__(self, session: Any, url: str, bodies: list[bytes], body_rows: np.ndarray, *,
                 requests: int, timeout_s: float, max_seconds: float,
                 should_stop: Callable[[], bool], live: Live | None,
                 decode: Decode | None) -> None:
        import aiohttp
        from yarl import URL

        self.client_errors = (aiohttp.ClientError, OSError)
        self.session = session
        self.target = URL(url)  # parsed once, not per request
        self.bodies, self.body_rows = bodies, body_rows
        self.samples = Samples.empty(requests)
        self.timeout_ns, self.timeout_us = int(timeout_s * 1e9), int(timeout_s * 1e6)
        self.should_stop, self.live = should_stop, live
        self.decode = decode
        self.start_ns = time.perf_counter_ns()
        self.hard_deadline_ns = self.start_ns + int(max_seconds * 1e9)
        if live is not None:
            live.start_ns = self.start_ns
        self.last_send_ns = self.last_done_ns = self.start_ns

    def _sent(self, k: int, sched_ns: int, send_ns: int, body_index: int) -> None:
        s, start = self.samples, self.start_ns
        self.last_send_ns = max(self.last_send_ns, send_ns)
        s.offset_us[k] = (sched_ns - start) // 1000
        s.send_us[k] = (send_ns - start) // 1000
        s.lag_us[k] = (send_ns - sched_ns) // 1000
        s.row[k] = self.body_rows[body_index]
        if self.live is not None:
            self.live.sent += 1

    def _done(self, k: int, sched_ns: int, kind: int, status: int, prediction: float) -> None:
        end_ns = time.perf_counter_ns()
        self.last_done_ns = max(self.last_done_ns, end_ns)
        latency_us = self.timeout_us if kind == TIMEOUT else (end_ns - sched_ns) // 1000
        s = self.samples
        s.end_us[k] = (end_ns - self.start_ns) // 1000
        s.latency_us[k] = latency_us
        s.kind[k] = kind
        s.status[k] = status
        s.prediction[k] = prediction
        if self.live is not None:
            self.live.record(kind, latency_us, end_ns)

    async def request(self, k: int, sched_ns: int) -> None:
        """Send request ``k`` (scheduled at ``sched_ns``) and record its sample."""
        body_index = k % len(self.bodies)
        send_ns = time.perf_counter_ns()  # >= sched_ns: checked for all by check_clock
        self._sent(k, sched_ns, send_ns, body_index)
        # deadline: scheduled time + timeout, as a delay on the same clock
        delay_s = max(0.0, (sched_ns + self.timeout_ns - send_ns) / 1e9)
        kind, status, prediction = OK, 0, float("nan")
        try:
            async with asyncio.timeout(delay_s), self.session.post(
                self.target, data=self.bodies[body_index], headers=HEADERS
            ) as resp:
                raw = await resp.read()
                status = resp.status
            kind, prediction = _kind_of(status, raw, self.decode)
        except TimeoutError:
            kind = TIMEOUT
        except self.client_errors:
            kind = CONNECTION
        self._done(k, sched_ns, kind, status, prediction)

    async def closed_loop(self, requests: int, concurrency: int) -> None:
        """``concurrency`` clients, each sending its next request when the last returns."""
        counter = iter(range(requests))

        async def client() -> None:
            for k in counter:
                now = time.perf_counter_ns()
                if now >= self.hard_deadline_ns or self.should_stop():
                    return
                await self.request(k, now)

        await asyncio.gather(*(client() for _ in range(min(concurrency, requests))))

    async def open_loop(self, offsets: np.ndarray, requests: int) -> None:
        """Each request sent at its scheduled offset, whether or not earlier ones returned."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        for k in range(requests):
            sched_ns = self.start_ns + int(offsets[k])
            if sched_ns >= self.hard_deadline_ns or self.should_stop():
                break
            await wait_until(sched_ns)
            task = loop.create_task(self.request(k, sched_ns))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    def finish(self) -> Samples:
        s = self.samples
        s.duration_s = max(0.0, (self.last_done_ns - self.start_ns) / 1e9)
        s.dispatch_s = max(0.0, (self.last_send_ns - self.start_ns) / 1e9)
        s.check_clock()
        return s


def _offsets(requests: int, rate: float, arrival: str, seed: int,
             offsets_ns: np.ndarray | None) -> np.ndarray:
    """The open loop's send offsets: ``offsets_ns`` when given, else the schedule."""
    offsets = (schedule(requests, rate, arrival, seed) if offsets_ns is None
               else np.asarray(offsets_ns, dtype=np.int64))
    if offsets.size < requests or np.any(offsets < 0) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"open-loop offsets: {requests} sorted offsets >= 0 expected")
    return offsets


async def run_phase(
    session: Any,
    url: str,
    bodies: list[bytes],
    body_rows: np.ndarray,
    *,
    mode: str,
    requests: int,
    concurrency: int,
    rate: float,
    arrival: str,
    timeout_s: float,
    max_seconds: float,
    should_stop: Callable[[], bool],
    live: Live | None = None,
    seed: int = 0,
    expect_predictions: bool = True,
    offsets_ns: np.ndarray | None = None,
    protocol: Protocol | None = None,
    rows_per_body: int = 1,
) -> Samples:
    """Run one phase (warm-up, measurement or no-op) and return its raw samples.

    Open loop: ``offsets_ns`` (sorted, from the phase start) replaces the schedule made
    from ``rate`` and ``arrival``. ``protocol`` reads the answers (deployready's when
    None; each body holds ``rows_per_body`` rows)."""
    offsets = None if mode == "closed" else _offsets(requests, rate, arrival, seed, offsets_ns)
    phase = _Phase(session, url, bodies, body_rows, requests=requests, timeout_s=timeout_s,
                   max_seconds=max_seconds, should_stop=should_stop, live=live,
                   decode=decoder(protocol, rows_per_body) if expect_predictions else None)
    if offsets is None:
        await phase.closed_loop(requests, concurrency)
    else:
        await phase.open_loop(offsets, requests)
    return phase.finish()
