"""Every monitoring aggregate answered from profiles equals the raw engines': counts
identical, percentiles and max within the histogram's 0.5 % bound, the mean within 1 µs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitoring_support import make_package, new_workspace

from deployready.demo.logs import write_demo_logs
from deployready.errors import LogError
from deployready.monitoring.daily import drift_by_day, read_profile
from deployready.monitoring.latency import latency_report
from deployready.monitoring.logs import ProductionLogs, features_of, read_log_file
from deployready.monitoring.profiles import aggregates as agg
from deployready.monitoring.profiles.frame import KEYS, Layout, merge, profile_rows
from deployready.monitoring.profiles.histogram import (
    RELATIVE_ERROR,
    histogram_of,
    quantiles,
)
from deployready.monitoring.profiles.reader import HISTOGRAM_NOTE
from deployready.package.manifest import package_sha256
from deployready.workspace import Workspace

QS = (0.5, 0.95, 0.99)


def within_bound(got: float | None, exact: float | None) -> bool:
    """The histogram's bound: 0.5 % of the exact figure, or 1 µs below 1 µs."""
    if got is None or exact is None:
        return got is None and exact is None
    return abs(got - exact) <= RELATIVE_ERROR * abs(exact) * (1 + 1e-9) + 1e-3 + 1e-12


