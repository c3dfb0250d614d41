"""The release manager's actions in a real browser: daily check, rollout refusal, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from deployready.store import Store
from tests.e2e.conftest import Server, screenshot, wait_connected

pytestmark = pytest.mark.browser


def _daily_rows(server: Server) -> int:
    rows = Store(server.workspace / "data" / "deployready.db").query(
        "SELECT COUNT(*) FROM daily_checks"
    )
    return int(rows[0][0])


def test_run_daily_check_from_drift_page(server: Server, page: Any) -> None:
    before = _daily_rows(server)
    page.goto(f"{server.url}/Drift")
    wait_connected(page)
    button = page.get_by_role("button", name="Run daily check")
    expect(button.first).to_be_visible(timeout=60_000)
    button.first.click()
    result = page.get_by_text("Daily check 20").first
    expect(result).to_be_visible(timeout=60_000)
    text = result.inner_text()
    assert "v1.0" in text and ("OK" in text or "ALERT" in text)
    screenshot(page, "Drift-daily-check")
    # re-running a day replaces its record: the count never grows past one per day
    assert _daily_rows(server) == before


def test_promote_refused_when_not_ready(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/Rollout")
    wait_connected(page)
    expect(page.get_by_text("REFUSED").first).to_be_visible(timeout=60_000)
    page.get_by_label("Reason").first.fill("browser test")
    page.get_by_role("button", name="Promote v1.1").first.click()
    refusal = page.get_by_text("Promotion refused and logged as event").first
    expect(refusal).to_be_visible(timeout=60_000)
    assert "NOT READY" in refusal.inner_text()
    screenshot(page, "Rollout-refused")
    rows = Store(server.workspace / "data" / "deployready.db").query(
        "SELECT version, action, allowed, actor, evidence_json, identity_json "
        "FROM rollout_events WHERE reason = 'browser test'"
    )
    assert len(rows) == 1
    assert rows[0]["version"] == "v1.1" and rows[0]["allowed"] == 0
    # no sign-in configured: local mode, the server's OS user, never a typed name
    assert rows[0]["actor"].startswith("local:")
    assert json.loads(rows[0]["identity_json"])["channel"] == "local"
    assert json.loads(rows[0]["evidence_json"]), "a refusal stores its evidence"


def test_download_report(server: Server, page: Any, tmp_path: Path) -> None:
    page.goto(server.url)
    wait_connected(page)
    button = page.get_by_role("button", name="Download HTML report")
    expect(button.first).to_be_visible(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        button.first.click()
    download = info.value
    assert download.suggested_filename == "deployready-v1.1.html"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    html = path.read_text(encoding="utf-8")
    assert "v1.1" in html and "NOT READY" in html
    # self-contained: opened from disk, it renders its charts and requests nothing else
    assert "Plotly" in html
    viewer = page.context.new_page()
    requested: list[str] = []
    viewer.on("request", lambda req: requested.append(req.url))
    viewer.goto(path.as_uri())
    expect(viewer.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    screenshot(viewer, "Report-html")
    outside = [u for u in requested if not u.startswith(("file://", "data:", "blob:"))]
    assert not outside, outside
    viewer.close()
    screenshot(page, "Overview-report")
