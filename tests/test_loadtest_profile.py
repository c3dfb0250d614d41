"""The checklist's load profile end to end: a real ``deployready loadtest`` and ``score``.

On a copy of the demo workspace (v1.0 load-tested by the demo with the checklist's closed
loop of 100 clients; v1.1 certified and packaged, not load-tested), with the latency
limits relaxed so that a busy machine cannot fail v1.1 for another reason, an open loop
at 200 req/s × 1000 requests — about one request in flight — is run on v1.1. Before the
load profile measured the requests in flight, that run made v1.1 READY 100/100.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from deployready.loadtest.checks import share_text
from deployready.loadtest.runs import child_env
from deployready.policy import parse_policy, policy_to_toml
from deployready.store import dumps
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 240.0


def cli(*args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployready", *args], capture_output=True,
                          text=True, timeout=timeout, env=child_env(), cwd=REPO)


@pytest.fixture(scope="module")
def open_loop_ws(demo_master: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Path, dict[str, Any]]]:
    import shutil

    root = tmp_path_factory.mktemp("profile") / "ws"
    shutil.copytree(demo_master, root)
    raw = tomllib.loads((root / "deployready.toml").read_text())
    raw["load_test"].update(p50_ms=5000.0, p95_ms=5000.0, p99_ms=5000.0, timeout_ms=5000.0)
    raw["latency"].update(p99_ms=5000.0, p95_ms=5000.0, spike_ms=5000.0, max_drift=1000.0)
    (root / "deployready.toml").write_text(policy_to_toml(parse_policy(raw)))
    proc = cli("loadtest", "-w", str(root), "--version", "v1.1", "--mode", "open",
               "--rate", "200", "--requests", "1000", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    yield root, json.loads(proc.stdout)


def _score(root: Path, version: str) -> dict[str, Any]:
    proc = cli("score", "-w", str(root), "--version", version, "--json", timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return dict(json.loads(proc.stdout))


def _check(score: dict[str, Any], name: str) -> dict[str, Any]:
    cat = next(c for c in score["categories"] if c["name"] == "load_test")
    return dict(next(c for c in cat["checks"] if c["name"] == name))


def test_an_open_loop_below_the_policy_concurrency_cannot_make_a_version_ready(
        open_loop_ws: tuple[Path, dict[str, Any]]) -> None:
    root, run = open_loop_ws
    score = _score(root, "v1.1")
    assert score["status"] == "NOT READY", score["blockers"]
    # the load profile is the only thing between v1.1 and READY
    assert [(b["category"], b["name"]) for b in score["blockers"]] == [
        ("load_test", "load profile")], score["blockers"]
    check = _check(score, "load profile")
    assert check["status"] == "fail"
    assert "open loop at 200 req/s" in check["message"]
    assert "100 requests in flight for" in check["message"]
    assert check["evidence"]["source"].endswith(f"loadtest_runs/{run['run_id']}")
    # the run itself: 1000 requests sent, far from 100 in flight
    assert run["passed"] is False
    assert run["profile"]["requests"] == 1000 and run["profile"]["mode"] == "open"
    assert run["profile"]["held_fraction"] < 0.5
    assert run["result"]["concurrency"]["mean"] < 100
    assert 150 <= run["profile"]["rate_rps"] <= 210  # ~200 req/s over ~5 s


def test_the_demo_closed_loop_of_100_clients_holds_the_profile(
        open_loop_ws: tuple[Path, dict[str, Any]]) -> None:
    root, _ = open_loop_ws
    check = _check(_score(root, "v1.0"), "load profile")
    assert check["status"] == "pass", check["message"]
    assert "closed loop · 1000 req in" in check["message"]
    assert "in flight max 100" in check["message"]
    assert check["value"] >= 0.5


def test_report_shows_the_profile_beside_the_percentiles(
        open_loop_ws: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    import shutil

    from deployready.report.build import build_report
    from deployready.report.render import render

    root, run = tmp_path / "ws", open_loop_ws[1]
    shutil.copytree(open_loop_ws[0], root)
    ws = Workspace(root)
    old = dict(run["result"])
    del old["concurrency"]  # a run stored before the measurement existed
    with ws.store.transaction() as conn:
        conn.execute(
            "INSERT INTO loadtest_runs (version, package_sha256, mode, target, status, "
            "started_at, finished_at, config_json, result_json, passed) VALUES "
            "('v1.1', 'old', 'open', 'serve', 'completed', '2026-01-01T00:00:00+00:00', "
            "'2026-01-01T00:01:00+00:00', '{}', ?, 1)", (dumps(old),))
    data = build_report(ws, "v1.1")
    runs = data["load_test"]["runs"]
    assert runs[0]["profile"]["measured"] is False
    assert runs[1]["profile"]["held_fraction"] == run["profile"]["held_fraction"]
    md = render(data, "md")
    section = md.split("\n## Load test\n", 1)[1].split("\n## Monitoring", 1)[0]
    assert "| profile | latency |" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no header
    assert "concurrency not measured" in rows[0]
    assert "open loop at 200 req/s · 1000 req in" in rows[1]
    assert "in flight max" in rows[1] and "P99 " in rows[1] and "(n=1000)" in rows[1]
    html = render(data, "html")
    assert "concurrency not measured" in html and "in flight max" in html


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_shows_the_profile_and_in_flight(open_loop_ws: tuple[Path, dict[str, Any]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root, run = open_loop_ws
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert "**Load profile:** open loop at 200 req/s · 1000 req in" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mode"] == "open loop"
    assert metrics["Held ≥ 100 in flight"] == share_text(run["profile"]["held_fraction"])
    assert metrics["Rate achieved"].endswith("req/s")
    history = next(df.value for df in at.dataframe if "run" in df.value.columns)
    cols = list(history.columns)
    assert cols.index("held ≥100") < cols.index("P50 ms")
    assert {"in flight max", "in flight mean", "req/s", "duration s"} <= set(cols)
    by_run = history.set_index("run")
    assert by_run.loc[run["run_id"], "in flight max"] == run["profile"]["in_flight_max"]
    assert by_run.loc[run["run_id"], "mode"] == "open"
