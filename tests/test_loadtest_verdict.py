"""A stored load test is shown with the verdict it was given; a policy changed since adds
one explicit re-evaluation record — on the page and in the CLI, never a second verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadtest_models import make_workspace
from streamlit.testing.v1 import AppTest
from test_loadtest_result import _samples, store_old_row, worker_result

from deployready.checks import Evidence, Status
from deployready.loadtest.checks import REEVALUATION, judged, run_verdict
from deployready.loadtest.runs import child_env, claim, finish, load_run
from deployready.package.manifest import package_sha256
from deployready.policy import LoadTestPolicy
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
LENIENT = "[load_test]\nconcurrency = 2\nrequests = 50\np99_ms = 5000.0\n"
STRICT = "[load_test]\nconcurrency = 2\nrequests = 50\np99_ms = 5.0\n"


@pytest.fixture(scope="module")
def stored_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """v1.0 with one run judged (and stored) under the lenient policy: P99 ~9 ms passes."""
    root, version = make_workspace(tmp_path_factory.mktemp("verdict") / "ws", policy=LENIENT)
    ws = Workspace(root)
    sha = package_sha256(ws.package_path(version))
    run_id, _ = claim(ws, version=version, package_sha256=sha, mode="closed", target="serve",
                      config={})
    result = worker_result(_samples(50))
    result = judged(result, ws.policy().load_test,
                    Evidence(f"data/deployready.db#loadtest_runs/{run_id}", package_sha256=sha))
    assert result.latency_ms.p99 is not None and 5.0 < result.latency_ms.p99 < 5000.0
    finish(ws, run_id, status="completed", result=result, passed=True)
    return root, run_id


@pytest.fixture
def strict_ws(stored_ws: tuple[Path, int]) -> Iterator[tuple[Path, int]]:
    """The same run after the policy's P99 target went down to 5 ms."""
    root, run_id = stored_ws
    (root / "deployready.toml").write_text(STRICT)
    yield root, run_id
    (root / "deployready.toml").write_text(LENIENT)


def test_the_stored_verdict_stays_and_a_policy_change_adds_one_record(
        strict_ws: tuple[Path, int]) -> None:
    root, run_id = strict_ws
    ws = Workspace(root)
    run = load_run(ws, run_id)
    assert run is not None
    verdict = run_verdict(run, ws.policy().load_test)
    assert verdict is not None and verdict.passed is True and verdict.stored
    assert all(c.passed for c in verdict.checks)  # as stored, under the lenient policy
    assert next(c for c in verdict.checks if c.name == "P99 latency").threshold == "< 5000 ms"
    again = verdict.reevaluation
    assert again is not None and again.name == REEVALUATION and again.status is Status.FAIL
    assert "p99_ms 5000 → 5" in again.message
    assert "fail (P99 latency" in again.message and "target < 5 ms" in again.message


def test_the_same_policy_adds_nothing(stored_ws: tuple[Path, int]) -> None:
    root, run_id = stored_ws
    ws = Workspace(root)
    run = load_run(ws, run_id)
    assert run is not None
    verdict = run_verdict(run, ws.policy().load_test)
    assert verdict is not None and verdict.passed is True and verdict.reevaluation is None


def test_a_run_stored_without_its_policy_is_re_evaluated_and_says_so(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    run = load_run(ws, store_old_row(ws))
    assert run is not None
    verdict = run_verdict(run, LoadTestPolicy())
    assert verdict is not None and verdict.passed is True and not verdict.stored
    assert verdict.reevaluation is not None
    assert "stored without the policy it was judged under" in verdict.reevaluation.message
    assert verdict.reevaluation.status is Status.FAIL  # no consistency, profile pending


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_the_page_shows_the_stored_verdict_and_the_record(
        strict_ws: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    root, run_id = strict_ws
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["PASS — every load-test check passes."]
    assert not at.error
    record = [w.value for w in at.warning if "Re-evaluated under the current policy" in w.value]
    assert len(record) == 1 and "fail (P99 latency" in record[0]
    checks = next(df.value for df in at.dataframe if "check" in df.value.columns)
    assert set(checks["status"]) == {"pass"}  # the stored checks, not today's
    history = next(df.value for df in at.dataframe if "run" in df.value.columns)
    row = history.set_index("run").loc[run_id]
    assert row["passed"] == "✅" and row["current policy"] == "❌"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployready", "loadtest", *args],
                          capture_output=True, text=True, timeout=120, env=child_env(), cwd=REPO)


def test_the_cli_shows_the_stored_verdict_and_the_record(strict_ws: tuple[Path, int]) -> None:
    root, run_id = strict_ws
    proc = _cli("-w", str(root), "--show", str(run_id))
    assert proc.returncode == 0, proc.stderr  # the stored verdict: pass
    lines = proc.stdout.splitlines()
    assert "PASS" in lines and "FAIL" not in lines
    assert any(line.split()[:3] == ["PASS", "P99", "latency"] for line in lines)
    assert lines[-1].startswith("Re-evaluated under the current policy") and "fail (" in lines[-1]
    data = json.loads(_cli("-w", str(root), "--show", str(run_id), "--json").stdout)
    assert data["passed"] is True and data["checks_stored"] is True
    assert {c["status"] for c in data["checks"]} == {"pass"}
    assert data["reevaluation"]["status"] == "fail"
    history = _cli("-w", str(root), "--history")
    assert history.returncode == 0, history.stderr
    line = next(x for x in history.stdout.splitlines() if x.startswith(f"#{run_id} "))
    assert " PASS " in line and "Re-evaluated under the current policy" in line
    listed = json.loads(_cli("-w", str(root), "--history", "--json").stdout)
    assert listed[0]["passed"] is True and listed[0]["reevaluation"]["status"] == "fail"
    missing = _cli("-w", str(root), "--show", "999")
    assert missing.returncode == 2 and "999" in missing.stderr and "--show" in missing.stderr


def test_the_report_shows_the_stored_verdict_and_the_record(
        strict_ws: tuple[Path, int]) -> None:
    """The readiness report (JSON, Markdown, HTML) carries the same record beside the
    stored verdict; under the policy the run was judged under it says "as stored"."""
    from deployready.report.build import build_report
    from deployready.report.render import render

    root, run_id = strict_ws
    ws = Workspace(root)
    report = build_report(ws)
    run = next(r for r in report["load_test"]["runs"] if r["id"] == run_id)
    assert run["passed"] is True and run["reevaluation"]["status"] == "fail"
    assert "p99_ms 5000 → 5" in run["reevaluation"]["message"]
    for fmt in ("md", "html"):
        text = render(report, fmt)
        assert "under the current policy" in text
        assert "Re-evaluated under the current policy" in text
    (root / "deployready.toml").write_text(LENIENT)
    again = next(r for r in build_report(ws)["load_test"]["runs"] if r["id"] == run_id)
    assert again["reevaluation"] is None
    assert "as stored" in render(build_report(ws), "md")