@pytest.fixture(scope="module")
def mixed_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Demo logs of v1.0 (spike, error spike, drift), one day as Parquet, and rows of a
    version without a package."""
    ws = new_workspace(tmp_path_factory.mktemp("profiles-read"))
    pkg = make_package(ws, "v1.0")
    write_demo_logs(ws, pkg, days=5, end_date="2026-03-05", rows_per_day=600, seed=11,
                    spike_day=2, error_spike_day=3, drift_days=2)
    path = ws.production_dir / "predictions-2026-03-03.csv"
    pd.read_csv(path).to_parquet(path.with_suffix(".parquet"))
    path.unlink()
    other = pd.read_csv(ws.production_dir / "predictions-2026-03-04.csv").iloc[:70]
    other["version"] = "v0.9"
    other.to_csv(ws.production_dir / "other.csv", index=False)
    return ws


def hourly(ws: Workspace) -> pd.DataFrame:
    """The merged long form of every log file (the pandas reference computation)."""
    profile = read_profile(ws, "v1.0")
    layouts = {"v1.0": Layout(package_sha256(ws.package_path("v1.0")), profile)}
    parts = []
    for path in sorted(ws.production_dir.iterdir()):
        frame = read_log_file(path, features_of(profile) if path.name != "other.csv" else None)
        parts.append(profile_rows(frame, layouts))
    return merge(*parts)


def daily(hours: pd.DataFrame) -> pd.DataFrame:
    """The same long form rolled up to UTC days (``day`` column of dates)."""
    rolled = merge(hours.assign(hour=hours["hour"] // 86400 * 86400))
    day = pd.to_datetime(rolled["hour"], unit="s").dt.date
    return rolled.drop(columns=["hour"]).assign(day=day)[
        ["version", "package_sha256", "day", *KEYS[3:], "value"]]


def of(counts: pd.DataFrame, version: str, lo: str | None = None,
       hi: str | None = None) -> pd.DataFrame:
    secs = agg.seconds_of(counts)
    keep = (counts["version"] == version).to_numpy().copy()
    if lo is not None:
        keep &= secs >= pd.Timestamp(lo, tz="UTC").timestamp()
    if hi is not None:
        keep &= secs < pd.Timestamp(hi, tz="UTC").timestamp()
    return counts[keep]


@pytest.fixture(scope="module")
def forms(mixed_ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame, ProductionLogs]:
    hours = hourly(mixed_ws)
    profile = read_profile(mixed_ws, "v1.0")
    raw = ProductionLogs(mixed_ws.production_dir, features_of(profile), "pandas",
                         version="v1.0")
    return hours, daily(hours), raw


def assert_summary_close(got: dict[str, Any], exact: dict[str, Any]) -> None:
    assert got.keys() == exact.keys()
    for k in ("requests", "errors", "count"):
        assert got[k] == exact[k], k
    for k in ("p50", "p95", "p99", "max"):
        assert within_bound(got[k], exact[k]), (k, got[k], exact[k])
    if exact["mean"] is None:
        assert got["mean"] is None
    else:
        assert abs(got["mean"] - exact["mean"]) <= 1e-3 + 1e-9


def test_counts_are_identical(forms: tuple[pd.DataFrame, pd.DataFrame, ProductionLogs],
                              mixed_ws: Workspace) -> None:
    hours, days, _ = forms
    raw_all = ProductionLogs(mixed_ws.production_dir, {}, "pandas")
    assert agg.versions(hours) == raw_all.versions() == agg.versions(days)
    assert set(raw_all.versions()) == {"v0.9", "v1.0"}
    for version in ("v1.0", "v0.9"):
        for form in (hours, days):
            pd.testing.assert_frame_equal(agg.day_counts(of(form, version)),
                                          raw_all.day_counts(version))
            pd.testing.assert_frame_equal(agg.id_counts(of(form, version)),
                                          raw_all.id_counts(version))
            assert agg.error_kinds(of(form, version)) == raw_all.error_kinds(version)
    sub = of(days, "v1.0", "2026-03-02", "2026-03-04")
    pd.testing.assert_frame_equal(agg.day_counts(sub),
                                  raw_all.day_counts("v1.0", "2026-03-02", "2026-03-04"))
    assert agg.error_kinds(of(days, "v1.0", "2026-03-03", "2026-03-04")) == \
        raw_all.error_kinds("v1.0", "2026-03-03", "2026-03-04") != {}


def test_bin_counts_are_identical(forms: tuple[pd.DataFrame, pd.DataFrame, ProductionLogs],
                                  mixed_ws: Workspace) -> None:
    hours, days, raw = forms
    profile = read_profile(mixed_ws, "v1.0")
    exact = raw.bin_counts(profile, "v1.0")
    for form in (hours, days):
        got = agg.bin_counts(of(form, "v1.0"), profile)
        assert got.keys() == exact.keys() and len(got) == 5
        for day, b in got.items():
            assert b.rows == exact[day].rows
            assert b.features.keys() == exact[day].features.keys()
            for name, counts in b.features.items():
                assert counts.dtype == exact[day].features[name].dtype
                assert np.array_equal(counts, exact[day].features[name]), name
            assert np.array_equal(b.prediction, exact[day].prediction)


def test_bin_counts_refuse_another_profile(forms: tuple[pd.DataFrame, pd.DataFrame,
                                                        ProductionLogs],
                                           mixed_ws: Workspace) -> None:
    _, days, _ = forms
    profile = read_profile(mixed_ws, "v1.0")
    fewer = {**profile, "features": dict(list(profile["features"].items())[1:])}
    with pytest.raises(ValueError, match="not binned against"):
        agg.bin_counts(of(days, "v1.0"), fewer)


@pytest.mark.parametrize("window", ["1h", "3h", "1D"])
def test_latency_windows_within_the_bound(
    forms: tuple[pd.DataFrame, pd.DataFrame, ProductionLogs], window: str
) -> None:
    hours, days, raw = forms
    exact = raw.latency_windows("v1.0", window)
    got = agg.latency_windows(of(hours, "v1.0"), pd.Timedelta(window))
    assert list(got.columns) == list(exact.columns)
    assert dict(got.dtypes) == dict(exact.dtypes)
    pd.testing.assert_frame_equal(got[["window_start", "requests", "errors", "count"]],
                                  exact[["window_start", "requests", "errors", "count"]])
    assert exact["count"].sum() > 0
    for c in ("p50", "p95", "p99", "max"):
        for g, e in zip(got[c], exact[c], strict=True):
            assert within_bound(None if math.isnan(g) else g, None if math.isnan(e) else e), c
    assert np.nanmax(np.abs(got["mean"] - exact["mean"])) <= 1e-3
    if window == "1D":  # the daily roll-up answers the same
        pd.testing.assert_frame_equal(agg.latency_windows(of(days, "v1.0"),
                                                          pd.Timedelta(window)), got)


def test_a_window_shorter_than_an_hour_is_not_a_profile_question(
    forms: tuple[pd.DataFrame, pd.DataFrame, ProductionLogs]
) -> None:
    with pytest.raises(ValueError, match="whole hours"):
        agg.latency_windows(forms[0], pd.Timedelta("15min"))


@pytest.mark.parametrize("bounds", [(None, None), ("2026-03-02", "2026-03-04"),
                                    ("2026-03-05", "2026-03-06"), ("2027-01-01", None)])
def test_latency_summary_within_the_bound(
    forms: tuple[pd.DataFrame, pd.DataFrame, ProductionLogs],
    bounds: tuple[str | None, str | None],
) -> None:
    hours, days, raw = forms
    exact = raw.latency_summary("v1.0", *bounds)
    assert_summary_close(agg.latency_summary(of(hours, "v1.0", *bounds)), exact)
    assert agg.latency_summary(of(days, "v1.0", *bounds)) == \
        agg.latency_summary(of(hours, "v1.0", *bounds))


latencies = st.lists(
    st.one_of(st.floats(0.0, 3_600_000.0, allow_nan=False),
              st.sampled_from([0.0, 0.0005, 0.001, 1.0, 1.0, 250.0])),
    min_size=1, max_size=200)


@settings(max_examples=300, deadline=None)
@given(values=latencies, qs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5))
def test_histogram_percentiles_hold_the_bound(values: list[float], qs: list[float]) -> None:
    data = np.array(values)
    buckets, counts = histogram_of(data)
    got = quantiles(buckets, counts, [*qs, 0.5, 0.99, 1.0, 0.0])
    exact = np.percentile(data, [q * 100 for q in [*qs, 0.5, 0.99, 1.0, 0.0]])
    for g, e in zip(got, exact, strict=True):
        assert within_bound(g, float(e)), (g, e)


@settings(max_examples=100, deadline=None)
@given(groups=st.lists(latencies, min_size=1, max_size=6))
def test_vectorized_percentiles_are_the_histograms(groups: list[list[float]]) -> None:
    keys, ends, per = [], [], []
    for i, values in enumerate(groups):
        b, c = histogram_of(np.array(values))
        keys.append(np.full(b.size, i)), ends.append(b), per.append(c)
    got = agg.group_quantiles(np.concatenate(keys), np.concatenate(ends),
                              np.concatenate(per), len(groups), (*QS, 1.0))
    for i in range(len(groups)):
        assert got[i].tolist() == quantiles(ends[i], per[i], (*QS, 1.0))


# --------------------------------------------------------------------------- the reader


@pytest.fixture
def own_ws(mixed_ws: Workspace, tmp_path: Path) -> Workspace:
    """A private copy of the mixed workspace (its profile store is written)."""
    shutil.copytree(mixed_ws.root, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def test_for_workspace_answers_from_profiles(own_ws: Workspace) -> None:
    profile = read_profile(own_ws, "v1.0")
    logs = ProductionLogs.for_workspace(own_ws, profile, version="v1.0")
    raw = ProductionLogs.for_workspace(own_ws, profile, version="v1.0", engine="pandas")
    assert (logs.answered_by, raw.answered_by) == ("profiles", "pandas")
    assert (own_ws.data_dir / "profiles.db").is_file()
    assert logs.versions() == raw.versions()
    pd.testing.assert_frame_equal(logs.day_counts("v1.0"), raw.day_counts("v1.0"))
    pd.testing.assert_frame_equal(logs.id_counts("v0.9"), raw.id_counts("v0.9"))
    assert logs.error_kinds("v1.0") == raw.error_kinds("v1.0") != {}
    assert logs.days("v1.0") == raw.days("v1.0")
    assert_summary_close(logs.latency_summary("v1.0", "2026-03-02", "2026-03-04T06:00"),
                         raw.latency_summary("v1.0", "2026-03-02", "2026-03-04T06:00"))
    got, exact = logs.bin_counts(profile, "v1.0"), raw.bin_counts(profile, "v1.0")
    assert got.keys() == exact.keys()
    for day in got:
        assert got[day].rows == exact[day].rows
        assert np.array_equal(got[day].prediction, exact[day].prediction)
        for name in exact[day].features:
            assert np.array_equal(got[day].features[name], exact[day].features[name])


def test_finer_than_an_hour_reads_the_raw_rows(own_ws: Workspace) -> None:
    """A 15-minute window, a bound inside an hour, another profile's bins: the raw rows
    answer, exactly."""
    profile = read_profile(own_ws, "v1.0")
    logs = ProductionLogs.for_workspace(own_ws, profile, version="v1.0")
    raw = ProductionLogs.for_workspace(own_ws, profile, version="v1.0", engine="pandas")
    assert logs.profiles is not None
    pd.testing.assert_frame_equal(logs.latency_windows("v1.0", "15min"),
                                  raw.latency_windows("v1.0", "15min"))
    bounds = ("2026-03-02T00:30", "2026-03-03")
    assert logs.latency_summary("v1.0", *bounds) == raw.latency_summary("v1.0", *bounds)
    assert logs.profiles.latency_summary("v1.0", *map(pd.Timestamp, bounds)) is None
    fewer = {**profile, "features": dict(list(profile["features"].items())[2:])}
    assert logs.profiles.bin_counts(fewer, "v1.0", None, None) is None
    fewer_counts = logs.bin_counts(fewer, "v1.0")
    assert list(next(iter(fewer_counts.values())).features) == list(fewer["features"])


def test_the_latency_report_says_where_percentiles_come_from(own_ws: Workspace) -> None:
    hourly_report = latency_report(own_ws, "v1.0", window="1h")
    fine = latency_report(own_ws, "v1.0", window="15min")
    assert hourly_report.note == HISTOGRAM_NOTE
    assert "0.5 %" in fine.note and "shorter than an hour" in fine.note
    assert hourly_report.as_dict()["note"] == HISTOGRAM_NOTE


def test_psi_from_profiles_equals_psi_from_raw_rows(
    own_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiled = drift_by_day(own_ws, "v1.0")
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "pandas")
    raw = drift_by_day(own_ws, "v1.0")
    assert profiled.keys() == raw.keys() and len(raw) == 5
    for day, result in raw.items():
        for name, feature in result.features.items():
            assert profiled[day].features[name].psi == pytest.approx(feature.psi, rel=1e-12,
                                                                     abs=1e-12)
        assert profiled[day].as_dict() == result.as_dict()


def test_a_log_file_the_ingest_refuses_is_read_raw(own_ws: Workspace) -> None:
    """Profiles are derived data: when a file cannot be profiled the raw reader answers,
    and names the bad row where a question reads it."""
    bad = own_ws.production_dir / "predictions-2026-03-05.csv"
    lines = bad.read_text().splitlines()
    fields = lines[3].split(",")
    fields[2] = "-5"  # latency_ms
    lines[3] = ",".join(fields)
    bad.write_text("\n".join(lines) + "\n")
    logs = ProductionLogs.for_workspace(own_ws)
    assert logs.profiles is None and logs.answered_by == "pandas"
    with pytest.raises(LogError, match="row 3, column latency_ms"):
        logs.latency_summary("v1.0")
