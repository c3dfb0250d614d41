"""Raw rows of a time range read only the log files whose profiled span meets it: the
profile store knows each file's first and last timestamp per version, so a drill-down
or a join over a week of a year of daily files reads a week of files, not the year."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from monitoring_support import make_package, new_workspace

from deployready.demo.logs import write_demo_logs
from deployready.monitoring.daily import read_profile
from deployready.monitoring.logs import ProductionLogs
from deployready.monitoring.profiles.ingest import ingest
from deployready.workspace import Workspace


@pytest.fixture(scope="module")
def days_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = new_workspace(tmp_path_factory.mktemp("profiles-spans"))
    pkg = make_package(ws, "v1.0")
    write_demo_logs(ws, pkg, days=6, end_date="2026-03-06", rows_per_day=120, seed=5)
    assert ingest(ws).ok
    return ws


@pytest.fixture
def own_ws(days_ws: Workspace, tmp_path: Path) -> Workspace:
    shutil.copytree(days_ws.root, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def read_files(logs: ProductionLogs) -> set[str]:
    """The log files a reader has parsed so far."""
    return {p.name for p in logs._pandas._frames}


@pytest.mark.parametrize("version", ["v1.0", None])
def test_a_day_of_raw_rows_reads_that_days_file_only(own_ws: Workspace,
                                                     version: str | None) -> None:
    profile = read_profile(own_ws, "v1.0")
    logs = ProductionLogs.for_workspace(own_ws, profile, version="v1.0")
    raw = ProductionLogs.for_workspace(own_ws, profile, version="v1.0", engine="pandas")
    assert logs.answered_by == "profiles" and len(logs.files) == 6
    got = logs.frame(version, "2026-03-03", "2026-03-04")
    assert read_files(logs) == {"predictions-2026-03-03.csv"}
    exact = raw.frame(version, "2026-03-03", "2026-03-04")
    assert len(exact) > 0
    pd.testing.assert_frame_equal(got, exact)
    assert logs.frame("v0.9", "2026-03-03", "2026-03-04").empty  # a version of no file
    assert read_files(logs) == {"predictions-2026-03-03.csv"}


def test_a_file_changed_since_its_ingest_is_read(own_ws: Workspace) -> None:
    """A span is trusted only while the file is as it was profiled: rows appended after
    the ingest (another day's) are found by reading the file."""
    profile = read_profile(own_ws, "v1.0")
    reader = ProductionLogs.for_workspace(own_ws, profile, version="v1.0").profiles
    assert reader is not None
    path = own_ws.production_dir / "predictions-2026-03-02.csv"
    rows = pd.read_csv(path)
    late = rows.iloc[:5].assign(timestamp="2026-03-05T12:00:00+00:00")
    late.to_csv(path, mode="a", header=False, index=False)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    logs = ProductionLogs(own_ws.production_dir, None, "auto", None, "v1.0", reader)
    raw = ProductionLogs.for_workspace(own_ws, profile, version="v1.0", engine="pandas")
    got = logs.frame("v1.0", "2026-03-05", "2026-03-06")
    assert "predictions-2026-03-02.csv" in read_files(logs)
    assert len(got) == len(raw.frame("v1.0", "2026-03-05", "2026-03-06"))
