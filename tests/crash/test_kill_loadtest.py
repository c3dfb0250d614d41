"""kill -9 during a load test: interrupted after restart, no orphan server, a new run starts."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest
from streamlit.testing.v1 import AppTest

from crash.support import (
    REPO,
    VERSION,
    child,
    kill_processes_under,
    processes_under,
    read_json,
    wait_gone,
)
from deployready.checks import Status
from deployready.loadtest import JobRegistry, LoadTestConfig, loadtest_checks
from deployready.loadtest.runs import PROGRESS_FILE, get_run, run_dir
from deployready.package.manifest import package_sha256
from deployready.workspace import Workspace

START_S = 90.0  # worker + server start, generous for a loaded 2-core machine
WATCHDOG_S = 10.0  # the server polls its parent every 0.5 s


def _wait_mid_run(ws: Workspace, run_id: int) -> int:
    """Wait until the run is in its measured phase with some requests done; the server pid."""
    folder = run_dir(ws, run_id)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        progress = read_json(folder / PROGRESS_FILE)
        server = read_json(folder / "server.json")
        if progress.get("phase") == "load" and int(progress.get("done", 0)) >= 10 and server:
            return int(server["pid"])
        row = get_run(ws, run_id)
        assert row is not None and row["status"] == "running", dict(row or {})
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached the load phase: "
                         f"{read_json(folder / PROGRESS_FILE)}")


def _assert_not_evidence(ws: Workspace, sha: str) -> None:
    checks = loadtest_checks(ws, VERSION, sha, ws.policy())
    assert {c.status for c in checks} == {Status.PENDING}, [c.message for c in checks]


def _assert_new_run_completes(ws: Workspace, registry: JobRegistry, previous: int) -> None:
    config = LoadTestConfig.from_policy(VERSION, ws.policy().load_test, requests=200,
                                        concurrency=10, noise_requests=50)
    job, created = registry.start(ws, config)
    assert created and job.run_id == previous + 1
    try:
        snap = job.wait(120)
    finally:
        if not job.finished:
            job.cancel()
            job.wait(30)
    assert snap.status == "completed", (snap.status, snap.error)
    sha = package_sha256(ws.package_path(VERSION))
    checks = loadtest_checks(ws, VERSION, sha, ws.policy())
    assert all(c.status is Status.PASS for c in checks), [c.message for c in checks]
    assert all(c.evidence is not None and c.evidence.source.endswith(f"/{job.run_id}")
               for c in checks)


def _page(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(ws.root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_kill_registry_process_and_worker_then_restart(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = package_sha256(ws.package_path(VERSION))
    server_pid = worker_pid = 0
    try:
        # the dashboard process (owning the registry) and its worker both die mid-run
        with child("loadtest", str(ws.root), "open", "5000", "50") as owner:
            line = owner.wait_for("started", timeout=60)[0]
            run_id, worker_pid = (int(v) for v in line.split()[1:3])
            server_pid = _wait_mid_run(ws, run_id)
            owner.kill9()
            os.kill(worker_pid, signal.SIGKILL)
        assert wait_gone(worker_pid, WATCHDOG_S)
        assert wait_gone(server_pid, WATCHDOG_S), "deployready serve outlived its worker"
        assert processes_under(ws.root) == [], "a process of the killed run is still alive"
        row = get_run(ws, run_id)
        assert row is not None and row["status"] == "running"  # nobody has looked yet

        # restart: a fresh registry in a fresh process (this one) opens the workspace
        registry = JobRegistry()
        assert registry.current(ws) is None  # nothing running any more
        row = get_run(ws, run_id)
        assert row is not None and row["status"] == "interrupted", dict(row)
        assert row["result_json"] is None and row["passed"] is None
        _assert_not_evidence(ws, sha)

        at = _page(ws, monkeypatch)
        history = next(df.value for df in at.dataframe if "run" in df.value.columns)
        assert list(history["status"]) == ["interrupted"]
        assert list(history["passed"]) == [""]
        assert any(f"No completed load test of {VERSION}" in i.value for i in at.info)
        assert not at.button(key="lt_run").disabled

        _assert_new_run_completes(ws, registry, run_id)
    finally:
        for pid in (worker_pid, server_pid):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        kill_processes_under(ws.root)


def test_kill_worker_while_the_registry_lives(ws: Workspace) -> None:
    sha = package_sha256(ws.package_path(VERSION))
    registry = JobRegistry()
    config = LoadTestConfig.from_policy(VERSION, ws.policy().load_test, mode="open",
                                        requests=5000, rate=50.0)
    job, created = registry.start(ws, config)
    server_pid = 0
    try:
        assert created and job.proc is not None
        server_pid = _wait_mid_run(ws, job.run_id)
        job.proc.send_signal(signal.SIGKILL)
        snap = job.wait(30)
        assert snap.status == "interrupted", (snap.status, snap.error)
        assert "killed by signal 9" in (snap.error or "")
        assert wait_gone(server_pid, WATCHDOG_S), "deployready serve outlived its worker"
        assert processes_under(ws.root) == []
        _assert_not_evidence(ws, sha)
        # the same registry (the dashboard kept running) starts the next run at once
        # (the restart test above also runs one to completion)
        assert registry.current(ws) is job and job.finished
        small = LoadTestConfig.from_policy(VERSION, ws.policy().load_test, requests=200,
                                           concurrency=10)
        nxt, created = registry.start(ws, small)
        assert created and nxt.run_id == job.run_id + 1 and not nxt.finished
        assert registry.current(ws) is nxt
    finally:
        for one in (job, registry.current(ws)):
            if one is not None and one.proc is not None and one.proc.poll() is None:
                one.proc.kill()
        if server_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server_pid, signal.SIGKILL)
        kill_processes_under(ws.root)
