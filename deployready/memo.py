"""Values computed from files, remembered until a file changes.

The dashboard re-renders a page whenever any evidence file changes, and at scale the
same unchanged files (365 daily logs, a 10,000-run history) would be parsed and
validated again each time. A :class:`FileMemo` keys a value on the files it came from —
their resolved path, size and modification time (ns) — plus whatever else it depends on
(a policy section, the wanted columns), so a new or rewritten file is a new key and an
unchanged one is a hit. Least recently used values are dropped beyond ``max_weight``.
Values are shared between callers and threads: they must not be modified in place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["FileMemo", "file_signature"]

T = TypeVar("T")


def file_signature(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(resolved path, size, mtime in ns) of each file: changes when one is rewritten."""
    out = []
    for path in paths:
        stat = path.stat()
        out.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


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
