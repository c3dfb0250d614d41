"""The log folder's listing: answered from the last one while no entry's stat moved (no
file opened), listed and checked again on any change — a new, removed or replaced file,
a folder or a FIFO at a log file's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployready.errors import LogError
from deployready.monitoring.logs_schema import log_files
from tests.audit_support import opened

HEADER = "timestamp,version,latency_ms,prediction,error\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "production"
    (folder / "2026").mkdir(parents=True)
    for day in ("2026-03-10", "2026-03-11"):
        (folder / f"predictions-{day}.csv").write_text(HEADER)
    (folder / "2026" / "predictions-2026-03-12.csv").write_text(HEADER)
    (folder / "notes.txt").write_text("not a log")
    return folder


def test_an_unchanged_folder_is_listed_without_opening_a_file(folder: Path) -> None:
    first = log_files(folder)
    assert [p.name for p in first] == ["predictions-2026-03-12.csv", "predictions-2026-03-10.csv",
                                       "predictions-2026-03-11.csv"]
    with opened() as seen:
        assert log_files(folder) == first
    assert seen == []


@pytest.mark.parametrize("change", ["add", "remove", "replace", "fifo", "folder", "link"])
def test_a_changed_folder_is_listed_and_checked_again(folder: Path, change: str) -> None:
    before = log_files(folder)
    assert log_files(folder) == before
    day = folder / "predictions-2026-03-10.csv"
    if change == "add":
        (folder / "predictions-2026-03-13.csv").write_text(HEADER)
        assert log_files(folder)[-1].name == "predictions-2026-03-13.csv"
    elif change == "remove":
        day.unlink()
        assert day not in log_files(folder)
    elif change == "replace":
        day.unlink()
        day.write_text(HEADER + "2026-03-10T00:00:00Z,v1.0,3.5,0.5,\n")
        assert log_files(folder) == before
    else:
        day.unlink()
        if change == "fifo":
            os.mkfifo(day)
        elif change == "folder":
            day.mkdir()
        else:
            day.symlink_to(folder / "gone.csv")
        with pytest.raises(LogError) as raised:
            log_files(folder)
        assert raised.value.source == day or str(day) in str(raised.value)
