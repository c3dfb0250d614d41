"""Latency monitoring on crafted logs: windows, spikes with times, baseline drift, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitoring_support import (
    crafted_logs,
    make_package,
    new_workspace,
    package_hash,
    record_loadtest,
    write_csv,
)

from deployready.charts.monitoring import STEPS_ABOVE_WINDOWS, sample_counts
from deployready.checks import Status
from deployready.monitoring.latency import latency_report
from deployready.monitoring.latency_checks import latency_checks
from deployready.monitoring.logs import ProductionLogs
from deployready.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = new_workspace(tmp_path / "ws")
    make_package(ws, "v1.0", n=1000)
    return ws


def steady(day: str, n: int = 3600, ms: float = 5.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(ms * 0.8, ms * 1.2, n), 3)


def test_windows_and_sample_counts(ws: Workspace) -> None:
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", steady("2026-03-01", 7200)))
    report = latency_report(ws, "v1.0")
    assert report.windows["count"].tolist() == [3600, 3600]
    assert report.days["count"].tolist() == [7200]
    expected = np.percentile(steady("2026-03-01", 7200)[:3600], [50, 95, 99])
    assert report.windows[["p50", "p95", "p99"]].iloc[0].tolist() == pytest.approx(expected)
    assert report.spikes == [] and report.alerts() == []


@pytest.mark.parametrize("n", [3, STEPS_ABOVE_WINDOWS, STEPS_ABOVE_WINDOWS + 1, 720])
def test_sample_counts_show_every_window(n: int) -> None:
    starts = pd.date_range("2026-11-01", periods=n, freq="h", tz="UTC")
    windows = pd.DataFrame({"window_start": starts, "count": np.arange(n) * 3 + 1,
                            "errors": np.arange(n) % 4})
    fig = sample_counts(windows, window="1h")
    ok, errors = fig.data
    assert (ok.name, errors.name) == ("successful", "errors")
    if n <= STEPS_ABOVE_WINDOWS:  # a bar per window
        assert (ok.type, list(ok.y)) == ("bar", windows["count"].tolist())
        assert list(errors.y) == windows["errors"].tolist()
        return
    # stacked steps: each count held from its window's start, back to zero at the end of
    # the last window (plotly writes zone-aware times as naive UTC)
    assert ok.type == "scatter" and ok.line.shape == "hv"
    assert ok.stackgroup == errors.stackgroup is not None
    utc = starts.tz_localize(None)
    assert [pd.Timestamp(x) for x in ok.x] == [*utc, utc[-1] + pd.Timedelta(hours=1)]
    assert list(ok.y) == [*windows["count"], 0]
    assert list(errors.y) == [*windows["errors"], 0]


def test_sample_counts_steps_drop_to_zero_over_a_gap() -> None:
    """Hours without requests have no window: the steps show zero there, not the count of
    the hour before."""
    hours = [h for h in range(200) if not 50 <= h < 60]  # ten silent hours
    starts = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(hours, unit="h")
    windows = pd.DataFrame({"window_start": starts, "count": np.full(len(hours), 7),
                            "errors": np.ones(len(hours), dtype=int)})
    for window in ("1h", None):  # given, or the shortest step between two starts
        ok, errors = sample_counts(windows, window=window).data
        at = {pd.Timestamp(x): (y, e) for x, y, e in zip(ok.x, ok.y, errors.y, strict=True)}
        silent = pd.Timestamp("2026-11-01") + pd.Timedelta(hours=50)
        assert at[silent] == (0, 0)  # the end of hour 49: down to zero until hour 60
        assert at[silent + pd.Timedelta(hours=10)] == (7, 1)
        assert len(ok.x) == len(hours) + 2  # a zero after the gap and after the last


def test_spike_detected_with_times(ws: Workspace) -> None:
    lat = steady("2026-03-01", 4 * 3600)
    lat[2 * 3600: 2 * 3600 + 100] = 250.0  # 100 slow requests in the 3rd hour: P99 > 100 ms
    lat[3 * 3600 + 5] = 900.0  # one slow request alone is not a spike (P99 stays low)
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", lat, start_hour=8))
    report = latency_report(ws, "v1.0")
    assert len(report.spikes) == 1
    spike = report.spikes[0]
    assert spike["start"] == "2026-03-01T10:00:00+00:00"
    assert spike["end"] == "2026-03-01T11:00:00+00:00"
    assert spike["p99"] > 100 and spike["count"] == 3600
    (alert,) = [a for a in report.alerts() if a["kind"] == "latency_spike"]
    assert "2026-03-01T10:00:00+00:00" in alert["message"]


def test_errors_are_counted_not_measured(ws: Workspace) -> None:
    lat = [5.0] * 90 + [500.0] * 10
    errors = [""] * 90 + ["timeout"] * 10
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", lat, errors=errors))
    s = latency_report(ws, "v1.0").summary
    assert s["requests"] == 100 and s["errors"] == 10 and s["count"] == 90
    assert s["p99"] == 5.0


def test_drift_against_the_passing_load_test(ws: Workspace) -> None:
    sha = package_hash(ws, "v1.0")
    record_loadtest(ws, "v1.0", sha, p50=3.0, p95=4.0, p99=4.5, passed=False)  # not a baseline
    run = record_loadtest(ws, "v1.0", sha, p50=3.0, p95=5.0, p99=5.5)
    record_loadtest(ws, "v1.0", "other-hash", p50=1.0, p95=1.0, p99=1.0)  # another package
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", steady("2026-03-01", 3600, ms=7.0)))
    report = latency_report(ws, "v1.0")
    assert report.baseline.kind == "loadtest"
    assert report.baseline.source.endswith(f"loadtest_runs/{run}")
    assert report.baseline.p95 == 5.0
    assert report.drift.value is not None and report.drift.value > 0.2
    assert any(a["kind"] == "latency_drift" for a in report.alerts())


def test_faster_than_baseline_is_not_drift(ws: Workspace) -> None:
    record_loadtest(ws, "v1.0", package_hash(ws, "v1.0"), p50=10, p95=20, p99=30)
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", steady("2026-03-01", 600)))
    report = latency_report(ws, "v1.0")
    assert report.drift.value is not None and report.drift.value < 0
    assert report.alerts() == []


def test_window_baseline(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "w", '[latency]\nbaseline = "window"\n'
                       'baseline_start = "2026-03-01"\nbaseline_end = "2026-03-02"\n')
    make_package(ws, "v1.0", n=1000)
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", steady("a", 3600, 5.0)))
    write_csv(ws, "b.csv", crafted_logs("2026-03-02", steady("b", 3600, 5.5)))
    report = latency_report(ws, "v1.0", start="2026-03-02", end="2026-03-03")
    assert report.baseline.kind == "window" and report.baseline.count == 3600
    assert report.drift.value == pytest.approx(0.1, abs=0.02)
    assert report.alerts() == []


# --------------------------------------------------------------------------- checks


def test_checks_pending_without_evidence(ws: Workspace) -> None:
    checks = latency_checks(ws, "v1.0", package_hash(ws, "v1.0"), ws.policy())
    assert len(checks) == 4 and all(c.status is Status.PENDING for c in checks)
    assert all(c.message for c in checks)


def test_checks_stale_for_another_package(ws: Workspace) -> None:
    record_loadtest(ws, "v1.0", "another-hash", p50=1, p95=2, p99=3)
    checks = latency_checks(ws, "v1.0", package_hash(ws, "v1.0"), ws.policy())
    assert all(c.status is Status.STALE for c in checks)


def test_checks_from_load_test(ws: Workspace) -> None:
    sha = package_hash(ws, "v1.0")
    record_loadtest(ws, "v1.0", sha, p50=5, p95=20, p99=40)
    checks = latency_checks(ws, "v1.0", sha, ws.policy())
    assert [c.status for c in checks] == [Status.PASS] * 4
    assert all(c.evidence and c.evidence.detail["source_kind"] == "load_test" for c in checks)
    assert "own latency baseline" in checks[2].message
    # a later version 30 % slower than v1.0's passing load test fails the drift check
    make_package(ws, "v1.1", n=1000, seed=4)
    sha11 = package_hash(ws, "v1.1")
    record_loadtest(ws, "v1.1", sha11, p50=6, p95=26, p99=45)
    checks = latency_checks(ws, "v1.1", sha11, ws.policy())
    assert checks[2].status is Status.FAIL and "v1.0" in checks[2].message
    assert checks[0].status is Status.PASS


def test_checks_from_production(ws: Workspace) -> None:
    sha = package_hash(ws, "v1.0")
    record_loadtest(ws, "v1.0", sha, p50=4, p95=5.5, p99=6.5)
    # 9 days; only the last 7 count: an old spike on day 1 is outside the period
    for d in range(1, 10):
        lat = steady(str(d), 3600, 5.0, seed=d)
        if d == 1:
            lat[:100] = 300.0
        write_csv(ws, f"d{d}.csv", crafted_logs(f"2026-03-0{d}", lat))
    checks = latency_checks(ws, "v1.0", sha, ws.policy())
    assert [c.status for c in checks] == [Status.PASS] * 4, [c.message for c in checks]
    ev = checks[0].evidence
    assert ev is not None and ev.detail["source_kind"] == "production"
    assert ev.detail["period"][0].startswith("2026-03-03")
    # a spike inside the period fails the spike check (and P99 of the period)
    lat = steady("x", 3600, 5.0)
    lat[:200] = 300.0
    write_csv(ws, "d9.csv", crafted_logs("2026-03-09", lat))
    checks = {c.name: c for c in latency_checks(ws, "v1.0", sha, ws.policy())}
    assert checks["No latency spikes"].status is Status.FAIL
    assert "2026-03-09T00:00:00+00:00" in checks["No latency spikes"].message


def test_report_engines_agree(ws: Workspace) -> None:
    lat = steady("x", 5000, 5.0)
    lat[100:200] = 150.0
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", lat))
    a = latency_report(ws, "v1.0", logs=ProductionLogs(ws.production_dir, engine="pandas"))
    b = latency_report(ws, "v1.0", logs=ProductionLogs(ws.production_dir, engine="duckdb"))
    assert [s["start"] for s in a.spikes] == [s["start"] for s in b.spikes] != []
    assert [s["p99"] for s in a.spikes] == pytest.approx([s["p99"] for s in b.spikes])
    assert a.as_dict()["summary"] == pytest.approx(b.as_dict()["summary"])
