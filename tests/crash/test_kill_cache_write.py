"""kill -9 while a cached value is written: the orphaned temporary file is removed by the
next write of that file, a live writer's temporary file is left alone."""

from __future__ import annotations

from pathlib import Path

from crash.support import child
from deployready.memo import remove_orphans, write_atomic


def _temporaries(path: Path) -> dict[int, Path]:
    """The temporary files of ``path`` (``.<name>.<pid>.<12 hex>.tmp``) by writer's pid."""
    found = {}
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid, token, _ = tmp.name[len(path.name) + 2:].split(".")
        if len(token) == 12:
            found[int(pid)] = tmp
    return found


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / ".deployready-cache" / "value.bin"
    other = path.parent / "value.bin.old"  # a name that merely begins like it
    with child("atomic", str(path)) as killed, child("atomic", str(path)) as alive:
        killed.wait_for("writing", timeout=60)
        alive.wait_for("writing", timeout=60)
        other.write_bytes(b"not a temporary")
        stray = path.parent / f".{path.name}.{killed.proc.pid}.zz.tmp"  # not write_atomic's
        stray.write_bytes(b"")
        both = _temporaries(path)
        assert set(both) >= {killed.proc.pid, alive.proc.pid}
        killed.kill9()
        orphan = both[killed.proc.pid]
        assert orphan.exists() and not path.exists()

        assert write_atomic(path, lambda out: out.write(b"the value"))

        assert path.read_bytes() == b"the value"
        assert not orphan.exists()
        assert both[alive.proc.pid].read_bytes() == b"half of a value"  # still being written
        assert other.exists() and stray.exists()
        alive.kill9()
        assert remove_orphans(path) == [both[alive.proc.pid]]
    assert _temporaries(path) == {}
    assert path.read_bytes() == b"the value"
