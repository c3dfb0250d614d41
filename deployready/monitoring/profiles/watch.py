"""Whether the profiles can still be up to date, from a stat of what the ingest reads.

Every page, report and check asks the ingest first whether a log file is new, changed or
gone (:func:`~deployready.monitoring.profiles.ingest.ingest_if_changed`): at a year of
daily files that answer opens every file, the store's bookkeeping and each package
manifest — a tenth of a second, asked several times per page. :func:`watched` is one
stat of each thing that answer depends on — each log file (size, modification and change
time, inode), each package's manifest, the profile store and its write-ahead log — taken
without opening anything. :class:`UpToDate` remembers, per store, the signature under
which the full check last found nothing to do; while the signature is the same, the
answer is still "nothing to do". Any write to any of them (a new row, a rebuilt
package, an ingest by another process, a store deleted and rebuilt) moves a stat and the
full check runs again. A log file whose last line is still being written is never
remembered as done: its writer going away changes no stat.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable
from pathlib import Path

from deployready.monitoring.logs_schema import stat_listing
from deployready.package.manifest import MANIFEST_FILE
from deployready.workspace import Workspace

__all__ = ["UpToDate", "watched"]

Signature = tuple[Hashable, ...]


def _stat(path: Path | str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _logs(directory: Path) -> Signature | None:
    """A stat of every log file under ``directory`` (:func:`stat_listing`); None when one
    is not a regular file — the full check reports it."""
    if not directory.is_dir():
        return None if os.path.lexists(directory) else ()
    return stat_listing(directory)


def watched(ws: Workspace, store: Path) -> Signature | None:
    """The stat signature of ``ws``'s logs, package manifests and profile store ``store``;
    None when it cannot vouch for anything (a log name on something not a file)."""
    logs = _logs(ws.production_dir)
    if logs is None:
        return None
    manifests = tuple((v, _stat(ws.package_path(v) / MANIFEST_FILE)) for v in ws.versions())
    files = tuple(_stat(f"{store}{suffix}") for suffix in ("", "-wal"))
    return (str(ws.root.resolve()), logs, manifests, files)


class UpToDate:
    """Per profile store, the signature under which the profiles were last found up to
    date (a few stores at most are remembered)."""

    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._done: dict[str, Signature] = {}
        self._lock = threading.Lock()

    def holds(self, store: Path, signature: Signature | None) -> bool:
        """Whether nothing changed since the profiles of ``store`` were found up to date."""
        with self._lock:
            return signature is not None and self._done.get(str(store)) == signature

    def remember(self, store: Path, signature: Signature | None) -> None:
        """The profiles of ``store`` were found up to date under ``signature`` (taken
        before the check: a change during it leaves another signature)."""
        if signature is None:
            return
        with self._lock:
            self._done.pop(str(store), None)
            self._done[str(store)] = signature
            while len(self._done) > self._keep:
                self._done.pop(next(iter(self._done)))

    def forget(self) -> None:
        with self._lock:
            self._done.clear()
