"""Load-test runs in the store (``loadtest_runs``) and their files under ``data/loadtests/``.

A run row moves ``running`` → ``completed`` | ``failed`` | ``cancelled``; a row left
``running`` by a worker process that no longer exists is marked ``interrupted``. The
raw samples of a run are ``data/loadtests/run-<id>.npz`` (path relative to the workspace
in ``samples_path``); the run's scratch folder ``data/loadtests/run-<id>/`` holds the
worker's config, live progress, cancel flag, worker log and the server's prediction log.

The result of a run is stored as :meth:`LoadTestResult.as_dict()
<deployready.loadtest.results.LoadTestResult.as_dict>` and read back as a
:class:`StoredRun` with its :class:`~deployready.loadtest.results.LoadTestResult`; a
result that does not read (a hand-edited row) reads as an empty, unmeasured result.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from deployready.checks import Evidence
from deployready.loadtest.results import LoadTestResult
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace

RUN_SOURCE = "data/deployready.db#loadtest_runs/{id}"
WORKER_MODULE = "deployready.loadtest.worker"
STARTING_GRACE_S = 120.0  # longest a claimed run may wait for its worker's pid
PROGRESS_FILE = "progress.json"
CONFIG_FILE = "config.json"
CANCEL_FILE = "cancel"


@dataclass(frozen=True)
class StoredRun:
    """One row of ``loadtest_runs`` as stored: ``passed`` is the verdict the run was given
    when it finished, ``result`` its result (None unless it completed)."""

    id: int
    version: str
    package_sha256: str
    mode: str
    target: str
    status: str
    started_at: str
    finished_at: str | None = None
    passed: bool | None = None
    error: str | None = None
    samples_path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    result: LoadTestResult | None = None

    @classmethod
    def from_row(cls, row: Any) -> StoredRun:
        return cls(
            id=int(row["id"]), version=str(row["version"]),
            package_sha256=str(row["package_sha256"]), mode=str(row["mode"]),
            target=str(row["target"]), status=str(row["status"]),
            started_at=str(row["started_at"]), finished_at=row["finished_at"],
            passed=None if row["passed"] is None else bool(row["passed"]), error=row["error"],
            samples_path=row["samples_path"], config=_json_object(row["config_json"]),
            result=None if row["result_json"] is None
            else LoadTestResult.from_dict(_json_object(row["result_json"])),
        )

    @property
    def source(self) -> str:
        return RUN_SOURCE.format(id=self.id)

    def evidence(self, **detail: Any) -> Evidence:
        """This run as the evidence of a check."""
        return Evidence(source=self.source, time=self.finished_at,
                        package_sha256=self.package_sha256, detail=detail)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def child_env(**extra: str) -> dict[str, str]:
    """Environment of worker/server subprocesses: this deployready importable first."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding deployready/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def run_dir(ws: Workspace, run_id: int) -> Path:
    return ws.loadtest_dir / f"run-{run_id}"


