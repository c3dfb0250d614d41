"""Every page opened by its URL on a freshly started server renders without errors, and
every chart on it is drawn by the dashboard's own plotly.js build."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import RequestLog, Server, screenshot, wait_connected, wait_idle

pytestmark = pytest.mark.browser

PAGES = [
    ("", "Readiness overview"),
    ("Certification", "Certification"),
    ("Artifacts", "Artifacts"),
    ("Load_Test", "Load test"),
    ("Latency", "Latency"),
    ("Drift", "Drift"),
    ("Rollout", "Rollout"),
    ("Monitoring", "Monitoring"),
    ("Performance", "Performance"),
]


@pytest.mark.parametrize(("path", "heading"), PAGES, ids=[p or "Overview" for p, _ in PAGES])
def test_page_opens_by_url(server: Server, page: Any, requests_seen: RequestLog, path: str,
                           heading: str) -> None:
    page.goto(f"{server.url}/{path}")
    wait_connected(page)
    expect(page.locator("h1").filter(has_text=heading).first).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    # every chart element on the page (its frame is there before its script draws into it)
    charts = page.locator('[data-testid="stMain"] .stBidiComponent')
    for i in range(charts.count()):
        expect(charts.nth(i).locator(".deployready-chart .main-svg").first).to_be_attached(
            timeout=30_000)
    expect(page.locator(".deployready-chart-error")).to_have_count(0)
    # Streamlit's own plotly element (and with it the full plotly.js) is never used
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(0)
    assert not [u for u in requests_seen.urls if "/static/js/PlotlyChart." in u]
    screenshot(page, path or "Overview")


def test_overview_shows_verdict_and_checklist(server: Server, page: Any) -> None:
    page.goto(server.url)
    wait_connected(page)
    expect(page.get_by_text("NOT READY").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Blockers").first).to_be_visible()
    expect(page.get_by_text("Checklist").first).to_be_visible()
