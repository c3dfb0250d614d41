"""kill -9 during ``deployready ingest``: each log file is in the profile store fully or
not at all, and a re-run ends with exactly the counts of one clean ingest — nothing
lost, nothing counted twice.

The child holds each file's transaction open (``DEPLOYREADY_INGEST_PAUSE_S``) and says
so on stderr, so the kill lands inside the transaction of the N-th file: of new files,
of grown files and of a rewritten file.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from crash.support import REPO, VERSION, Child, child_env
from deployready.monitoring.profiles.ingest import PAUSE_ENV, ingest, profile_store
from deployready.workspace import Workspace

HOLDING = "ingest: holding the transaction of "
DAYS = 6


class IngestChild(Child):
    """``python -m deployready ingest`` holding every transaction ``pause`` seconds."""

    def __init__(self, ws: Workspace, pause: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployready", "ingest", "-w", str(ws.root)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**child_env(), PAUSE_ENV: str(pause)}, cwd=REPO)
        self.lines = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def with_logs(ws: Workspace) -> Workspace:
    from deployready.demo.logs import write_demo_logs

    write_demo_logs(ws, ws.package_path(VERSION), days=DAYS, end_date="2026-03-10",
                    rows_per_day=120, spike_day=None, error_spike_day=None)
    return ws


def clean_counts(ws: Workspace, tmp_path: Path) -> pd.DataFrame:
    """The counts of one ingest, uninterrupted, of a copy of ``ws`` as it is now."""
    copy = Workspace(tmp_path / "clean")
    shutil.rmtree(copy.root, ignore_errors=True)
    shutil.copytree(ws.root, copy.root)
    for leftover in copy.data_dir.glob("profiles.db*"):
        leftover.unlink()
    assert ingest(copy).ok
    return profile_store(copy).counts()


def kill_inside(ws: Workspace, nth: int) -> list[str]:
    """Start an ingest, SIGKILL it inside the transaction of its ``nth`` file; the files
    it was holding, in order."""
    proc = IngestChild(ws, pause=3.0)  # the kill comes within 50 ms of the line
    try:
        held = proc.wait_for(HOLDING, nth, timeout=90)
        proc.kill9()
    finally:
        proc.close()
    return [line[len(HOLDING):] for line in held]


@pytest.mark.parametrize("nth", [1, 3, DAYS])
def test_kill_inside_a_new_files_transaction(ws: Workspace, tmp_path: Path, nth: int) -> None:
    with_logs(ws)
    want = clean_counts(ws, tmp_path)
    held = kill_inside(ws, nth)
    done = profile_store(ws).sources()
    assert sorted(done) == sorted(held[:-1])  # the file being written when killed: nothing
    assert held[-1] not in done and profile_store(ws).segments(held[-1]) == []
    again = ingest(ws)
    assert again.ok and sorted(again.read) == sorted(set(_logs(ws)) - set(held[:-1]))
    pd.testing.assert_frame_equal(profile_store(ws).counts(), want)


def test_kill_inside_grown_and_rewritten_files(ws: Workspace, tmp_path: Path) -> None:
    with_logs(ws)
    assert ingest(ws).ok
    before = profile_store(ws).counts()
    files = [ws.root / p for p in _logs(ws)]
    for path in files[:3]:  # three files grow by their own last 40 lines
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines[-40:])
    rewritten = files[3].read_text(encoding="utf-8").splitlines(keepends=True)
    files[3].write_text("".join(rewritten[:50]), encoding="utf-8")
    want = clean_counts(ws, tmp_path)

    held = kill_inside(ws, 1)
    pd.testing.assert_frame_equal(profile_store(ws).counts(), before)  # nothing half-done
    held = kill_inside(ws, 2)
    assert len(profile_store(ws).segments(held[0])) == 2  # the first one is in, grown
    again = ingest(ws)
    assert again.ok and len(again.grown) + len(again.reprofiled) == 3
    pd.testing.assert_frame_equal(profile_store(ws).counts(), want)
    rows = profile_store(ws).counts(measures=["rows"], grain="day")["value"].sum()
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) - 1 for p in files)
    assert rows == lines


def _logs(ws: Workspace) -> list[str]:
    return sorted(p.relative_to(ws.root).as_posix() for p in ws.production_dir.glob("*.csv"))
