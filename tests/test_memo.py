"""Values remembered per file signature: hits while unchanged, never stale after a change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from monitoring_support import crafted_logs, new_workspace, write_csv

from deployready.memo import FileMemo, file_signature
from deployready.monitoring.logs import FILE_FRAMES, ProductionLogs


def _bump(path: Path) -> None:
    """A later modification time, as a rewrite a second later would have."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_hits_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    memo: FileMemo[str] = FileMemo(10)
    builds: list[str] = []

    def build() -> str:
        builds.append(path.read_text())
        return path.read_text()

    assert memo.compute([path], "k", build) == "one"
    assert memo.compute([path], "k", build) == "one" and builds == ["one"]
    assert memo.compute([path], "other", build) == "one" and len(builds) == 2  # extra key
    path.write_text("two")
    _bump(path)
    assert memo.compute([path], "k", build) == "two" and len(builds) == 3


def test_same_size_rewrite_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("aaaa")
    before = file_signature([path])
    path.write_text("bbbb")
    _bump(path)
    assert file_signature([path]) != before


def test_weight_bound_drops_least_recently_used() -> None:
    memo: FileMemo[str] = FileMemo(10, weigh=len)
    memo.put("a", "xxxx")
    memo.put("b", "yyyy")
    assert memo.get("a") == "xxxx"  # now b is the least recently used
    memo.put("c", "zzzz")
    assert memo.get("b") is None and memo.get("a") == "xxxx" and memo.get("c") == "zzzz"
    memo.put("huge", "w" * 11)  # heavier than the whole memo: not kept
    assert memo.get("huge") is None and len(memo) == 2
    memo.clear()
    assert len(memo) == 0


def test_a_failed_build_is_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    memo: FileMemo[str] = FileMemo(10)

    def fail() -> str:
        raise ValueError("bad file")

    with pytest.raises(ValueError):
        memo.compute([path], None, fail)
    assert memo.compute([path], None, lambda: "ok") == "ok"


@pytest.mark.parametrize("engine", ["pandas"])
def test_log_reader_sees_a_rewritten_file(tmp_path: Path, engine: str) -> None:
    ws = new_workspace(tmp_path / "ws")
    path = write_csv(ws, "a.csv", crafted_logs("2026-03-01", [1.0, 2.0, 3.0]))
    first = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
    assert first.versions()["v1.0"]["rows"] == 3
    assert ProductionLogs(ws.production_dir, {}, engine).versions()["v1.0"]["rows"] == 3
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", [1.0, 2.0, 3.0, 4.0], version="v1.1"))
    _bump(path)
    again = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
    assert set(again.versions()) == {"v1.1"}
    assert again.frame("v1.1")["latency_ms"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_log_frames_are_shared_between_readers(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "ws")
    write_csv(ws, "a.csv", crafted_logs("2026-03-01", [1.0, 2.0]))
    a = ProductionLogs(ws.production_dir, {}, "pandas")
    b = ProductionLogs(ws.production_dir, {}, "pandas")
    assert a._pandas.frame_of(a.files[0]) is b._pandas.frame_of(b.files[0])
    assert len(FILE_FRAMES) >= 1


def test_an_in_place_rewrite_with_size_and_time_put_back_is_a_miss(tmp_path: Path) -> None:
    """The same size and the old modification time restored (``os.utime``) still change
    the signature: the change time cannot be set back."""
    path = tmp_path / "a.txt"
    path.write_text("aaaa")
    memo: FileMemo[str] = FileMemo(10)
    assert memo.compute([path], "k", path.read_text) == "aaaa"
    stat = path.stat()
    path.write_text("bbbb")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert memo.compute([path], "k", path.read_text) == "bbbb"


def test_kept_files_beyond_the_bound_go_least_recently_used_first(tmp_path: Path) -> None:
    """``keep_newest`` keeps the most recently written or used (``used``) files of a
    pattern and removes the rest; other files of the folder are never touched."""
    from deployready.memo import keep_newest, used

    files = []
    for i in range(5):
        path = tmp_path / f"entry-{i}.json"
        path.write_text(str(i))
        os.utime(path, ns=(i * 10**9, i * 10**9))  # written oldest first
        files.append(path)
    other = tmp_path / "other.json"
    other.write_text("x")
    os.utime(other, ns=(0, 0))
    used(files[0])  # the oldest, just read: now the most recently used
    removed = keep_newest(tmp_path, "entry-*.json", 3)
    assert sorted(p.name for p in removed) == ["entry-1.json", "entry-2.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "entry-0.json", "entry-3.json", "entry-4.json", "other.json"]
    assert keep_newest(tmp_path, "entry-*.json", 3) == []
    used(tmp_path / "gone.json")  # a file removed meanwhile: nothing happens
