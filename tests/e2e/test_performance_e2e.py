"""The Performance page in a real browser, opened by its URL on a demo workspace whose
labels are still arriving: the provisional and pending days are marked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from deployready.checks import Status
from deployready.performance.api import performance_report
from deployready.workspace import Workspace
from tests.e2e.conftest import Server, demo_copy, screenshot, serving, wait_idle
from tests.labels_support import add_request_ids, write_labels

pytestmark = pytest.mark.browser

LEGEND = ".js-plotly-plot .legendtext"


@pytest.fixture
def labelled_server(demo_master: Path, tmp_path: Path) -> Iterator[Server]:
    root = demo_copy(demo_master, tmp_path)
    ws = Workspace.open(root)
    add_request_ids(ws)
    if not (ws.labels_dir.is_dir() and any(ws.labels_dir.iterdir())):  # the demo has none yet
        write_labels(ws, datetime.now(UTC))
    with serving(root, tmp_path / "streamlit.log") as srv:
        yield srv


def test_performance_page_marks_provisional_and_pending_days(labelled_server: Server,
                                                             page: Any) -> None:
    report = performance_report(Workspace.open(labelled_server.workspace), "v1.0")
    pending = [d.day.isoformat() for d in report.realized if d.status is Status.PENDING]
    provisional = [d for d in report.realized if d.provisional]
    assert pending and provisional

    page.goto(f"{labelled_server.url}/Performance")
    expect(page.locator("h1").filter(has_text="Performance").first).to_be_visible(
        timeout=60_000)
    trend = page.locator(".js-plotly-plot").filter(has_text="realized vs estimated").first
    expect(trend).to_be_visible(timeout=120_000)
    wait_idle(page, timeout=120)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    legend = trend.locator(".legendtext")
    expect(legend.filter(has_text="realized, provisional")).to_have_count(1)
    expect(legend.filter(has_text="pending: too few labels")).to_have_count(1)
    expect(legend.filter(has_text="realized, final")).to_have_count(1)
    # the pending band is hatched: a fill pattern drawn in the figure
    assert trend.locator("pattern").count() >= 1
    expect(page.get_by_text("Pending (too few labels, hatched): " + ", ".join(pending))
           ).to_be_visible()
    expect(page.get_by_text(
        f"Provisional (labels may still arrive, hollow markers): {len(provisional)} day(s)")
    ).to_be_visible()
    coverage = page.locator(".js-plotly-plot").filter(has_text="Label coverage").first
    expect(coverage.locator(".legendtext").filter(has_text="provisional").first).to_be_visible()
    screenshot(page, "Performance")
