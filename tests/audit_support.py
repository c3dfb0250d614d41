"""What a block of code opened or unpickled, from Python's audit events (files opened by
name, SQLite databases connected to, globals looked up by an unpickler): how a test sees
that an answer came from memory without reaching into the code that gave it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EVENTS = ("open", "sqlite3.connect", "pickle.find_class")
_SEEN: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _SEEN and event in EVENTS:
        _SEEN[-1].append(f"{event} {args[0] if args else ''}")


sys.addaudithook(_audit)


@contextmanager
def opened() -> Iterator[list[str]]:
    """Every file opened, database connected to and global unpickled in the block."""
    seen: list[str] = []
    _SEEN.append(seen)
    try:
        yield seen
    finally:
        _SEEN.remove(seen)
