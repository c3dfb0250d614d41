"""AppTest of the Rollout and Monitoring pages on a workspace whose evidence the test
controls (readiness replaced, daily checks and events stored directly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chart_support import chart_specs
from rollout_support import add_daily, fake_scores, insert_event, make_workspace, page_texts
from streamlit.testing.v1 import AppTest

from deployready.charts.rollout import daily_grid
from deployready.checks import status_glyph
from deployready.report.render import daily_table
from deployready.rollout import events as rollout
from deployready.rollout.events import load_events, rollout_state
from deployready.rollout.reviews import checklists, current_signoffs, period_of
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = make_workspace(tmp_path / "ws")
    monkeypatch.setattr(rollout, "readiness_of", fake_scores(workspace, {"v1.1": True}))
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(workspace.root))
    monkeypatch.setenv("USER", "release-manager")
    monkeypatch.chdir(REPO)
    return workspace


def _run(script: str) -> AppTest:
    # entry point app.py, then the page: page links resolve as in the real app
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


_texts = page_texts


def _button(at: AppTest, label: str) -> object:
    return next(b for b in at.button if b.label.startswith(label))


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_promote_refused_when_not_ready(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py")
    at.sidebar.selectbox[0].select("v1.0").run()
    assert "REFUSED" in _texts(at)
    at.text_input(key="promote_reason").input("let's try")
    _button(at, "Promote v1.0").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Promotion refused and logged" in errors and "NOT READY" in errors
    [event] = load_events(ws)
    assert not event.allowed and event.reason == "let's try"
    assert event.actor == "local:release-manager" and event.channel == "local"  # local mode
    log = at.dataframe[-1].value
    frame = log.data if hasattr(log, "data") else log  # a Styler highlights refusals
    assert list(frame["decision"]) == ["REFUSED"]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_promote_allowed_then_rollback(ws: Workspace) -> None:
    at = _run("pages/6_Rollout.py")
    assert at.sidebar.selectbox[0].value == "v1.1"
    assert "ALLOWED" in _texts(at)
    at.text_input(key="promote_reason").input("canary")
    _button(at, "Promote v1.1 to 5").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    assert any("Promoted v1.1 from 0 % to 5 %" in s.value for s in at.success)
    assert rollout_state(ws).stage_of("v1.1") == 5
    # the next gate now waits for the bake time
    assert "no daily checks" in _texts(at)

    _button(at, "Roll back v1.1").click().run()  # type: ignore[attr-defined]
    assert any("reason is required" in e.value for e in at.error)  # nothing recorded
    assert rollout_state(ws).stage_of("v1.1") == 5
    at.text_input(key="rollback_reason").input("P99 regression")
    _button(at, "Roll back v1.1").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    assert any("Rolled back v1.1 from 5 % to 0 %" in s.value for s in at.success)
    assert rollout_state(ws).stage_of("v1.1") == 0
    assert [e.action for e in load_events(ws)] == ["promote", "rollback"]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_promote_to_25_when_the_bake_is_green(ws: Workspace) -> None:
    entered = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds")
    insert_event(ws, "v1.1", "promote", 0, 5, created_at=entered)
    today = datetime.now(UTC).date()
    for back in (1, 0):
        add_daily(ws, "v1.1", today - timedelta(days=back))
    at = _run("pages/6_Rollout.py")
    assert "ALLOWED" in _texts(at)
    _button(at, "Promote v1.1 to 25").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    assert rollout_state(ws).stage_of("v1.1") == 25
    specs = chart_specs(at)
    assert len(specs) >= 2  # step indicator and timeline


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_monitoring_checklists_signoff_and_overdue(ws: Workspace) -> None:
    today = datetime.now(UTC).date()
    insert_event(ws, "v1.1", "promote", 0, 5,
                 created_at=(datetime.now(UTC) - timedelta(days=21)).isoformat(timespec="seconds"))
    add_daily(ws, "v1.1", today - timedelta(days=1))
    add_daily(ws, "v1.1", today, status="alert", failing=("feature_psi",))
    at = _run("pages/7_Monitoring.py")
    assert any("ended without a sign-off" in w.value for w in at.warning)
    overdue = at.dataframe[0].value
    assert len(overdue) >= 2
    daily = at.dataframe[1].value
    assert list(daily["date"]) == [today.isoformat(), (today - timedelta(days=1)).isoformat()]
    assert daily.iloc[0]["Feature drift PSI below alert"].startswith("❌")
    assert daily.iloc[1]["Feature drift PSI below alert"].startswith("✅")
    # the page lays out the report's own daily table and grid of the same records
    records = [d.as_dict() for d in checklists(ws, None, days=14).daily]
    header, rows = daily_table(records, status=status_glyph)
    assert list(daily.columns) == header and daily.values.tolist() == rows
    grid = chart_specs(at)[0]["data"][0]
    assert grid["z"] == daily_grid(records, by_version=True).to_plotly_json()["data"][0]["z"]
    assert "daily_table(" in (REPO / "pages" / "7_Monitoring.py").read_text(encoding="utf-8")

    week = period_of("weekly", today)
    at.text_area(key="weekly_note").input("latency and drift reviewed")
    _button(at, f"Sign off {week}").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    assert any(f"Signed off the weekly review {week} as local:release-manager" in s.value
               for s in at.success)
    assert current_signoffs(ws, "weekly")[week].note == "latency and drift reviewed"

    # signing the same period again without amending is refused, visibly
    _button(at, f"Sign off {week}").click().run()  # type: ignore[attr-defined]
    assert any(week in e.value and "already signed off" in e.value for e in at.error)
    history = at.dataframe[-1].value
    assert list(history["name"]) == ["local:release-manager"]
    assert list(history["channel"]) == ["local"]
