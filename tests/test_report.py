"""The report: JSON score contract plus evidence sections, Markdown, self-contained HTML."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rollout_support import add_daily, fake_scores, make_workspace

from deployready.cli import main
from deployready.report.build import build_report
from deployready.report.render import render
from deployready.rollout import events as rollout
from deployready.rollout.events import promote
from deployready.rollout.reviews import sign_off
from deployready.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    promote(workspace, "v1.0", actor="bob", reason="early")  # refused: NOT READY
    promote(workspace, "v1.1", actor="alice", reason="canary")
    today = datetime.now(UTC).date()
    add_daily(workspace, "v1.1", today - timedelta(days=1))
    add_daily(workspace, "v1.1", today, status="alert", failing=("feature_psi",))
    sign_off(workspace, "weekly", "2026-W47", name="Ana", note="ok")
    return workspace


def test_json_is_the_score_contract_plus_evidence(ws: Workspace) -> None:
    data = json.loads(render(build_report(ws, "v1.1"), "json"))
    for key in ("status", "score", "version", "package_sha256", "categories", "blockers"):
        assert key in data
    assert data["status"] == "READY" and data["version"] == "v1.1"
    check = data["categories"][0]["checks"][0]
    assert {"name", "status", "value", "threshold", "evidence"} <= set(check)
    assert data["rollout"]["stage"] == 5
    assert [e["allowed"] for e in data["rollout"]["events"]] == [False, True]
    assert data["rollout"]["gate"]["next_stage"] == 25
    daily = data["monitoring"]["daily_checks"]
    assert len(daily) == 2 and daily[0]["items"][3]["status"] == "fail"
    assert data["reviews"]["signoffs"][0]["period"] == "2026-W47"
    assert "runs" in data["load_test"]


def test_markdown_has_every_section(ws: Workspace) -> None:
    text = render(build_report(ws, "v1.1"), "md")
    assert text.startswith("# Readiness report: v1.1 — READY")
    for heading in ("## Blockers", "## Checks by category", "## Load test",
                    "## Monitoring: daily checks", "## Rollout", "### Event log", "## Reviews"):
        assert heading in text
    assert "REFUSED" in text and "roc_auc >= 0.80" in text and "Ana" in text


def test_not_ready_report_lists_blockers(ws: Workspace) -> None:
    data = build_report(ws, "v1.0")
    assert data["status"] == "NOT READY"
    md = render(data, "md")
    blockers = md.split("## Blockers", 1)[1].split("## Checks", 1)[0]
    assert "roc_auc >= 0.80" in blockers and "❌ fail" in blockers


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.scripts_with_src: list[str] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action") and value:
                self.refs.append((tag, name, value))
        if tag == "script" and dict(attrs).get("src"):
            self.scripts_with_src.append(str(dict(attrs)["src"]))
        if tag == "link":
            self.links.append(dict(attrs))


def test_html_is_self_contained(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--workspace", str(ws.root), "--version", "v1.1",
                 "--format", "html", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    remote = [r for r in parser.refs if r[2].lower().startswith(("http://", "https://", "//"))]
    assert remote == []
    assert parser.scripts_with_src == [] and parser.links == []
    # plotly.js carries URLs as strings for map and geo traces; none is used: the
    # report's own markup and styles reference nothing outside the file
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@import" not in style and "url(" not in style
    assert text.count("window.PlotlyConfig") == 1  # plotly.js inlined once, reused after
    assert text.count('class="plotly-graph-div"') >= 4
    assert "REFUSED" in text and "v1.1" in text


def test_report_cli_formats(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--workspace", str(ws.root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v1.1"
    assert main(["report", "--workspace", str(ws.root), "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("# Readiness report")
    assert main(["report", "--workspace", str(ws.root), "--version", "v3.0"]) == 2
    assert "v3.0" in capsys.readouterr().err


#: ``python -c``: the CLI in a process where plotly and streamlit cannot be imported.
WITHOUT_SCREEN = """
import importlib.abc
import sys


class NoScreen(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("plotly", "streamlit"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, NoScreen())
from deployready.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _report_without_screen(ws: Workspace, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SCREEN, "report", "--workspace", str(ws.root),
         "--version", "v1.1", "--format", fmt],
        capture_output=True, text=True, timeout=300, check=False,
        cwd=Path(__file__).resolve().parent.parent,  # this checkout's deployready first
    )


def test_json_report_needs_neither_plotly_nor_streamlit(ws: Workspace) -> None:
    done = _report_without_screen(ws, "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # the real score: this process has no fake readiness
    assert data["version"] == "v1.1" and data["status"] == "NOT READY"
    assert len(data["monitoring"]["daily_checks"]) == 2
    assert [e["allowed"] for e in data["rollout"]["events"]] == [False, True]
    # the same process refuses plotly where the HTML needs it
    html = _report_without_screen(ws, "html")
    assert html.returncode != 0 and "'plotly' (blocked)" in html.stderr
