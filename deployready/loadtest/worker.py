"""The load-test worker process: ``python -m deployready.loadtest.worker WORKSPACE RUN_ID``.

Runs outside the dashboard's (or the CLI's) process, so neither slows the other:

1. loads the package as production would (``load_package``: manifest verified before
   anything is unpickled) to get the holdout rows and their expected predictions;
2. for the ``serve`` target, starts ``deployready serve`` as its own subprocess on a free
   loopback port (BLAS/OpenMP threads limited to 1, prediction log to the run folder,
   watching this worker's pid so it never outlives it) and waits for ``/health``; for an
   endpoint target, asks its ``/health`` which package it serves;
3. warm-up requests (discarded), the measured phase, then a no-op phase against
   ``/noop`` with the same load: the harness's own noise floor;
4. polls the serving process's RSS (psutil, every 50 ms) throughout;
5. writes the raw samples (``run-<id>.npz``: per request latency, kind, scheduled,
   actual send and completion time, ...), the result — with the requests in flight over
   the run — and pass/fail to the store, and live progress (with the requests in flight
   now) to ``run-<id>/progress.json`` four times a second.

Cancellation: the ``cancel`` file in the run folder, or SIGTERM. The server subprocess
is always terminated (then killed) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deployready.errors import DeployReadyError, JobError
from deployready.loadtest import runs
from deployready.loadtest.config import LoadTestConfig
from deployready.loadtest.loadgen import Live, get_json, make_session, payload_bodies, run_phase
from deployready.loadtest.results import (
    checks_from_result,
    consistency,
    passed,
    phase_summary,
)
from deployready.loadtest.runs import CANCEL_FILE, CONFIG_FILE, PROGRESS_FILE
from deployready.runtime import freeze_heap
from deployready.workspace import Workspace

SERVER_START_S = 120.0
WARMUP_MAX_S = 60.0
NOISE_MAX_S = 60.0


class Cancelled(Exception):
    pass


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


class _Reporter:
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


def _endpoint_pid(base_url: str) -> int | None:
    """The pid an endpoint reports on /health, when that process is on this machine."""
    import urllib.request

    import psutil

    try:
        with urllib.request.urlopen(base_url + "/health", timeout=5.0) as resp:
            pid = json.loads(resp.read()).get("pid")
    except Exception:
        return None
    return pid if isinstance(pid, int) and psutil.pid_exists(pid) else None


# --------------------------------------------------------------------------- server


def start_server(config: LoadTestConfig, package_path: Path,
                 folder: Path) -> subprocess.Popen[bytes]:
    ready = folder / "server.json"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "deployready", "serve", str(package_path),
           "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready),
           "--parent-pid", str(os.getpid()), "--log-dir", str(folder / "predictions"),
           "--max-batch-size", str(config.max_batch_size), "--max-wait-ms", str(config.max_wait_ms),
           "--threads", "1"]
    if not config.batching:
        cmd.append("--no-batching")
    env = runs.child_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    finally:
        log.close()


def _server_log_tail(folder: Path, lines: int = 8) -> str:
    try:
        text = (folder / "server.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def wait_ready(proc: subprocess.Popen[bytes], folder: Path, should_stop: Any) -> dict[str, Any]:
    ready = folder / "server.json"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if should_stop():
            raise Cancelled()
        if proc.poll() is not None:
            raise JobError(f"the server exited with code {proc.returncode} before it was ready: "
                           f"{_server_log_tail(folder)}")
        if ready.exists():
            return dict(json.loads(ready.read_text()))
        time.sleep(0.05)
    raise JobError(f"the server was not ready within {SERVER_START_S:g} s")


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# --------------------------------------------------------------------------- run


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (pinned, like the server's): the generator's CPU
    per request is what bounds a closed loop on a shared 2-core machine; else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def measure(config: LoadTestConfig, base_url: str, records: list[dict[str, Any]],
                  progress: Progress, should_stop: Any, policy_seed: int = 0
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """Health, warm-up, measured phase, no-op phase. Returns (health, parts, arrays)."""
    timeout_s = config.timeout_ms / 1000.0
    pool = config.concurrency
    bodies, first_rows = payload_bodies(records, config.rows_per_request, config.requests)
    session = make_session(pool, timeout_s)
    parts: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    async with session:
        health: dict[str, Any] = {}
        deadline = time.monotonic() + 30.0
        while True:
            try:
                status, body = await get_json(session, base_url + "/health")
                if status == 200 and isinstance(body, dict):
                    health = body
                    break
                last = f"HTTP {status}"
            except Exception as exc:  # connection refused while starting, etc.
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline or should_stop():
                raise JobError(f"{base_url}/health did not answer: {last}")
            await asyncio.sleep(0.1)
        if config.warmup_requests:
            # at full concurrency, so every pooled keep-alive connection is open before the
            # measured phase: connecting is not prediction latency (it was 30-50 % of the
            # first closed-loop cycle when half of the pool connected during measurement)
            warmup = max(config.warmup_requests, pool)
            progress.set_phase("warm-up", f"{warmup} requests, discarded")
            warm = await run_phase(
                session, base_url + "/predict", bodies, first_rows, mode="closed",
                requests=warmup, concurrency=pool, rate=config.rate, arrival=config.arrival,
                timeout_s=timeout_s, max_seconds=WARMUP_MAX_S, should_stop=should_stop)
            parts["warmup"] = {"requests": warmup, "ok": int(np.count_nonzero(warm.kind == 0))}
        freeze_heap()  # a full collection would stall the generator, i.e. the measurement
        if should_stop():
            raise Cancelled()
        live = Live(config.requests)
        progress.live = live
        progress.set_phase("load", f"{config.mode} loop")
        main = await run_phase(
            session, base_url + "/predict", bodies, first_rows, mode=config.mode,
            requests=config.requests, concurrency=pool, rate=config.rate, arrival=config.arrival,
            timeout_s=timeout_s, max_seconds=config.max_seconds, should_stop=should_stop,
            live=live, seed=config.seed)
        parts["main"] = main
        arrays.update(main.arrays("main_"))
        cancelled = should_stop()
        if config.noise_requests and not cancelled:
            progress.set_phase("noise", f"{config.noise_requests} no-op requests")
            n = config.noise_requests
            noise = await run_phase(
                session, base_url + "/noop", bodies, first_rows, mode=config.mode, requests=n,
                concurrency=pool, rate=config.rate, arrival=config.arrival, timeout_s=timeout_s,
                max_seconds=NOISE_MAX_S, should_stop=should_stop, seed=config.seed + 1,
                expect_predictions=False)
            if np.count_nonzero(noise.status == 404) > n // 2:
                parts["noise"] = {"skipped": "the endpoint has no /noop"}
            else:
                parts["noise"] = phase_summary(noise, mode=config.mode, rate=config.rate,
                                               pool=pool)
                arrays.update(noise.arrays("noise_"))
        if cancelled:
            raise Cancelled()
        with contextlib.suppress(Exception):
            status, stats = await get_json(session, base_url + "/stats")
            if status == 200:
                parts["server_stats"] = stats
    return health, parts, arrays


def run(ws: Workspace, run_id: int, config: LoadTestConfig, folder: Path,
        should_stop: Any) -> None:
    from deployready.package.load import load_package

    policy = ws.policy()
    progress = Progress(folder / PROGRESS_FILE, run_id, config.requests)
    env = environment()
    server: subprocess.Popen[bytes] | None = None
    rss: RssPoller | None = None
    parts: dict[str, Any] = {}
    try:
        progress.set_phase("loading package", config.version)
        package = load_package(ws.package_path(config.version))
        records = package.request_rows()
        if config.is_serve:
            progress.set_phase("starting server", "deployready serve on 127.0.0.1")
            server = start_server(config, package.path, folder)
            info = wait_ready(server, folder, should_stop)
            base_url = config.base_url(str(info["url"]))
            server_pid: int | None = server.pid
        else:
            base_url = config.base_url()
            server_pid = None
        if server_pid is None:
            server_pid = _endpoint_pid(base_url)
        rss = RssPoller(server_pid)
        reporter = _Reporter(progress)
        try:
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                health, parts, arrays = runner.run(
                    measure(config, base_url, records, progress, should_stop))
        finally:
            reporter.stop()
        peak = rss.stop()
        progress.set_phase("saving")
        served_sha = str(health.get("package_sha256") or "")
        for_package = served_sha == package.sha256
        if config.is_serve and not for_package:
            raise JobError(f"the server reports package {served_sha[:12]}, expected "
                           f"{package.sha256[:12]}")
        if not for_package:
            runs.update_identity(ws, run_id, version=str(health.get("version") or config.version),
                                 package_sha256=served_sha or f"unverified:{base_url}")
        main = parts["main"]
        result = phase_summary(main, mode=config.mode, rate=config.rate,
                               pool=config.concurrency)
        result["consistency"] = consistency(main, package.expected,
                                            policy.load_test.consistency_tolerance)
        result["peak_rss_mb"] = peak
        result["noise"] = parts.get("noise", {"skipped": "not measured"})
        result["warmup"] = parts.get("warmup", {"requests": 0})
        env["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        result["environment"] = env
        result["package"] = {"version": package.version, "sha256": package.sha256}
        result["target"] = {"kind": "serve" if config.is_serve else "endpoint", "url": base_url,
                            "health": health, "evidence_for_package": for_package}
        result["server_stats"] = parts.get("server_stats")
        result["config"] = config.as_dict()
        if config.is_serve:
            result["prediction_log"] = str((folder / "predictions").relative_to(ws.root))
        samples = runs.samples_file(ws, run_id)
        np.savez_compressed(samples, allow_pickle=False, **arrays)
        from deployready.checks import Evidence

        evidence = Evidence(source=runs.RUN_SOURCE.format(id=run_id), package_sha256=served_sha)
        ok = passed(checks_from_result(result, policy.load_test, evidence))
        runs.finish(ws, run_id, status="completed", result=result, passed=ok,
                    samples_path=str(samples.relative_to(ws.root)))
        progress.set_phase("done")
        progress.write(status="completed", passed=ok)
    except Cancelled:
        if rss is not None:
            rss.stop()
        runs.finish(ws, run_id, status="cancelled", error="cancelled by the user")
        progress.write(status="cancelled")
    except DeployReadyError as exc:
        runs.finish(ws, run_id, status="failed", error=str(exc))
        progress.write(status="failed", error=str(exc))
    except Exception as exc:
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"
        runs.finish(ws, run_id, status="failed", error=message)
        progress.write(status="failed", error=message)
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m deployready.loadtest.worker WORKSPACE RUN_ID", file=sys.stderr)
        return 2
    ws = Workspace(Path(args[0]))
    run_id = int(args[1])
    folder = runs.run_dir(ws, run_id)
    config = LoadTestConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cancel_file = folder / CANCEL_FILE
    last_check = [0.0]

    def should_stop() -> bool:
        if stop.is_set():
            return True
        now = time.monotonic()
        if now - last_check[0] > 0.1:
            last_check[0] = now
            if cancel_file.exists():
                stop.set()
        return stop.is_set()

    run(ws, run_id, config, folder, should_stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
