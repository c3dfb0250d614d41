"""Values computed from files, remembered until a file changes.

The dashboard re-renders a page whenever any evidence file changes, and at scale the
same unchanged files (365 daily logs, a 10,000-run history) would be parsed and
validated again each time. A :class:`FileMemo` keys a value on the files it came from —
their resolved path, size, modification and change time (ns) — plus whatever else it
depends on (a policy section, the wanted columns), so a new or rewritten file is a new
key and an unchanged one is a hit. Least recently used values are dropped beyond
``max_weight``. Values are shared between callers and threads: they must not be modified in place.

Values worth keeping across processes (a fresh dashboard server) are written under the
workspace's cache folder (:func:`cache_path`) by :func:`write_atomic`: a reader sees the
old file or the new one, never half of one; a folder that cannot be written (a read-only
workspace) leaves the value uncached. Such files hold arrays and JSON only (nothing is
ever unpickled), carry the key they were computed for, and a reader that finds another
key, or cannot parse the file, computes the value again. A writer killed mid-write leaves
its temporary file behind; the next write of the same file removes it once that
writer's process is gone.
"""

from __future__ import annotations

import gc
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Generic, TypeVar

__all__ = [
    "CACHE_DIR", "FileMemo", "cache_path", "file_signature", "keep_newest", "paused_gc",
    "remove_orphans", "used", "write_atomic",
]

#: the workspace's folder of values kept across processes (outside ``data/``: writing
#: one is not a change of the evidence)
CACHE_DIR = ".deployready-cache"

T = TypeVar("T")


def file_signature(paths: Iterable[Path]) -> tuple[tuple[str, int, int, int], ...]:
    """(resolved path, size, mtime and change time in ns) of each file: changes when one
    is rewritten — even in place with its size and modification time put back (``os.utime``
    can set the modification time, never the change time)."""
    out = []
    for path in paths:
        stat = path.stat()
        out.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return tuple(out)


_GC_LOCK = threading.Lock()
_gc_pauses = [0, False]  # [callers inside paused_gc, whether the collector was on before]


@contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic garbage collection inside (and as before, after): decoding a large
    cache makes hundreds of thousands of objects, and each collection pass meanwhile
    walks the whole heap of the process again. Nested and concurrent callers share one
    pause; the last to leave restores the collector as the first found it."""
    with _GC_LOCK:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


def cache_path(root: str | Path, name: str) -> Path:
    """The file ``name`` in the workspace's cache folder."""
    return Path(root) / CACHE_DIR / name


#: what follows ``.<name>.`` in a temporary file of :func:`write_atomic`: its writer's pid
_TMP_TAIL = re.compile(r"([0-9]{1,10})\.[0-9a-f]{12}\.tmp")


def _pid_alive(pid: int) -> bool:
    """False only when no process ``pid`` exists (one of another user counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # PermissionError: it exists
        return True
    return True


def remove_orphans(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` whose writer's process no longer exists (a
    writer killed mid-write); a live writer's are left alone. The ones removed."""
    prefix = f".{path.name}."
    removed = []
    try:
        names = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except OSError:
        return []
    for name in names:
        match = _TMP_TAIL.fullmatch(name, len(prefix))
        if match is None or int(match.group(1)) <= 0 or _pid_alive(int(match.group(1))):
            continue
        try:
            (path.parent / name).unlink()
        except OSError:  # gone already (another writer swept it), or not ours to remove
            continue
        removed.append(path.parent / name)
    return removed


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> bool:
    """Write ``path`` through ``write(file)`` into a temporary file (of this process, beside
    it, created like any data file: 0666 less the umask) renamed over it; False (nothing
    written, no temporary file left) when the folder cannot be written. Temporary files of
    ``path`` left by writers that were killed are removed first (:func:`remove_orphans`)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(path)
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


def used(path: Path) -> None:
    """Mark a kept file as just used (its modification time: :func:`keep_newest` drops the
    least recently used); nothing when the folder is read-only."""
    with suppress(OSError):
        os.utime(path)


def keep_newest(folder: Path, pattern: str, keep: int) -> list[Path]:
    """Remove all but the ``keep`` most recently written or used (:func:`used`) files of
    ``folder`` matching ``pattern`` (a glob): kept values whose key moves on (a day file
    still growing gets a new revision at each ingest) would otherwise pile up. The ones
    removed; a file another process removed first, or one that cannot be, is skipped."""
    found = []
    for path in folder.glob(pattern):
        try:
            found.append((path.stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    removed = []
    for _, _, path in sorted(found, reverse=True)[keep:]:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


class FileMemo(Generic[T]):
    """An LRU of values keyed on file signatures; ``weigh`` sizes a value (default 1)."""

    def __init__(self, max_weight: int, weigh: Callable[[T], int] | None = None) -> None:
        self.max_weight = max_weight
        self._weigh = weigh or (lambda _value: 1)
        self._values: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            hit = self._values.get(key)
            if hit is None:
                return None
            self._values.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: T) -> None:
        weight = self._weigh(value)
        if weight > self.max_weight:
            return
        with self._lock:
            if key in self._values:
                return
            self._values[key] = (value, weight)
            self._weight += weight
            while self._weight > self.max_weight:
                _, (_, dropped) = self._values.popitem(last=False)
                self._weight -= dropped

    def compute(self, paths: Iterable[Path], extra: Hashable, build: Callable[[], T]) -> T:
        """The value for ``paths`` (as they are now) and ``extra``; ``build()`` on a miss.
        A failure of ``build`` is not remembered."""
        return self.compute_keyed(paths, extra, build)[1]

    def compute_keyed(self, paths: Iterable[Path], extra: Hashable, build: Callable[[], T]
                      ) -> tuple[Hashable, T]:
        """``compute``, and the key it was remembered under: values derived from this one
        can be keyed on it, so they never outlive it."""
        key = (file_signature(paths), extra)
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return key, value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._weight = 0
