"""The load-test result type: read and written in the one shape the worker stores."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from deployready.loadtest.loadgen import Samples
from deployready.loadtest.results import LoadTestResult, phase_summary


def stored_result() -> dict[str, Any]:
    n = 200
    rng = np.random.default_rng(0)
    send = np.arange(n, dtype=np.int64) * 1000
    latency = rng.integers(2000, 9000, n).astype(np.int64)
    samples = Samples(
        planned=n, latency_us=latency, kind=np.zeros(n, dtype=np.int8), offset_us=send,
        send_us=send,
        end_us=send + latency, lag_us=np.zeros(n, dtype=np.int64),
        prediction=np.zeros(n), row=np.arange(n, dtype=np.int64),
        status=np.full(n, 200, dtype=np.int16), duration_s=1.0, dispatch_s=0.2)
    result = phase_summary(samples, mode="closed", rate=None, pool=10)
    result.update({"peak_rss_mb": 120.5, "noise": {"skipped": "not measured"},
                   "config": {"mode": "closed", "timeout_ms": 2000.0}})
    # through JSON, as the store holds it
    return dict(json.loads(json.dumps(result)))


def test_stored_result_round_trips_in_its_shape_and_order() -> None:
    stored = stored_result()
    result = LoadTestResult.from_dict(stored)
    assert result.as_dict() == stored
    assert list(result.as_dict()) == list(stored)
    assert result.percentile_ms("p95") == stored["latency_ms"]["p95"]
    assert result.count == 200


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
