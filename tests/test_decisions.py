"""Each decision lives in one function, and every place that needs it asks that function:
pass/fail comparisons, green, latency spike, latency drift, PSI level."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.charts.monitoring import prediction_stability, psi_heatmap
from deployready.checks import Category, Check, Status, compare, pass_fail, verdict
from deployready.monitoring.daily_items import (
    CHECK_NAMES,
    DayMeasures,
    daily_items,
    is_error_spike,
)
from deployready.monitoring.daily_store import day_status, is_green
from deployready.monitoring.drift import DriftResult, FeatureDrift, psi_level, status_of
from deployready.monitoring.latency import (
    Baseline,
    LatencyDrift,
    LatencyReport,
    drift_of,
    find_spikes,
    is_spike,
    spike_status,
)
from deployready.policy import DailyPolicy, DriftPolicy, LatencyPolicy, Policy

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
maybe = st.none() | finite
ops = st.sampled_from(["<", "<=", ">", ">="])

# --------------------------------------------------------------------------- pass / fail


@given(maybe, ops, finite)
def test_verdict_is_the_comparison(value: float | None, op: str, threshold: float) -> None:
    status = verdict(value, op, threshold)
    if value is None:
        assert status is Status.PENDING
    else:
        assert status is pass_fail(compare(value, op, threshold))
        assert (status is Status.PASS) == {"<": value < threshold, "<=": value <= threshold,
                                           ">": value > threshold,
                                           ">=": value >= threshold}[op]


def test_pass_fail_and_unknown_comparisons() -> None:
    assert pass_fail(True) is Status.PASS and pass_fail(False) is Status.FAIL
    with pytest.raises(ValueError, match="=="):
        compare(1.0, "==", 1.0)


# --------------------------------------------------------------------------- green


@pytest.mark.parametrize("status,green", [
    ("ok", True), ("OK", True), ("alert", False), ("no_data", False), ("", False),
])
def test_green_is_an_ok_record(status: str, green: bool) -> None:
    assert is_green(status) is green


statuses = st.sampled_from([Status.PASS, Status.FAIL, Status.PENDING])


@given(st.integers(0, 10_000), st.lists(statuses, max_size=6))
def test_a_day_is_green_with_rows_and_no_failure(rows: int, found: list[Status]) -> None:
    checks = [Check(f"c{i}", Category.DAILY, s, None, "", "") for i, s in enumerate(found)]
    status = day_status(rows, checks)
    assert status == ("no_data" if rows == 0 else "alert" if Status.FAIL in found else "ok")
    # pending never turns a day red; only a failure or no rows does
    assert is_green(status) == (rows > 0 and Status.FAIL not in found)


# --------------------------------------------------------------------------- spike

p99s = st.none() | st.just(math.nan) | st.floats(min_value=0, max_value=1e4)


@given(p99s, st.floats(min_value=1, max_value=1e3))
def test_a_spike_is_a_p99_above_the_limit(p99: float | None, spike_ms: float) -> None:
    expected = p99 is not None and not math.isnan(p99) and p99 > spike_ms
    assert is_spike(p99, spike_ms) is expected


@settings(deadline=None)  # a DataFrame per example
@given(st.lists(st.just(math.nan) | st.floats(min_value=0, max_value=400), max_size=30),
       st.floats(min_value=10, max_value=300))
def test_find_spikes_and_the_check_ask_is_spike(p99: list[float], spike_ms: float) -> None:
    start = pd.Timestamp("2026-03-01", tz="UTC")
    windows = pd.DataFrame({
        "window_start": [start + pd.Timedelta(hours=i) for i in range(len(p99))],
        "p99": pd.Series(p99, dtype="float64"), "max": [500.0] * len(p99),
        "count": [100] * len(p99),
    })
    spikes = find_spikes(windows, spike_ms, pd.Timedelta(hours=1))
    hit = [i for i, v in enumerate(p99) if is_spike(v, spike_ms)]
    assert [s["start"] for s in spikes] == [(start + pd.Timedelta(hours=i)).isoformat()
                                            for i in hit]
    assert spike_status(spikes) is pass_fail(not hit) is spike_status(len(hit))


# --------------------------------------------------------------------------- latency drift

changes = st.none() | st.floats(min_value=-1, max_value=5)


@given(changes, changes, st.floats(min_value=0, max_value=1))
def test_drift_fails_only_on_a_slowdown_beyond_the_limit(
    p95: float | None, p99: float | None, max_drift: float
) -> None:
    drift = LatencyDrift(p95, p99)
    status = drift.status(max_drift)
    known = [v for v in (p95, p99) if v is not None]
    if not known:
        assert status is Status.PENDING
    else:
        assert status is pass_fail(max(known) <= max_drift)


def _report(drift: LatencyDrift, spikes: list[dict[str, Any]], lp: LatencyPolicy
            ) -> LatencyReport:
    empty = pd.DataFrame({"window_start": [], "count": [], "p95": [], "p99": []})
    return LatencyReport("v1.0", "1h", None, None, {"count": 0}, empty, empty,
                         Baseline("none"), drift, spikes, lp)


@given(changes, changes, st.integers(0, 3), st.floats(min_value=0.05, max_value=1))
def test_report_alerts_ask_the_same_decisions(
    p95: float | None, p99: float | None, n: int, max_drift: float
) -> None:
    lp = LatencyPolicy(max_drift=max_drift)
    spikes = [{"start": f"2026-03-01T0{i}:00:00+00:00", "end": f"2026-03-01T0{i + 1}:00:00+00:00",
               "p99": 150.0} for i in range(n)]
    drift = LatencyDrift(p95, p99)
    kinds = {a["kind"] for a in _report(drift, spikes, lp).alerts()}
    assert ("latency_spike" in kinds) == (spike_status(spikes) is Status.FAIL)
    assert ("latency_drift" in kinds) == (drift.status(max_drift) is Status.FAIL)


# --------------------------------------------------------------------------- PSI level


@pytest.mark.parametrize("value,level", [
    (None, "no_data"), (0.0, "ok"), (0.0999, "ok"), (0.10, "warn"), (0.2499, "warn"),
    (0.25, "alert"), (3.0, "alert"),
])
def test_psi_levels(value: float | None, level: str) -> None:
    assert psi_level(value, 0.10, 0.25) == level
    assert status_of(value, DriftPolicy(psi_warn=0.10, psi_alert=0.25)) == level


@settings(deadline=None, max_examples=30)  # a plotly figure per example
@given(st.lists(st.lists(st.none() | st.floats(min_value=0, max_value=1), min_size=3,
                         max_size=3), min_size=1, max_size=4))
def test_charts_colour_psi_by_the_same_levels(psi: list[list[float | None]]) -> None:
    codes = {"ok": 0, "warn": 1, "alert": 2}
    fig = psi_heatmap(["d1", "d2", "d3"], [f"f{i}" for i in range(len(psi))], psi,
                      warn=0.1, alert=0.25)
    expected = [[None if v is None else codes[psi_level(v, 0.1, 0.25)] for v in row]
                for row in psi]
    assert [list(row) for row in fig.data[0].z] == expected
    stability = prediction_stability(["d1", "d2", "d3"], psi[0], warn=0.1, alert=0.25)
    colors = {"no_data": "#9ca3af", "ok": "#16a34a", "warn": "#f59e0b", "alert": "#dc2626"}
    assert list(stability.data[0].marker.color) == [colors[psi_level(v, 0.1, 0.25)]
                                                    for v in psi[0]]


# --------------------------------------------------------------------------- the daily items


def _feature(name: str, value: float | None, dp: DriftPolicy) -> FeatureDrift:
    return FeatureDrift(name, "numeric", value, status_of(value, dp), 100, ["a"], [1.0], [1.0])


@given(
    rows=st.integers(0, 5000), errors=st.integers(0, 5000), trailing=st.none() | finite.map(abs),
    p99=st.none() | st.floats(min_value=1, max_value=500), n_spikes=st.integers(0, 3),
    base=st.none() | st.floats(min_value=1, max_value=200),
    pred=st.none() | st.floats(min_value=0, max_value=1),
    feats=st.lists(st.floats(min_value=0, max_value=1), max_size=4),
)
def test_daily_items_ask_the_engine_decisions(
    rows: int, errors: int, trailing: float | None, p99: float | None, n_spikes: int,
    base: float | None, pred: float | None, feats: list[float],
) -> None:
    policy = Policy()
    lp, dp, daily = policy.latency, policy.drift, policy.daily
    errors = min(errors, rows)
    latency = {"count": 0 if p99 is None else 100, "p95": p99, "p99": p99}
    baseline = Baseline("loadtest", base, base, base, 10) if base else Baseline("none")
    spikes = [{"start": "2026-03-01T01:00:00+00:00", "end": "2026-03-01T02:00:00+00:00",
               "p99": 150.0}] * n_spikes
    drift = DriftResult(dp.epsilon, dp.psi_warn, dp.psi_alert, rows,
                        {f"f{i}": _feature(f"f{i}", v, dp) for i, v in enumerate(feats)},
                        _feature("prediction", pred, dp) if pred is not None else None)
    items = daily_items(policy, DayMeasures(rows, errors, trailing, latency, spikes, baseline,
                                            drift))
    by = {c.name: c.status for c in items}
    assert [c.name for c in items] == list(CHECK_NAMES)
    assert all(c.category is Category.DAILY for c in items)
    assert by["p99"] is verdict(p99, "<", lp.p99_ms)
    assert by["error_spike"] is (Status.PENDING if not rows else
                                 pass_fail(not is_error_spike(errors / rows, trailing, daily)))
    assert by["prediction_psi"] is (
        Status.PENDING if pred is None
        else pass_fail(psi_level(pred, dp.psi_warn, daily.prediction_psi_alert) != "alert"))
    assert by["feature_psi"] is (
        Status.PENDING if not feats
        else pass_fail(all(psi_level(v, dp.psi_warn, dp.psi_alert) != "alert" for v in feats)))
    assert by["latency_spike"] is (Status.PENDING if p99 is None else spike_status(spikes))
    assert by["latency_drift"] is drift_of(latency, baseline).status(lp.max_drift)


@pytest.mark.parametrize("rate,trailing,spike", [
    (0.005, None, False), (0.02, None, True), (0.005, 0.001, True), (0.002, 0.001, False),
    (0.005, 0.0, False),
])
def test_error_spike(rate: float, trailing: float | None, spike: bool) -> None:
    assert is_error_spike(rate, trailing, DailyPolicy(max_error_rate=0.01,
                                                      error_spike_factor=3.0)) is spike


def test_nan_percentiles_are_not_measured() -> None:
    assert not is_spike(float(np.nan), 100.0)
    assert verdict(None, "<", 50.0) is Status.PENDING
