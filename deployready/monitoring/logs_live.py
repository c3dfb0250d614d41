"""How much of a production-log file a reader reads while a live writer may be writing it.

**Files a writer is still writing.** ``deployready serve`` creates the day's file, holds
an exclusive ``flock`` on it while it serves, and flushes rows at least every second, so
a reader can meet the file with 0 bytes, with only its header, or ending in half a line.

- A file of 0 bytes, or with a header and no data row, holds **no rows yet**: it is
  never an error (a crash before the first flush looks the same, and it holds no
  evidence either way). Its header, when complete, is still checked.
- Each CSV file is probed for a writer's lock (a shared ``flock`` taken without
  waiting and released at once; a server claiming a new day's file in that instant
  moves on to its ``-<version>`` name, as when another server holds it). Held: the file
  is live and is read up to its last line end — a last line still being written is left
  out, and a file with no complete line at all holds no rows yet. Not held: no one will
  finish the file, so it is read as it is — a last line that parses is a row (many tools
  end a CSV without a line end), one that does not is an error naming the file and the
  row, as for any corrupt file.
- A reader reads each file up to the size it had when it was looked at (a live file up
  to its last line end then): rows flushed while a check runs wait for the next check,
  and both engines, and every query of one reader, see the same rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from deployready.errors import LogError


@dataclass(frozen=True)
class FileState:
    """How much of a log file a reader reads (see the module docstring)."""

    #: bytes when looked at
    size: int
    #: bytes to read from the start: ``size``, or up to the last line end when a live
    #: writer is finishing the last line
    readable: int
    #: a writer holds the file's lock (CSV files only)
    live: bool

    @property
    def blank(self) -> bool:
        """No rows yet: 0 bytes, or a live writer has not finished its first line."""
        return self.readable == 0

    @property
    def note(self) -> str:
        if self.size == 0:
            return "0 bytes: no rows yet"
        return "a live writer has not finished its first line: no rows yet"


def writer_holds(path: Path) -> bool:
    """Whether another open file holds an exclusive ``flock`` on ``path`` (a running
    ``deployready serve`` holds its day file). Probed with a shared lock taken without
    waiting and released at once; False where the platform has no ``flock``."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _last_line_end(path: Path, size: int) -> int:
    """The number of bytes up to and including the last ``\\n`` before ``size`` (0: none)."""
    chunk = 1 << 16
    with path.open("rb") as fh:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            fh.seek(start)
            block = fh.read(end - start)
            found = block.rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
    return 0


def file_state(path: str | Path) -> FileState:
    """What to read of ``path`` now (see the module docstring); Parquet files are read
    whole. LogError when the file cannot be looked at."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return FileState(0, 0, False)
        if path.suffix.lower() == ".parquet" or not writer_holds(path):
            return FileState(size, size, False)
        return FileState(size, _last_line_end(path, size), True)
    except OSError as exc:
        raise LogError(f"cannot read: {exc}", source=path, expected="CSV or Parquet") from exc


def csv_source(path: Path, state: FileState | None) -> Any:
    """What pyarrow reads a CSV log from: the file's first ``state.readable`` bytes
    (memory-mapped, not copied), or the path when no state is given."""
    if state is None:
        return path
    return pa.BufferReader(pa.memory_map(str(path)).read_buffer(state.readable))


def copy_ranges(path: Path, target: Path, ranges: list[tuple[int, int]]) -> None:
    """The bytes ``[start, end)`` of each range of ``path``, in order, as ``target`` (what
    a reader decided to read of a file a writer may still be growing)."""
    with path.open("rb") as src, target.open("wb") as out:
        for start, end in ranges:
            src.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = src.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