def samples_file(ws: Workspace, run_id: int) -> Path:
    return ws.loadtest_dir / f"run-{run_id}.npz"


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live load-test worker (not a zombie, not a reused pid)."""
    if not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return WORKER_MODULE in cmdline


def _age_s(started_at: str) -> float:
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - started).total_seconds()


def this_process() -> str:
    """``pid:create_time`` of this process: an identity a reused pid does not match."""
    import psutil

    return f"{os.getpid()}:{psutil.Process().create_time()!r}"


def process_alive(identity: str | None) -> bool:
    """True while the process named by :func:`this_process` runs (not a zombie)."""
    import psutil

    pid, _, created = (identity or "").partition(":")
    try:
        proc = psutil.Process(int(pid))
        return bool(proc.status() != psutil.STATUS_ZOMBIE
                    and abs(proc.create_time() - float(created)) < 0.01)
    except psutil.AccessDenied:
        return True  # cannot tell (another user): the grace period decides
    except (ValueError, psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def _is_live(row: Any) -> bool:
    """A run is live while its worker runs; before the worker's pid is saved, while the
    process that claimed it runs (at most ``STARTING_GRACE_S``)."""
    if row["pid"]:
        return pid_alive(row["pid"])
    if _age_s(row["started_at"]) >= STARTING_GRACE_S:
        return False
    # rows claimed before the store had a claimant column: the grace period alone
    return row["claimant"] is None or process_alive(row["claimant"])


def claim(ws: Workspace, *, version: str, package_sha256: str, mode: str, target: str,
          config: dict[str, Any]) -> tuple[int, bool]:
    """Insert a ``running`` row unless a live run exists: (run id, created)."""
    with ws.store.transaction() as conn:
        for row in conn.execute("SELECT * FROM loadtest_runs WHERE status = 'running' "
                                "ORDER BY id DESC").fetchall():
            if _is_live(row):
                return int(row["id"]), False
        cur = conn.execute(
            "INSERT INTO loadtest_runs (version, package_sha256, mode, target, status, "
            "started_at, config_json, claimant) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
            (version, package_sha256, mode, target, utcnow(), dumps(config), this_process()),
        )
        return int(cur.lastrowid or 0), True


def set_pid(ws: Workspace, run_id: int, pid: int) -> None:
    with ws.store.transaction() as conn:
        conn.execute("UPDATE loadtest_runs SET pid = ? WHERE id = ?", (pid, run_id))


def update_identity(ws: Workspace, run_id: int, *, version: str, package_sha256: str) -> None:
    """For endpoint targets: the version/hash the endpoint reported on /health."""
    with ws.store.transaction() as conn:
        conn.execute("UPDATE loadtest_runs SET version = ?, package_sha256 = ? WHERE id = ?",
                     (version, package_sha256, run_id))


def finish(ws: Workspace, run_id: int, *, status: str, result: LoadTestResult | None = None,
           passed: bool | None = None, samples_path: str | None = None,
           error: str | None = None) -> None:
    """Final state of a run; a row that already left ``running`` is not touched."""
    with ws.store.transaction() as conn:
        conn.execute(
            "UPDATE loadtest_runs SET status = ?, finished_at = ?, result_json = ?, passed = ?, "
            "samples_path = ?, error = ? WHERE id = ? AND status = 'running'",
            (status, utcnow(), dumps(result.as_dict()) if result is not None else None,
             None if passed is None else int(passed), samples_path, error, run_id),
        )


def mark_interrupted(ws: Workspace) -> list[int]:
    """Rows left ``running`` whose worker is gone become ``interrupted``."""
    if not ws.store_path.exists():
        return []
    stale = [int(r["id"]) for r in ws.store.query(
        "SELECT * FROM loadtest_runs WHERE status = 'running'") if not _is_live(r)]
    if stale:
        with ws.store.transaction() as conn:
            for run_id in stale:
                conn.execute(
                    "UPDATE loadtest_runs SET status = 'interrupted', finished_at = ?, "
                    "error = coalesce(error, 'the load-test worker stopped without a result') "
                    "WHERE id = ? AND status = 'running'", (utcnow(), run_id))
    return stale


def get_run(ws: Workspace, run_id: int) -> sqlite3.Row | None:
    rows = ws.store.query("SELECT * FROM loadtest_runs WHERE id = ?", (run_id,))
    return rows[0] if rows else None


def running_run(ws: Workspace) -> sqlite3.Row | None:
    for row in ws.store.query("SELECT * FROM loadtest_runs WHERE status = 'running' "
                              "ORDER BY id DESC"):
        if _is_live(row):
            return row
    return None


def load_run(ws: Workspace, run_id: int) -> StoredRun | None:
    row = get_run(ws, run_id)
    return None if row is None else StoredRun.from_row(row)


def latest_completed(ws: Workspace, version: str | None,
                     package_sha256: str | None) -> StoredRun | None:
    sql = "SELECT * FROM loadtest_runs WHERE status = 'completed' AND result_json IS NOT NULL"
    params: list[Any] = []
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    if package_sha256 is not None:
        sql += " AND package_sha256 = ?"
        params.append(package_sha256)
    sql += " ORDER BY id DESC LIMIT 1"
    rows = ws.store.query(sql, tuple(params))
    return StoredRun.from_row(rows[0]) if rows else None


def completed_runs(ws: Workspace, version: str, package_sha256: str | None = None, *,
                   passed_only: bool = False) -> list[StoredRun]:
    """Completed runs of ``version`` (of that package hash when given; only the passing ones
    with ``passed_only``), the most recently finished first."""
    sql = "SELECT * FROM loadtest_runs WHERE version = ? AND status = 'completed'"
    params: list[Any] = [version]
    if package_sha256 is not None:
        sql += " AND package_sha256 = ?"
        params.append(package_sha256)
    if passed_only:
        sql += " AND passed = 1"
    sql += " ORDER BY coalesce(finished_at, started_at) DESC, id DESC"
    return [StoredRun.from_row(r) for r in ws.store.query(sql, tuple(params))]


def list_runs(ws: Workspace, version: str | None = None, limit: int = 100) -> list[StoredRun]:
    """Past runs (of ``version`` when given), newest first, as stored."""
    sql = "SELECT * FROM loadtest_runs"
    params: tuple[Any, ...] = ()
    if version is not None:
        sql += " WHERE version = ?"
        params = (version,)
    sql += " ORDER BY id DESC LIMIT ?"
    return [StoredRun.from_row(r) for r in ws.store.query(sql, (*params, limit))]


def load_samples(ws: Workspace, run: StoredRun) -> dict[str, np.ndarray] | None:
    """The raw sample arrays of a run (``main_latency_us``, ``main_kind``, ...), or None."""
    rel = run.samples_path
    if not rel:
        return None
    path = ws.root / rel
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
