"""The prediction log of ``deployready serve``.

**Prediction log.** Every row is logged in the production-log format (timestamp,
version, latency_ms, prediction, error, request_id, features) by a background thread that buffers,
flushes at least every ``flush_seconds`` and writes one CSV per UTC day
(``predictions-YYYY-MM-DD.csv``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG = logging.getLogger("deployready.serving.app")


def try_lock(fh: Any) -> bool:
    """An exclusive advisory lock on an open file, without waiting (always granted where
    the platform has no ``fcntl``). Released when the file is closed."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


#: Longest value logged for a failed request (a served row's values are validated).
MAX_ERROR_CELL_CHARS = 200


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)[:MAX_ERROR_CELL_CHARS]
    return value


def _error_cell(value: Any) -> Any:
    """A failed request's value as logged: what it sent, cut to
    :data:`MAX_ERROR_CELL_CHARS` (it may carry a megabyte, or nesting, or text UTF-8
    cannot store — which would lose the lines around it)."""
    if isinstance(value, dict | list):
        try:
            return json.dumps(value)[:MAX_ERROR_CELL_CHARS]  # ASCII: \uXXXX escapes
        except (ValueError, RecursionError):
            return ""
    value = _cell(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value[:MAX_ERROR_CELL_CHARS]
        if not value.isascii():
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class PredictionLog:
    """Buffered, daily-rotated CSV writer in the production-log format, on its own thread."""

    def __init__(self, directory: Path, version: str, features: list[str],
                 flush_seconds: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.features = features
        self.header = ["timestamp", "version", "latency_ms", "prediction", "error",
                       "request_id", *features]
        self.flush_seconds = flush_seconds
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._day = ""
        self._fh: Any = None
        self._writer: Any = None
        self.written = 0
        self._thread.start()

    def add(self, ts: float, latency_ms: float, prediction: float | None, error: str,
            row: Any, request_id: str = "") -> None:
        self._queue.put((ts, latency_ms, [row], None if prediction is None else [prediction],
                         error, [request_id]))

    def add_request(self, ts: float, latency_ms: float, rows: list[Any],
                    predictions: list[float] | None, error: str,
                    ids: list[str] | None = None) -> None:
        """All rows of one request, with their ids (none: empty cells): one queue item
        (the writer thread expands it)."""
        self._queue.put((ts, latency_ms, rows, predictions, error, ids))

    def _candidates(self, day: str) -> list[str]:
        return [f"predictions-{day}.csv", f"predictions-{day}-{self.version}.csv",
                f"predictions-{day}-{self.version}-{os.getpid()}.csv"]

    def _claim(self, path: Path) -> tuple[Any, bool] | None:
        """``path`` opened for appending and locked for this process, and whether it is
        new — or None when another server holds it or it has another header."""
        fh = None
        try:
            fh = open(path, "a+", newline="", encoding="utf-8")  # noqa: SIM115 - held open
            if try_lock(fh):
                fh.seek(0)
                first = fh.readline()
                if not first:
                    return fh, True
                if next(csv.reader([first]), None) == self.header:
                    fh.seek(0, os.SEEK_END)
                    return fh, False
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, a directory...
            LOG.warning("prediction log: not writing to %s: %s", path, exc)
        if fh is not None:
            fh.close()
        return None

    def _open(self, day: str) -> None:
        """The day's file: the shared ``predictions-<day>.csv`` unless another server
        holds it (an advisory lock per open file) or it has another header (a version
        with another schema during a rollout), then ``-<version>``, then
        ``-<version>-<pid>``: two writers never interleave lines in one file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for name in self._candidates(day):
            claimed = self._claim(self.directory / name)
            if claimed is not None:
                break
        else:  # every name held or taken by another header: a file of our own
            name = f"predictions-{day}-{self.version}-{os.getpid()}-{time.time_ns()}.csv"
            claimed = (open(self.directory / name, "a", newline="",  # noqa: SIM115
                            encoding="utf-8"), True)
        self._fh, new = claimed
        self._writer = csv.writer(self._fh)
        if new:
            self._writer.writerow(self.header)
        self._day = day

    def _write(self, item: tuple[Any, ...]) -> None:
        ts, latency_ms, rows, predictions, error, ids = item
        stamp = _iso(ts)
        day = stamp[:10]
        if day != self._day:
            self._open(day)
        head = [stamp, self.version, f"{latency_ms:.3f}"]
        features, empty = self.features, [""] * len(self.features)
        cell = _error_cell if error else _cell
        lines = []
        for i, row in enumerate(rows):
            prediction = predictions[i] if predictions is not None else None
            pred = ("" if prediction is None or not math.isfinite(prediction)
                    else repr(float(prediction)))
            cells = [cell(row.get(f)) for f in features] if isinstance(row, dict) else empty
            lines.append([*head, pred, error, "" if ids is None else ids[i], *cells])
        self._writer.writerows(lines)
        self.written += len(lines)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                pass  # nothing queued: time to flush
            else:
                if item is None:
                    break
                try:
                    self._write(item)
                except Exception as exc:  # a full disk must not take predictions down
                    LOG.error("prediction log: %s: %s", type(exc).__name__, exc)
            if self._fh is not None and time.monotonic() - last_flush >= self.flush_seconds:
                self._fh.flush()
                last_flush = time.monotonic()
        if self._fh is not None:
            self._fh.flush()
            self._fh.close()
            self._fh = None

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
