"""Load-test jobs: one per workspace at a time, started, watched and cancelled.

A :class:`JobRegistry` (no streamlit; the dashboard holds one in ``st.cache_resource``,
the CLI makes its own) keys jobs by workspace path. ``start()`` claims a ``running``
row in the store inside one write transaction — so a second start, from any session or
any process, gets the job that is already running — and launches the worker process
(:mod:`deployready.loadtest.worker`). A reaper thread waits for the worker and, if it
died without a result, records ``failed`` (``interrupted`` when a signal killed it).
``snapshot()`` reads the worker's ``progress.json`` and the store row; it never blocks on
the worker. On the first use of a workspace, rows left ``running`` by a dead worker are
marked ``interrupted``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployready.errors import DeployReadyError, InputError, JobError
from deployready.loadtest import runs
from deployready.loadtest.config import LoadTestConfig
from deployready.loadtest.results import LoadTestResult
from deployready.loadtest.runs import CANCEL_FILE, CONFIG_FILE, PROGRESS_FILE
from deployready.workspace import Workspace

TERMINAL = frozenset({"completed", "failed", "cancelled", "interrupted"})
CANCEL_GRACE_S = 15.0


@dataclass(frozen=True)
class JobSnapshot:
    """What a page or the CLI shows about a job at one moment."""

    run_id: int
    status: str  # running | completed | failed | cancelled | interrupted
    phase: str = ""
    detail: str = ""
    version: str = ""
    done: int = 0
    total: int = 0
    sent: int = 0
    in_flight: int = 0  # sent and not yet completed, now
    by_kind: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    latency_ms: dict[str, Any] | None = None
    series: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    result: LoadTestResult | None = None
    passed: bool | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def errors(self) -> int:
        return sum(v for k, v in self.by_kind.items() if k != "ok")


class LoadTestJob:
    """One run: its worker process (when this process started it) and its files."""

    def __init__(self, ws: Workspace, run_id: int,
                 proc: subprocess.Popen[bytes] | None = None) -> None:
        self.ws = ws
        self.run_id = run_id
        self.proc = proc
        self.folder = runs.run_dir(ws, run_id)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reaper: threading.Thread | None = None
        if proc is not None:
            self._reaper = threading.Thread(target=self._reap, name=f"loadtest-{run_id}",
                                            daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        row = runs.get_run(self.ws, self.run_id)
        if row is not None and row["status"] == "running":
            if code < 0:  # killed by a signal (kill -9, OOM killer): no result, not a failure
                runs.finish(self.ws, self.run_id, status="interrupted",
                            error=f"the load-test worker was killed by signal {-code}: "
                                  f"{self._log_tail()}")
            else:
                runs.finish(self.ws, self.run_id, status="failed",
                            error=f"the load-test worker exited with code {code}: "
                                  f"{self._log_tail()}")
        self._done.set()

    def _log_tail(self, lines: int = 6) -> str:
        try:
            text = (self.folder / "worker.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(text[-lines:]) or "no output"

    def _progress(self) -> dict[str, Any]:
        try:
            data = json.loads((self.folder / PROGRESS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def snapshot(self) -> JobSnapshot:
        """The job now: live progress while running, the stored result once finished."""
        row = runs.get_run(self.ws, self.run_id)
        if row is None:
            return JobSnapshot(self.run_id, "failed", error="the run's store row is gone")
        status = str(row["status"])
        if status == "running" and self.proc is None and not runs._is_live(row):
            runs.mark_interrupted(self.ws)
            row = runs.get_run(self.ws, self.run_id) or row
            status = str(row["status"])
        progress = self._progress()
        run = runs.StoredRun.from_row(row)
        result, config = run.result, run.config
        done = int(progress.get("done", 0))
        total = int(progress.get("total", config.get("requests", 0)) or 0)
        if result is not None:
            done = result.requests.sent
        return JobSnapshot(
            run_id=self.run_id,
            status=status,
            phase=str(progress.get("phase", "starting")),
            detail=str(progress.get("detail", "")),
            version=str(row["version"]),
            done=done,
            total=total,
            sent=int(progress.get("sent", 0)),
            in_flight=int(progress.get("in_flight", 0)) if result is None else 0,
            by_kind=dict(progress.get("by_kind", {})),
            elapsed_s=float(progress.get("elapsed_s", 0.0)),
            latency_ms=progress.get("latency_ms"),
            series=list(progress.get("series", [])),
            error=run.error,
            result=result,
            passed=run.passed,
            config=config,
        )

    @property
    def finished(self) -> bool:
        row = runs.get_run(self.ws, self.run_id)
        return row is None or str(row["status"]) in TERMINAL

    def cancel(self) -> None:
        """Ask the worker to stop (cancel file); SIGTERM/SIGKILL if it does not."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / CANCEL_FILE).touch()
        if self.proc is not None:
            threading.Thread(target=self._enforce_cancel, daemon=True).start()

    def _enforce_cancel(self) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def wait(self, timeout: float | None = None, poll: float = 0.2) -> JobSnapshot:
        """Block until the job ends (or ``timeout``); returns the last snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if snap.finished:
                if self._reaper is not None:
                    self._reaper.join(10.0)
                return snap
            if deadline is not None and time.monotonic() >= deadline:
                return snap
            time.sleep(poll)


class JobRegistry:
    """Jobs by workspace path; safe to share between sessions and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[Path, LoadTestJob] = {}
        self._recovered: set[Path] = set()

    @staticmethod
    def _key(ws: Workspace) -> Path:
        return ws.root.resolve()

    def _recover(self, ws: Workspace) -> None:
        key = self._key(ws)
        if key not in self._recovered:
            runs.mark_interrupted(ws)
            self._recovered.add(key)

    def start(self, ws: Workspace, config: LoadTestConfig) -> tuple[LoadTestJob, bool]:
        """Start a run, or return the one already running: (job, started now)."""
        from deployready.package.manifest import package_sha256

        with self._lock:
            key = self._key(ws)
            self._recover(ws)
            current = self._jobs.get(key)
            if current is not None and not current.finished:
                return current, False
            config.check()
            if config.version not in ws.versions():
                known = ", ".join(ws.versions()) or "none"
                raise InputError(f"no package {config.version}", source=ws.models_dir,
                                 location="version", expected=f"one of: {known}")
            sha = package_sha256(ws.package_path(config.version))
            run_id, created = runs.claim(
                ws, version=config.version, package_sha256=sha, mode=config.mode,
                target=config.target, config=config.as_dict())
            if not created:
                job = LoadTestJob(ws, run_id)
                self._jobs[key] = job
                return job, False
            folder = runs.run_dir(ws, run_id)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / CONFIG_FILE).write_text(json.dumps(config.as_dict(), indent=2))
                with open(folder / "worker.log", "ab") as log:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", runs.WORKER_MODULE, str(ws.root.resolve()),
                         str(run_id)],
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        env=runs.child_env(), start_new_session=True)
                runs.set_pid(ws, run_id, proc.pid)
            except (OSError, DeployReadyError) as exc:
                runs.finish(ws, run_id, status="failed", error=f"cannot start the worker: {exc}")
                raise JobError(f"cannot start the load-test worker: {exc}") from exc
            job = LoadTestJob(ws, run_id, proc)
            self._jobs[key] = job
            return job, True

    def current(self, ws: Workspace) -> LoadTestJob | None:
        """The job of this workspace: the running one (from any process), else the last."""
        with self._lock:
            key = self._key(ws)
            self._recover(ws)
            job = self._jobs.get(key)
            if job is not None and not job.finished:
                return job
            if ws.store_path.exists():
                row = runs.running_run(ws)
                if row is not None:
                    job = LoadTestJob(ws, int(row["id"]))
                    self._jobs[key] = job
            return job

    def cancel(self, ws: Workspace) -> bool:
        job = self.current(ws)
        if job is None or job.finished:
            return False
        job.cancel()
        return True
