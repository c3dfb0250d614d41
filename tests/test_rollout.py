"""Rollout gates: refusals (not READY, bake time, red day, wrong hash), rollback,
supersession, the event log, concurrent promotions, and the ``gate`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rollout_support import (
    add_daily,
    backdate,
    fake_scores,
    insert_event,
    make_workspace,
    package_hash,
    write_package,
)

from deployready.errors import InputError
from deployready.rollout import events as rollout
from deployready.rollout.events import (
    evaluate_gate,
    load_events,
    promote,
    rollback,
    rollout_state,
)
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():  # pragma: no cover - CI may run from another interpreter
    PYTHON = sys.executable


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    return workspace


def today() -> date:
    return datetime.now(UTC).date()


def at_stage_5(ws: Workspace, days_ago: int = 3) -> None:
    """Promote v1.1 to 5 % and pretend it happened ``days_ago`` days ago."""
    assert promote(ws, "v1.1", actor="alice", reason="first canary").allowed
    backdate(ws, days_ago)


def green_days(ws: Workspace, version: str, n: int, **kw: Any) -> None:
    for i in range(n, 0, -1):
        add_daily(ws, version, today() - timedelta(days=i - 1), **kw)


# --------------------------------------------------------------------------- first stage


def test_promote_refused_when_not_ready_and_logged(ws: Workspace) -> None:
    result = promote(ws, "v1.0", actor="bob", reason="try it")
    assert not result.allowed
    ev = result.event
    assert (ev.action, ev.from_pct, ev.to_pct, ev.allowed) == ("promote", 0, 5, False)
    assert ev.actor == "bob" and ev.reason == "try it"
    readiness = next(c for c in ev.evidence["checks"] if c["name"] == "readiness")
    assert readiness["status"] == "fail"
    assert readiness["evidence"]["blockers"][0]["name"] == "roc_auc >= 0.80"
    assert "NOT READY" in " ".join(ev.evidence["reasons"])
    assert rollout_state(ws).stage_of("v1.0") == 0
    assert [e.allowed for e in load_events(ws)] == [False]


def test_promote_allowed_when_ready_binds_the_package_hash(ws: Workspace) -> None:
    result = promote(ws, "v1.1", actor="alice", reason="go")
    assert result.allowed
    assert (result.event.from_pct, result.event.to_pct) == (0, 5)
    state = rollout_state(ws)
    assert state.canary == "v1.1" and state.stage_of("v1.1") == 5
    assert state.versions["v1.1"].package_sha256 == package_hash(ws, "v1.1")


def test_actor_is_required(ws: Workspace) -> None:
    with pytest.raises(InputError, match="actor"):
        promote(ws, "v1.1", actor="  ", reason="x")
    assert load_events(ws) == []


def test_unknown_version_is_an_input_error_not_an_event(ws: Workspace) -> None:
    with pytest.raises(InputError, match=r"v9\.9"):
        promote(ws, "v9.9", actor="a")
    assert load_events(ws) == []


# --------------------------------------------------------------------------- bake time


def test_no_daily_checks_refuses_next_stage(ws: Workspace) -> None:
    at_stage_5(ws)
    result = promote(ws, "v1.1", actor="alice", reason="")
    assert not result.allowed and result.event.to_pct == 25
    assert "no daily checks" in result.event.reason
    assert rollout_state(ws).stage_of("v1.1") == 5


def test_bake_time_not_met(ws: Workspace) -> None:
    at_stage_5(ws)
    green_days(ws, "v1.1", 1)  # bake_days = 2
    result = promote(ws, "v1.1", actor="alice")
    assert not result.allowed
    bake = next(c for c in result.event.evidence["checks"] if c["name"] == "bake time")
    assert bake["value"] == 1 and "1 of 2" in bake["message"]


def test_entry_day_does_not_count(ws: Workspace) -> None:
    at_stage_5(ws, days_ago=1)
    add_daily(ws, "v1.1", today() - timedelta(days=1))  # the day the stage was entered
    add_daily(ws, "v1.1", today())
    decision = evaluate_gate(ws, "v1.1")
    assert not decision.allowed
    assert decision.checks[-1].value == 1


def test_red_daily_check_refuses(ws: Workspace) -> None:
    at_stage_5(ws)
    green_days(ws, "v1.1", 2)
    add_daily(ws, "v1.1", today(), status="alert")
    result = promote(ws, "v1.1", actor="alice")
    assert not result.allowed
    assert f"daily check {today().isoformat()} is alert" in result.event.reason


def test_red_day_restarts_the_count(ws: Workspace) -> None:
    at_stage_5(ws, days_ago=4)
    add_daily(ws, "v1.1", today() - timedelta(days=3))
    add_daily(ws, "v1.1", today() - timedelta(days=2), status="alert")
    add_daily(ws, "v1.1", today() - timedelta(days=1))
    add_daily(ws, "v1.1", today())
    assert evaluate_gate(ws, "v1.1").allowed


def test_gap_in_daily_checks_refuses(ws: Workspace) -> None:
    at_stage_5(ws, days_ago=4)
    add_daily(ws, "v1.1", today() - timedelta(days=2))
    add_daily(ws, "v1.1", today())
    decision = evaluate_gate(ws, "v1.1")
    assert not decision.allowed
    missing = (today() - timedelta(days=1)).isoformat()
    assert any(f"no daily check for {missing}" in r for r in decision.reasons)


def test_daily_checks_on_another_package_hash_do_not_count(ws: Workspace) -> None:
    at_stage_5(ws)
    green_days(ws, "v1.1", 2, sha="f" * 64)
    result = promote(ws, "v1.1", actor="alice")
    assert not result.allowed
    assert "measured on package ffffffffffff" in result.event.reason


def test_package_changed_since_the_rollout_started(ws: Workspace) -> None:
    at_stage_5(ws)
    green_days(ws, "v1.1", 2)
    write_package(ws, "v1.1", salt="tampered")
    result = promote(ws, "v1.1", actor="alice")
    assert not result.allowed
    check = next(c for c in result.event.evidence["checks"] if c["name"] == "package hash")
    assert check["status"] == "fail" and "not the rollout's" in check["message"]


def test_green_bake_promotes_through_every_stage(ws: Workspace) -> None:
    at_stage_5(ws)
    green_days(ws, "v1.1", 2)
    assert promote(ws, "v1.1", actor="alice", reason="bake ok").event.to_pct == 25
    assert not promote(ws, "v1.1", actor="alice").allowed  # a new stage, a new bake
    backdate(ws, 3)
    green_days(ws, "v1.1", 2)
    result = promote(ws, "v1.1", actor="alice")
    assert result.allowed and result.event.to_pct == 100
    state = rollout_state(ws)
    assert state.stable == "v1.1" and state.canary is None
    refused = promote(ws, "v1.1", actor="alice")
    assert not refused.allowed and "already at 100 %" in refused.event.reason


# --------------------------------------------------------------------------- one at a time


def test_only_one_version_in_rollout(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(ws, {"v1.0": True, "v1.1": True}))
    assert promote(ws, "v1.0", actor="a").allowed
    result = promote(ws, "v1.1", actor="a")
    assert not result.allowed
    assert "v1.0 is in rollout at 5 %" in result.event.reason


def test_next_version_supersedes_the_stable_one_at_100(ws: Workspace) -> None:
    day0 = (datetime.now(UTC) - timedelta(days=20)).isoformat(timespec="seconds")
    insert_event(ws, "v1.0", "promote", 0, 100, created_at=day0)
    assert rollout_state(ws).stable == "v1.0"
    at_stage_5(ws)
    state = rollout_state(ws)
    assert (state.stable, state.canary) == ("v1.0", "v1.1")  # v1.0 serves the other 95 %
    insert_event(ws, "v1.1", "promote", 5, 25,
                 created_at=(datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds"))
    green_days(ws, "v1.1", 2)
    result = promote(ws, "v1.1", actor="carol", reason="full")
    assert result.allowed and result.event.to_pct == 100
    [side] = result.side_events
    assert (side.action, side.version, side.from_pct, side.to_pct) == ("supersede", "v1.0", 100, 0)
    assert side.evidence["superseded_by"] == "v1.1"
    state = rollout_state(ws)
    assert state.stable == "v1.1" and state.stage_of("v1.0") == 0

    # rolling the new stable version back restores the one it superseded
    back = rollback(ws, "v1.1", actor="carol", reason="incident 42")
    assert back.allowed and back.event.to_pct == 0
    [restore] = back.side_events
    assert (restore.action, restore.version, restore.to_pct) == ("restore", "v1.0", 100)
    assert rollout_state(ws).stable == "v1.0"


# --------------------------------------------------------------------------- rollback


@pytest.mark.parametrize(
    "stage_events", [[(0, 5)], [(0, 5), (5, 25)], [(0, 5), (5, 25), (25, 100)]]
)
def test_rollback_always_allowed(ws: Workspace, stage_events: list[tuple[int, int]]) -> None:
    for a, b in stage_events:
        insert_event(ws, "v1.1", "promote", a, b, created_at="2026-11-01T10:00:00+00:00")
    result = rollback(ws, "v1.1", actor="dave", reason="latency regression")
    assert result.allowed
    assert (result.event.from_pct, result.event.to_pct) == (stage_events[-1][1], 0)
    assert rollout_state(ws).stage_of("v1.1") == 0


def test_rollback_to_a_lower_stage(ws: Workspace) -> None:
    insert_event(ws, "v1.1", "promote", 0, 5, created_at="2026-11-01T10:00:00+00:00")
    insert_event(ws, "v1.1", "promote", 5, 25, created_at="2026-11-03T10:00:00+00:00")
    with pytest.raises(InputError, match="--to"):
        rollback(ws, "v1.1", actor="d", reason="r", to_pct=50)
    result = rollback(ws, "v1.1", actor="d", reason="r", to_pct=5)
    assert (result.event.from_pct, result.event.to_pct) == (25, 5)
    assert rollout_state(ws).stage_of("v1.1") == 5


def test_rollback_needs_a_reason_and_a_version_in_rollout(ws: Workspace) -> None:
    insert_event(ws, "v1.1", "promote", 0, 5, created_at="2026-11-01T10:00:00+00:00")
    with pytest.raises(InputError, match="reason"):
        rollback(ws, "v1.1", actor="d", reason=" ")
    with pytest.raises(InputError, match="not in rollout"):
        rollback(ws, "v1.0", actor="d", reason="r")
    assert rollback(ws, actor="d", reason="default is the canary").event.version == "v1.1"


# --------------------------------------------------------------------------- the log


def test_event_log_is_complete(ws: Workspace) -> None:
    promote(ws, "v1.0", actor="bob", reason="not ready yet")  # refused
    promote(ws, "v1.1", actor="alice", reason="canary")  # 0 → 5
    promote(ws, "v1.1", actor="alice", reason="too soon")  # refused (bake)
    rollback(ws, "v1.1", actor="carol", reason="pager")  # 5 → 0
    events = load_events(ws)
    assert [(e.version, e.action, e.from_pct, e.to_pct, e.allowed, e.actor, e.reason)
            for e in events] == [
        ("v1.0", "promote", 0, 5, False, "bob", "not ready yet"),
        ("v1.1", "promote", 0, 5, True, "alice", "canary"),
        ("v1.1", "promote", 5, 25, False, "alice", "too soon"),
        ("v1.1", "rollback", 5, 0, True, "carol", "pager"),
    ]
    assert all(e.created_at for e in events)
    assert all(e.evidence for e in events)
    refused = [e for e in events if not e.allowed]
    assert all(e.evidence["allowed"] is False and e.evidence["reasons"] for e in refused)
    assert load_events(ws, "v1.0") == events[:1]
    assert rollout_state(ws).stage_of("v1.1") == 0


# --------------------------------------------------------------------------- concurrency


def test_concurrent_promotions_one_wins(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    barrier = threading.Barrier(2, timeout=30)
    scores = fake_scores(ws, {"v1.1": True})

    def slow_scores(w: Workspace, v: str | None, p: Any) -> Any:
        barrier.wait()  # both threads have read the state before either decides
        return scores(w, v, p)

    monkeypatch.setattr(rollout, "readiness_of", slow_scores)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            # separate handles: the store's own lock is not what serializes them
            results.append(promote(Workspace.open(ws.root), "v1.1", actor=name, reason="race"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"user{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(r.allowed for r in results) == [False, True]
    loser = next(r for r in results if not r.allowed)
    assert loser.event.from_pct == 5  # it saw the winner's stage inside its transaction
    assert [e.to_pct for e in load_events(ws) if e.allowed] == [5]


# --------------------------------------------------------------------------- the gate


def test_gate_stage_argument(ws: Workspace) -> None:
    at_stage_5(ws)
    assert evaluate_gate(ws, "v1.1", 5).allowed  # already there
    skip = evaluate_gate(ws, "v1.1", 100)
    assert not skip.allowed and "cannot be skipped" in skip.reasons[0]
    with pytest.raises(InputError, match="stage"):
        evaluate_gate(ws, "v1.1", 50)
    green_days(ws, "v1.1", 2)
    ok = evaluate_gate(ws, "v1.1", 25)
    assert ok.allowed and ok.next_stage == 25 and ok.current_stage == 5
    assert load_events(ws)[-1].to_pct == 5  # the gate records nothing


def _gate(ws: Workspace, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [PYTHON, "-m", "deployready", "gate", "--workspace", str(ws.root), *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
    )
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr


def test_gate_command_json_and_exit_codes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    # refused: v1.1 is not READY (a bare package has no evidence)
    code, data, _ = _gate(ws, "--version", "v1.1")
    assert code == 1
    assert data["allowed"] is False and data["version"] == "v1.1"
    assert (data["current_stage"], data["next_stage"]) == (0, 5)
    assert data["reasons"] and isinstance(data["checks"], list)
    assert {"allowed", "version", "current_stage", "next_stage", "reasons", "score",
            "checks"} <= set(data)

    # allowed: v1.1 at 5 % with two green days on its package hash
    entered = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds")
    insert_event(ws, "v1.1", "promote", 0, 5, created_at=entered)
    green_days(ws, "v1.1", 2)
    code, data, _ = _gate(ws, "--version", "v1.1", "--stage", "25")
    assert code == 0, data
    assert data["allowed"] is True and data["next_stage"] == 25

    # error: unknown version / unknown stage
    code, _, err = _gate(ws, "--version", "v7.0")
    assert code == 2 and "v7.0" in err
    code, _, err = _gate(ws, "--stage", "50")
    assert code == 2 and "stage" in err


def test_gate_http_endpoint(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [PYTHON, "-m", "deployready", "gate", "--workspace", str(ws.root), "--serve",
         "--port", "0", "--max-requests", "5"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "gate listening on http://127.0.0.1:" in line, line
        base = line.strip().rsplit(" ", 1)[-1].removesuffix("/gate")

        def call(path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        assert call("/health")[0] == 200
        code, data = call("/gate?version=v1.1")
        assert code == 412 and data["allowed"] is False
        code, data = call("/gate/status?version=v1.1")
        assert code == 200 and data["allowed"] is False
        # Flagger's webhook payload: version and stage in metadata
        code, data = call("/gate", {"name": "model", "namespace": "ml", "phase": "Progressing",
                                    "metadata": {"version": "v1.0", "stage": "5"}})
        assert code == 412 and data["version"] == "v1.0"
        code, data = call("/gate?stage=abc")
        assert code == 400 and data["allowed"] is False
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
