"""Load Test page in a real browser: Run, live charts update while the job runs, results."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, screenshot, wait_connected

pytestmark = pytest.mark.browser

LIVE_POINTS_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(el => (el.data || []).reduce((n, trace) => n + ((trace.x || []).length), 0))
"""


def _fill(page: Any, label: str, value: str) -> None:
    field = page.get_by_label(label).first
    field.fill(value)
    field.press("Tab")


def test_run_load_test_with_live_charts(private_server: Server, page: Any) -> None:
    page.goto(f"{private_server.url}/Load_Test")
    wait_connected(page)
    expect(page.get_by_role("button", name="Run load test").first).to_be_visible(timeout=60_000)
    # open loop, 400 req/s for ~15 s: long enough to watch the charts move on a busy machine
    page.get_by_text("Open loop (arrival rate)").first.click()
    _fill(page, "Requests", "6000")
    _fill(page, "Rate (req/s, open loop)", "400")
    page.get_by_role("button", name="Run load test").first.click()

    expect(page.get_by_text("running").first).to_be_visible(timeout=60_000)
    seen: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            points = page.evaluate(LIVE_POINTS_JS)
        except Exception:  # the page re-renders between polls
            points = []
        # stale copies of a chart can coexist during a rerun: count only new maxima
        if points and max(points) > (seen[-1] if seen else 0):
            seen.append(max(points))
        done = page.get_by_text("PASS —").count() or page.get_by_text("FAIL —").count()
        if len(seen) >= 3 or done:
            break
        time.sleep(0.4)
    screenshot(page, "Load_Test-running")
    assert len(seen) >= 2, f"the live charts changed {len(seen)} time(s): {seen}"

    verdict = page.get_by_text("PASS —").or_(page.get_by_text("FAIL —")).first
    expect(verdict).to_be_visible(timeout=120_000)
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible()
    screenshot(page, "Load_Test-result")
    # the run is stored as evidence for this exact package
    from deployready.store import Store

    rows = Store(private_server.workspace / "data" / "deployready.db").query(
        "SELECT status, mode FROM loadtest_runs ORDER BY id DESC LIMIT 1"
    )
    assert rows[0]["status"] == "completed" and rows[0]["mode"] == "open"
