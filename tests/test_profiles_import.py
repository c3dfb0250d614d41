"""Profiles a cluster job computed, loaded into the workspace: counted once, kept by local
ingests, and refused whole — naming the file, row and column — when the output is not a
valid long form for this workspace's packages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deployready.errors import LogError
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.profiles.frame import COLUMNS, merge, profile_rows
from deployready.monitoring.profiles.imported import IMPORTED_PREFIX
from deployready.monitoring.profiles.ingest import (
    ingest,
    ingest_if_changed,
    ingest_job_output,
    profile_store,
)
from deployready.monitoring.profiles.layouts import layouts_of
from deployready.workspace import Workspace
from tests.monitoring_support import make_package, new_workspace, write_csv
from tests.test_profiles_ingest import day_rows

SOURCE = "s3a://bucket/prediction-logs/"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = new_workspace(tmp_path / "ws")
    make_package(ws, "v1.0", n=2000)
    return ws


def cluster_profile(ws: Workspace, days: list[str], tmp_path: Path) -> pd.DataFrame:
    """What the job computes of these days' logs (they live on the cluster, not here)."""
    layouts = layouts_of(ws)
    kinds = {n: s["kind"] for n, s in layouts["v1.0"].profile["features"].items()}
    parts = []
    for i, day in enumerate(days):
        path = tmp_path / f"cluster-{day}.csv"
        day_rows(ws, day, seed=i).to_csv(path, index=False)
        parts.append(profile_rows(read_log_file(path, kinds), layouts))
    return merge(*parts)


def write_output(folder: Path, long: pd.DataFrame, source: str = SOURCE) -> Path:
    """The job's output: the long form with a ``source`` column, as Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = long.assign(source=source).loc[:, ["source", *COLUMNS]]
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-0.parquet")
    return folder


def test_a_job_output_is_stored_once_and_kept_by_local_ingests(ws: Workspace,
                                                               tmp_path: Path) -> None:
    long = cluster_profile(ws, ["2026-03-01", "2026-03-02"], tmp_path)
    out = write_output(tmp_path / "out", long)
    first = ingest_job_output(ws, out)
    assert first.ok and first.read == [SOURCE] and first.rows == 600
    pd.testing.assert_frame_equal(profile_store(ws).counts(), long)
    generation = profile_store(ws).generation()
    again = ingest_job_output(ws, out)
    assert again.ok and again.read == [] and again.skipped == [SOURCE]
    assert profile_store(ws).generation() == generation
    # local logs beside it: both counted, the imported source never "removed"
    write_csv(ws, "predictions-2026-03-05.csv", day_rows(ws, "2026-03-05", seed=9))
    local = ingest(ws)
    assert local.ok and local.removed == [] and len(local.read) == 1
    assert IMPORTED_PREFIX + SOURCE in profile_store(ws).sources()
    assert ingest_if_changed(ws) is None
    assert int(profile_store(ws).counts().query("measure == 'rows'")["value"].sum()) == 900
    # a new output of the same source replaces it, never adds to it
    fewer = cluster_profile(ws, ["2026-03-01"], tmp_path)
    assert ingest_job_output(ws, write_output(tmp_path / "out2", fewer)).read == [SOURCE]
    assert int(profile_store(ws).counts().query("measure == 'rows'")["value"].sum()) == 600


def _edit(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


def _feature_row(frame: pd.DataFrame) -> int:
    return int(frame.index[frame["measure"] == "feature"][0])


HOSTILE: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str]] = {
    "missing column": (lambda f: f.drop(columns=["bucket"]), "column bucket", "no column"),
    "text count": (lambda f: f.astype({"value": str}), "column value", "not integers"),
    "negative count": (_edit("value", 3, -1), "row 4 of the long form, column value",
                       "a negative count"),
    "unknown measure": (_edit("measure", 2, "p99"), "row 3 of the long form, column measure",
                        "unknown measure 'p99'"),
    "hour off the hour": (_edit("hour", 0, 1_772_323_201),
                          "row 1 of the long form, column hour", "not the start"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_bad_job_output_is_refused_whole(ws: Workspace, tmp_path: Path, case: str) -> None:
    write_csv(ws, "predictions-2026-03-05.csv", day_rows(ws, "2026-03-05", seed=9))
    assert ingest(ws).ok
    before = profile_store(ws).counts()
    edit, location, message = HOSTILE[case]
    long = cluster_profile(ws, ["2026-03-01"], tmp_path)
    frame = edit(long.assign(source=SOURCE).loc[:, ["source", *COLUMNS]])
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out / "part-0.parquet")
    result = ingest_job_output(ws, out)
    assert not result.ok and result.read == []
    error = result.errors[0]
    assert isinstance(error, LogError) and error.source == str(out)
    assert error.location == location and message in error.message
    pd.testing.assert_frame_equal(profile_store(ws).counts(), before)


def test_bins_of_another_package_or_outside_the_profile_are_refused(ws: Workspace,
                                                                    tmp_path: Path) -> None:
    long = cluster_profile(ws, ["2026-03-01"], tmp_path)
    row = _feature_row(long)
    other = long.copy()
    other.loc[other["version"] == "v1.0", "package_sha256"] = "f" * 64
    error = ingest_job_output(ws, write_output(tmp_path / "a", other)).errors[0]
    assert "binned against package ffffffffffff" in error.message
    assert error.location is not None and error.location.endswith("column package_sha256")
    wide = long.copy()
    wide.loc[row, "bucket"] = 10_000
    error = ingest_job_output(ws, write_output(tmp_path / "b", wide)).errors[0]
    assert error.location == f"row {row + 1} of the long form, column bucket"
    assert "bin outside" in error.message
    unknown = long.copy()
    unknown.loc[row, "key"] = "not_a_feature"
    error = ingest_job_output(ws, write_output(tmp_path / "c", unknown)).errors[0]
    assert "'not_a_feature' is not a feature" in error.message
    assert profile_store(ws).sources() == {}
    missing = ingest_job_output(ws, tmp_path / "nowhere").errors[0]
    assert "no such file" in missing.message


def test_the_command_loads_a_job_output_and_names_a_bad_one(ws: Workspace,
                                                             tmp_path: Path) -> None:
    out = write_output(tmp_path / "out", cluster_profile(ws, ["2026-03-01"], tmp_path))
    cmd = [sys.executable, "-m", "deployready", "ingest", "-w", str(ws.root)]
    ok = subprocess.run([*cmd, "--from-profiles", str(out)], capture_output=True, text=True,
                        timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "1 file(s) read" in ok.stdout and "300 rows" in ok.stdout
    bad = write_output(tmp_path / "bad", cluster_profile(ws, ["2026-03-02"], tmp_path)
                       .assign(value=-1))
    refused = subprocess.run([*cmd, "--from-profiles", str(bad)], capture_output=True,
                             text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert str(bad) in refused.stderr and "a negative count" in refused.stderr
    assert set(profile_store(ws).sources()) == {IMPORTED_PREFIX + SOURCE}
