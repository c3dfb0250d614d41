"""Locust side of the benchmark (runs in bench/.venv-locust, started by bench.py).

Configured by environment variables (set by bench.py):

- ``LVL_PATH``: ``/noop`` or ``/predict``; ``LVL_BODIES``: JSON file with the request
  bodies (the same bytes deployready's generator sends); ``LVL_REQUESTS``: measured
  requests, after which the runner quits; ``LVL_RATE_PER_USER``: 0 for a closed loop
  (no wait), else ``constant_throughput(rate)`` per user; ``LVL_OUT``: JSON written at
  exit; ``LVL_STARTED``: file created when the measured phase starts.

``--spawn-rate 100`` starts all 100 users at once when spawning completes
(``--reset-stats`` resets Locust's own statistics then); the measured phase starts
``LVL_WARMUP_S`` (0.5 s) later, and requests started before it are the warm-up (Locust's
own statistics keep them). Every
measured request is kept raw (user, sequence number, start time, response time) so the
benchmark can recompute percentiles without Locust's bucketing and compare each user's
actual sends with its ``constant_throughput`` schedule.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import FastHttpUser, constant, constant_throughput, events, task

PATH = os.environ.get("LVL_PATH", "/noop")
BODIES = [b.encode() for b in json.loads(Path(os.environ["LVL_BODIES"]).read_text())]
REQUESTS = int(os.environ.get("LVL_REQUESTS", "1000"))
RATE = float(os.environ.get("LVL_RATE_PER_USER", "0"))
OUT = Path(os.environ["LVL_OUT"])
STARTED = os.environ.get("LVL_STARTED")
WARMUP_S = float(os.environ.get("LVL_WARMUP_S", "0.5"))
HEADERS = {"Content-Type": "application/json"}

_ids = itertools.count()
STATE: dict[str, Any] = {"measuring": False, "t0": 0.0, "quitting": False, "env": None}
PROC = psutil.Process()
REC: dict[str, list[Any]] = {"user": [], "k": [], "start": [], "rt_ms": [], "ok": []}


class Client(FastHttpUser):
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)

    def on_start(self) -> None:
        self.uid = next(_ids)
        self.k = 0

    @task
    def send(self) -> None:
        k = self.k
        self.k += 1
        self.client.post(PATH, data=BODIES[(self.uid * 7919 + k) % len(BODIES)],
                         headers=HEADERS, context={"u": self.uid, "k": k})


@events.init.add_listener
def on_init(environment: Any, **_: Any) -> None:
    STATE["env"] = environment


@events.spawning_complete.add_listener
def on_spawned(user_count: int, **_: Any) -> None:
    # the users start all at once: their first requests (connection set-up) are warm-up
    gevent.spawn_later(WARMUP_S, _begin)


def _begin() -> None:
    STATE["cpu0"] = PROC.cpu_times()
    STATE["t0"] = time.time()
    STATE["measuring"] = True
    if STARTED:
        Path(STARTED).touch()


def _quit() -> None:
    env = STATE["env"]
    if env is not None and env.runner is not None:
        env.runner.quit()


@events.request.add_listener
def on_request(response_time: float, exception: Any, context: dict[str, Any],
               start_time: float, **_: Any) -> None:
    if not STATE["measuring"] or start_time < STATE["t0"] or STATE["quitting"]:
        return
    REC["user"].append(context["u"])
    REC["k"].append(context["k"])
    REC["start"].append(start_time)
    REC["rt_ms"].append(response_time)
    REC["ok"].append(exception is None)
    if len(REC["k"]) >= REQUESTS:
        STATE["quitting"] = True
        STATE["t1"] = time.time()
        STATE["cpu1"] = PROC.cpu_times()
        gevent.spawn(_quit)


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    total = environment.stats.total
    cpu0 = STATE.get("cpu0")
    cpu1 = STATE.get("cpu1") or PROC.cpu_times()
    cpu_s = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) if cpu0 else None
    reported = {
        "num_requests": total.num_requests, "num_failures": total.num_failures,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p95_ms": total.get_response_time_percentile(0.95),
        "p99_ms": total.get_response_time_percentile(0.99),
        "p999_ms": total.get_response_time_percentile(0.999),
        "max_ms": total.max_response_time, "avg_ms": total.avg_response_time,
    }
    OUT.write_text(json.dumps({
        "records": REC, "reported": reported, "cpu_s": cpu_s, "t0": STATE["t0"],
        "t1": STATE.get("t1", time.time()), "rate_per_user": RATE,
        "completed": STATE["quitting"],
    }))
