"""What a load-test run reports while it runs: live progress (``progress.json``, written
four times a second from its own thread), the serving process's peak RSS (polled every
50 ms) and the machine it ran on."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from deployready.loadtest.loadgen import Live


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str, allow_nan=False))
    os.replace(tmp, path)


def environment() -> dict[str, Any]:
    import aiohttp
    import pandas as pd
    import psutil
    import sklearn

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
                "aiohttp": aiohttp.__version__}
    for name in ("uvicorn", "starlette"):
        with contextlib.suppress(ImportError):
            versions[name] = __import__(name).__version__
    return {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "versions": versions,
    }


class RssPoller:
    """Peak RSS of one process, polled on a thread."""

    def __init__(self, pid: int | None, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        if pid:
            self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            while not self._stop.is_set():
                self.peak = max(self.peak, proc.memory_info().rss)
                self._stop.wait(self.interval)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return

    def stop(self) -> float | None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        return round(self.peak / 2**20, 1) if self.peak else None


class Progress:
    """Live progress of the run, written to ``progress.json`` for ``snapshot()``."""

    def __init__(self, path: Path, run_id: int, total: int) -> None:
        self.path = path
        self.run_id = run_id
        self.total = total
        self.phase = "starting"
        self.detail = ""
        self.started = time.time()
        self.live: Live | None = None
        self._seen = 0
        self._buckets: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self.write()

    def set_phase(self, phase: str, detail: str = "") -> None:
        self.phase, self.detail = phase, detail
        self.write()

    def _series(self) -> list[dict[str, Any]]:
        live = self.live
        if live is None:
            return []
        n = len(live.completed_ns)
        for i in range(self._seen, n):
            sec = int((live.completed_ns[i] - live.start_ns) // 1_000_000_000)
            self._buckets.setdefault(sec, []).append(live.latencies[i])
        self._seen = n
        out = []
        for sec in sorted(self._buckets):
            values = np.asarray(self._buckets[sec], dtype=np.float64)
            p50, p99 = np.percentile(values, [50, 99]) / 1000.0
            out.append({"t": sec + 1, "count": int(values.size), "p50_ms": round(float(p50), 3),
                        "p99_ms": round(float(p99), 3),
                        "max_ms": round(float(values.max()) / 1e3, 3)})
        return out

    def write(self, status: str = "running", **extra: Any) -> None:
        with self._lock:
            self._write(status, **extra)

    def _write(self, status: str, **extra: Any) -> None:
        live = self.live
        data: dict[str, Any] = {
            "run_id": self.run_id, "status": status, "phase": self.phase, "detail": self.detail,
            "total": self.total, "done": live.done if live else 0, "sent": live.sent if live else 0,
            "in_flight": live.sent - live.done if live else 0,
            "by_kind": dict(live.by_kind) if live else {},
            "elapsed_s": round(time.time() - self.started, 2),
            "updated": time.time(), "pid": os.getpid(),
        }
        if live is not None and live.latencies:
            values = np.asarray(live.latencies, dtype=np.float64)
            p = np.percentile(values, [50, 95, 99]) / 1000.0
            data["latency_ms"] = {"p50": round(float(p[0]), 3), "p95": round(float(p[1]), 3),
                                  "p99": round(float(p[2]), 3), "count": int(values.size)}
        data["series"] = self._series()
        data.update(extra)
        write_json_atomic(self.path, data)


class Reporter:
    """Writes progress four times a second from its own thread (not the client's loop)."""

    def __init__(self, progress: Progress, interval: float = 0.25) -> None:
        self.progress = progress
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.progress.write()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
