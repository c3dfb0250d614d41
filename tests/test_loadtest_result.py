"""The load-test result type: read and written in the one shape the worker stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.checks import Evidence
from deployready.loadtest.checks import judged
from deployready.loadtest.loadgen import KINDS, Samples
from deployready.loadtest.results import LoadTestResult, run_result
from deployready.loadtest.runs import claim, finish, list_runs, load_run
from deployready.loadtest.summary import consistency, phase_summary
from deployready.policy import LoadTestPolicy
from deployready.store import dumps
from deployready.workspace import Workspace


def _samples(n: int, seed: int = 0, kinds: list[int] | None = None) -> Samples:
    rng = np.random.default_rng(seed)
    send = np.arange(n, dtype=np.int64) * 1000
    latency = rng.integers(2000, 9000, n).astype(np.int64)
    return Samples(
        planned=n, latency_us=latency,
        kind=np.asarray(kinds if kinds is not None else [0] * n, dtype=np.int8),
        offset_us=send, send_us=send, end_us=send + latency, lag_us=np.zeros(n, dtype=np.int64),
        prediction=np.zeros(n), row=np.arange(n, dtype=np.int64) % 7,
        status=np.full(n, 200, dtype=np.int16), duration_s=1.0, dispatch_s=0.2)


def worker_result(samples: Samples, mode: str = "closed") -> LoadTestResult:
    """A result as the worker assembles and judges it."""
    result = run_result(
        phase_summary(samples, mode=mode, rate=50.0 if mode == "open" else None, pool=10),
        consistency=consistency(samples, np.zeros(7), 1e-6), peak_rss_mb=120.5,
        noise=phase_summary(samples, mode=mode, rate=None, pool=10),
        warmup={"requests": 10, "ok": 10}, environment={"cores_logical": 2},
        package={"version": "v1.0", "sha256": "a" * 64},
        target={"kind": "serve", "url": "http://127.0.0.1:1"}, server_stats={"batches": 3},
        config={"mode": mode, "timeout_ms": 2000.0, "concurrency": 10},
        prediction_log="data/loadtests/run-1/predictions")
    return judged(result, LoadTestPolicy(), Evidence("data/deployready.db#loadtest_runs/1"))


def stored(result: LoadTestResult) -> dict[str, Any]:
    return dict(json.loads(dumps(result.as_dict())))  # through JSON, as the store holds it


def test_stored_result_round_trips_in_its_shape_and_order() -> None:
    data = json.loads(json.dumps(worker_result(_samples(200)).as_dict()))
    result = LoadTestResult.from_dict(data)
    assert result.as_dict() == data
    assert list(result.as_dict()) == list(data) == [
        "latency_ms", "requests", "errors_by_kind", "duration_s", "throughput_rps",
        "concurrency", "consistency", "peak_rss_mb", "noise", "warmup", "environment",
        "package", "target", "server_stats", "config", "prediction_log", "verdict"]
    assert result.percentile_ms("p95") == data["latency_ms"]["p95"]
    assert result.count == 200
    assert result.verdict is not None and len(result.verdict.checks) == 8


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), seed=st.integers(0, 1000),
       mode=st.sampled_from(["closed", "open"]), data=st.data())
def test_every_result_reads_back_as_itself(n: int, seed: int, mode: str, data: Any) -> None:
    kinds = data.draw(st.lists(st.integers(0, len(KINDS) - 2), min_size=n, max_size=n))
    result = worker_result(_samples(n, seed, kinds), mode)
    again = LoadTestResult.from_dict(stored(result))
    assert again.as_dict() == stored(result)
    assert LoadTestResult.from_dict(again.as_dict()) == again  # one shape: a fixed point


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()),
                 st.dictionaries(st.sampled_from(["latency_ms", "requests", "x"]),
                                 st.one_of(st.none(), st.integers(), st.text()))))
def test_anything_else_reads_as_not_measured(data: Any) -> None:
    result = LoadTestResult.from_dict(data)
    assert result.percentile_ms("p99") is None and result.count is None


def test_only_the_stored_spelling_is_read() -> None:
    # the one shape written: latency_ms.{p50,p95,p99,count}; other spellings are not results
    assert LoadTestResult.from_dict({"p95_ms": 2, "percentiles": {"p95": 3}}).percentile_ms(
        "p95") is None
    assert LoadTestResult.from_dict({"latency_ms": {"p95": 5, "count": 10}}).count == 10


OLD_ROW = {  # stored before the in-flight count, the sent count and the verdict were kept
    "latency_ms": {"p50": 5.0, "p95": 10.0, "p99": 20.0, "count": 1000, "above": {}},
    "requests": {"planned": 1000, "ok": 1000, "errors": 0, "timeouts": 0, "not_sent": 0},
    "errors_by_kind": {}, "duration_s": 1.0, "peak_rss_mb": None,
    "noise": {"skipped": "the endpoint has no /noop"}, "config": {"mode": "closed"},
}


def store_old_row(ws: Workspace) -> int:
    """A completed, passed run whose result is :data:`OLD_ROW`, as the old worker wrote it."""
    run_id, _ = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                      target="serve", config={})
    with ws.store.transaction() as conn:
        conn.execute("UPDATE loadtest_runs SET status = 'completed', result_json = ?, "
                     "passed = 1 WHERE id = ?", (dumps(OLD_ROW), run_id))
    return run_id


def test_an_old_row_loads_from_the_store(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    run_id = store_old_row(ws)
    run = load_run(ws, run_id)
    assert run is not None and run.result is not None and run.passed is True
    result = run.result
    assert result.latency_ms.p99 == 20.0 and result.requests.sent == 1000
    assert not result.concurrency.measured and result.verdict is None
    assert result.peak_rss_mb is None and result.noise is None
    assert result.noise_skipped == "the endpoint has no /noop"
    assert result.consistency is None and result.open_loop is None
    assert [r.id for r in list_runs(ws)] == [run_id]


def test_finish_stores_the_one_shape(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    run_id, _ = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                      target="serve", config={})
    result = worker_result(_samples(50))
    finish(ws, run_id, status="completed", result=result, passed=True)
    run = load_run(ws, run_id)
    assert run is not None and run.result == LoadTestResult.from_dict(stored(result))
    assert run.result.as_dict() == stored(result)
