"""The ingest's "anything new?" answered by a stat of the logs, manifests and store once
the profiles were found up to date — and every change still seen after that."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deployready.monitoring.profiles.ingest import ingest, ingest_if_changed, profile_store
from deployready.monitoring.profiles.store import PROFILES_FILE
from deployready.workspace import Workspace
from tests.audit_support import opened
from tests.monitoring_support import make_package, new_workspace, package_hash, write_csv
from tests.test_profiles_ingest import DAY, day_rows, direct, stored


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = new_workspace(tmp_path / "ws")
    make_package(ws, "v1.0", n=2000)
    write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws))
    write_csv(ws, "predictions-2026-03-11.csv", day_rows(ws, "2026-03-11", seed=1))
    assert ingest(ws).ok
    return ws


def test_an_unchanged_workspace_is_answered_without_opening_anything(ws: Workspace) -> None:
    assert ingest_if_changed(ws) is None  # the full check: nothing to do
    with opened() as seen:
        assert ingest_if_changed(ws) is None
        assert ingest_if_changed(ws) is None
    assert seen == []


def _grow(ws: Workspace) -> None:
    path = ws.production_dir / f"predictions-{DAY}.csv"
    more = day_rows(ws, n=40, seed=7)
    path.write_text(path.read_text() + more.to_csv(index=False, header=False))


def _add(ws: Workspace) -> None:
    write_csv(ws, "predictions-2026-03-12.csv", day_rows(ws, "2026-03-12", seed=2))


def _remove(ws: Workspace) -> None:
    (ws.production_dir / "predictions-2026-03-11.csv").unlink()


def _rebuild(ws: Workspace) -> None:
    make_package(ws, "v1.0", n=2000, seed=9)
    manifest = ws.package_path("v1.0") / "MANIFEST.json"
    manifest.write_text(manifest.read_text().replace("2026-01-01T00", "2026-01-02T00"))


def _drop_store(ws: Workspace) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ws.data_dir / PROFILES_FILE}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("change", [_grow, _add, _remove, _rebuild, _drop_store])
def test_every_change_after_a_remembered_answer_is_ingested(ws: Workspace, change: Any) -> None:
    assert ingest_if_changed(ws) is None
    assert ingest_if_changed(ws) is None  # remembered
    old = package_hash(ws, "v1.0")
    change(ws)
    result = ingest_if_changed(ws)
    assert result is not None and result.ok
    assert ingest_if_changed(ws) is None
    pd.testing.assert_frame_equal(stored(ws), direct(ws))
    if change is _rebuild:
        assert set(stored(ws)["package_sha256"]) == {package_hash(ws, "v1.0")} != {old}


def test_an_unfinished_line_is_read_once_its_writer_is_gone(ws: Workspace) -> None:
    path = ws.production_dir / f"predictions-{DAY}.csv"
    line = day_rows(ws, n=1, seed=8).to_csv(index=False, header=False)
    with path.open("ab") as held:
        held.write(line.rstrip("\n").encode())  # no line end yet
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        for _ in range(3):  # the line waits for its writer
            waiting = ingest_if_changed(ws)
            assert waiting is None or (waiting.ok and waiting.rows == 0)
    # the writer is gone without a byte more: no stat moved, yet the line is read now
    result = ingest_if_changed(ws)
    assert result is not None and result.grown == [f"data/production/predictions-{DAY}.csv"]
    assert profile_store(ws).sources()[f"data/production/predictions-{DAY}.csv"].bytes == \
        path.stat().st_size


def test_a_new_file_is_ingested_with_one_look_at_each_log_file(ws: Workspace) -> None:
    """The listing that found the change is the one the ingest works from: a file that
    did not change is opened once (its readability), not once per listing."""
    assert ingest_if_changed(ws) is None
    _add(ws)
    with opened() as seen:
        result = ingest_if_changed(ws)
    assert result is not None and result.read == [
        "data/production/predictions-2026-03-12.csv"]
    old = str(ws.production_dir / "predictions-2026-03-11.csv")
    assert sum(1 for event in seen if event == f"open {old}") == 1, seen
