"""The dashboard's chart element in a real browser: the plotly.js build it loads holds
exactly the trace types the Python side declares, the script that starts loading it takes
no room, and a page whose chart library cannot be loaded says so where the chart would
be."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dashboard.ui import BUNDLE_TRACES
from tests.e2e.conftest import Server, demo_copy, serving, wait_connected, wait_idle

pytestmark = pytest.mark.browser

REGISTERED_TRACES_JS = "() => Object.keys(window.Plotly.PlotSchema.get().traces).sort()"


def test_bundle_holds_exactly_the_declared_traces(server: Server, page: Any) -> None:
    page.goto(server.url)
    wait_idle(page)
    expect(page.locator(".deployready-chart .main-svg").first).to_be_attached(timeout=60_000)
    assert page.evaluate(REGISTERED_TRACES_JS) == sorted(BUNDLE_TRACES)


def test_library_loader_takes_no_room(server: Server, page: Any) -> None:
    # the sidebar script that starts loading the library (dashboard.ui.setup_page)
    page.goto(server.url)
    wait_idle(page)
    expect(page.locator(".deployready-chart .main-svg").first).to_be_attached(timeout=60_000)
    box = page.locator(".st-key-deployready_library").evaluate(
        "(k) => [getComputedStyle(k.parentElement).display, k.parentElement.offsetHeight]")
    assert box == ["none", 0]


@pytest.fixture
def server_without_static(demo_master: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(demo_copy(demo_master, tmp_path), tmp_path / "streamlit.log",
                 ("--server.enableStaticServing", "false")) as srv:
        yield srv


def test_missing_chart_library_is_a_visible_error(server_without_static: Server,
                                                  page: Any) -> None:
    page.goto(server_without_static.url)
    wait_connected(page)
    error = page.locator(".deployready-chart-error").first
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text("plotly-deployready.min.js could not be loaded")
    expect(error).to_have_attribute("role", "alert")
