"""Many sessions pressing Run at once: exactly one load-test job per workspace."""

from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from crash.support import REPO, VERSION, child, kill_processes_under
from deployready.loadtest import JobRegistry, LoadTestConfig, LoadTestJob
from deployready.loadtest.runs import list_runs
from deployready.workspace import Workspace

THREADS = 8
SESSIONS = 3


def _cancel_and_wait(ws: Workspace) -> None:
    """Stop the one running job (from any process) and wait until its row is final."""
    registry = JobRegistry()
    registry.cancel(ws)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(r.status == "running" for r in list_runs(ws)):
        time.sleep(0.2)


def test_threads_and_processes_starting_at_once_make_one_job(ws: Workspace) -> None:
    go = ws.root / "go"
    config = LoadTestConfig.from_policy(VERSION, ws.policy().load_test, mode="open",
                                        requests=5000, rate=50.0)
    registries = [JobRegistry(), JobRegistry()]  # two dashboards in one process, too
    results: list[tuple[LoadTestJob, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS + 1)

    def press(i: int) -> None:
        try:
            barrier.wait(30)
            results.append(registries[i % 2].start(ws, config))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(THREADS)]
    try:
        with child("start", str(ws.root), str(go)) as p1, \
                child("start", str(ws.root), str(go)) as p2:
            p1.wait_for("ready", timeout=60)
            p2.wait_for("ready", timeout=60)
            for t in threads:
                t.start()
            go.touch()
            barrier.wait(30)  # threads and processes race from here
            for t in threads:
                t.join(60)
            lines = [p1.wait_for("start", timeout=60)[0], p2.wait_for("start", timeout=60)[0]]
            assert not errors, errors
            rows = list_runs(ws)
            assert len(rows) == 1, rows
            run_id = rows[0].id
            assert {job.run_id for job, _ in results} == {run_id}
            child_created = [bool(int(line.split()[2])) for line in lines]
            assert {int(line.split()[1]) for line in lines} == {run_id}
            assert sum(created for _, created in results) + sum(child_created) == 1
            assert rows[0].status == "running"
            _cancel_and_wait(ws)
            assert [r.status for r in list_runs(ws)] == ["cancelled"]
    finally:
        kill_processes_under(ws.root)


def _run_page(at: AppTest, errors: list[BaseException]) -> None:
    try:
        at.button(key="lt_run").click().run()
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_three_sessions_pressing_run_make_one_job(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(ws.root))
    monkeypatch.chdir(REPO)
    sessions = []
    for _ in range(SESSIONS):
        at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.button(key="lt_run").disabled
        at.radio(key="lt_mode").set_value("open")  # long enough to still run when we look
        at.number_input(key="lt_rate").set_value(50.0)
        at.number_input(key="lt_requests").set_value(5000)
        sessions.append(at)
    try:
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_run_page, args=(at, errors)) for at in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert not errors, errors
        for at in sessions:
            assert not at.exception, [e.value for e in at.exception]
        rows = list_runs(ws)
        assert len(rows) == 1, rows
        run_id = rows[0].id
        heading = f"Run #{run_id} — {VERSION}, running"
        for at in sessions:
            at.run()  # one more tick each: every session polls the same job
            assert not at.exception, [e.value for e in at.exception]
            assert at.session_state["loadtest_running_run"] == run_id
            assert any(s.value == heading for s in at.subheader), [s.value for s in at.subheader]
            assert at.button(key="lt_run").disabled
        assert len(list_runs(ws)) == 1
        sessions[0].button(key="lt_cancel").click().run()
        _cancel_and_wait(ws)
        assert [r.status for r in list_runs(ws)] == ["cancelled"]
    finally:
        kill_processes_under(ws.root)
