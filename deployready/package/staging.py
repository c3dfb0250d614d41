"""Where an export builds its package: the ``models/.tmp-<uuid>`` staging folders, locked
while their export runs and swept once their export died, and the lock that serializes
version allocation between exporters.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = ".tmp-"
LOCK_FILE = ".export.lock"


@contextmanager
def export_lock(models_dir: Path) -> Iterator[None]:
    """Serialize version allocation between exporters (threads or processes)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock: rename still never overwrites
        yield
        return
    with open(models_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def claim_tmp(models_dir: Path) -> tuple[Path, int | None]:
    """Create this export's ``.tmp-<uuid>`` folder, locked for as long as the export runs.

    The lock (``flock`` on the folder) is released by the kernel when the process dies,
    so a folder whose lock can be taken belongs to an export that was killed: it is
    removed here. Sweeping and creating happen under the export lock, so a live export's
    folder is never seen unlocked.
    """
    with export_lock(models_dir):
        sweep_stale_tmp(models_dir)
        tmp = models_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock: stale folders are only ignored
            return tmp, None
        fd = os.open(tmp, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return tmp, fd


def sweep_stale_tmp(models_dir: Path) -> list[Path]:
    """Remove the temporary folders of exports that died (their folder lock is free)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return []
    removed: list[Path] = []
    for path in models_dir.iterdir():
        if not path.name.startswith(TMP_PREFIX) or path.is_symlink() or not path.is_dir():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live export is building it
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed
