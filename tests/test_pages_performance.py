"""The Performance page (AppTest) and the workspace call it lays out, on the demo
workspace with label files derived from its logs (labels arriving 3–10 days late, a
tenth never; only those known by now)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from deployready.checks import Status
from deployready.errors import LabelError
from deployready.performance.api import performance_report
from deployready.performance.join import joined_predictions
from deployready.performance.workspace_report import workspace_performance
from deployready.times import day_bounds
from deployready.workspace import Workspace
from tests.labels_support import add_request_ids, write_labels

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def labelled_master(demo_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with request ids on its logs and labels known by now."""
    root = tmp_path_factory.mktemp("performance") / "ws"
    shutil.copytree(demo_master, root)
    ws = Workspace.open(root)
    add_request_ids(ws)
    if not (ws.labels_dir.is_dir() and any(ws.labels_dir.iterdir())):  # the demo has none yet
        write_labels(ws, NOW)
    return root


@pytest.fixture
def labelled(labelled_master: Path, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(labelled_master, target)
    return Workspace.open(target)


# --------------------------------------------------------------------------- the engine call


def test_workspace_performance_is_the_report_on_the_joined_labels(labelled: Workspace) -> None:
    start, end = date.fromisoformat("2000-01-01"), NOW.date()
    got = workspace_performance(labelled, "v1.0", start, end, NOW)
    joined = joined_predictions(labelled, "v1.0", day_bounds(start)[0], day_bounds(end)[1])
    want = performance_report(labelled, "v1.0", start, end, NOW, joined=joined.frame)
    assert [(d.day, d.status, d.counts) for d in got.realized] == \
        [(d.day, d.status, d.counts) for d in want.realized]
    assert got.estimate_error == want.estimate_error
    statuses = {d.status for d in got.realized}
    assert Status.PENDING in statuses and Status.PASS in statuses
    assert any(d.provisional for d in got.realized) and not got.realized[0].provisional


def test_predictions_without_request_ids_count_as_unjoinable(demo_ws: Path) -> None:
    """Logs written before request ids: every prediction counts in its day's coverage
    and none can be labelled (the report says how many labels are missing)."""
    ws = Workspace.open(demo_ws)
    report = workspace_performance(ws, "v1.0", now=NOW)
    assert report.realized
    for day in report.realized:
        assert day.counts.unjoinable == day.counts.predictions > 0
        assert day.status is Status.PENDING and day.counts.labelled == 0
        assert f"0 of {day.counts.predictions} predictions labelled" in day.finding


def test_workspace_performance_defaults_to_the_deployed_version(labelled: Workspace) -> None:
    report = workspace_performance(labelled, now=NOW)
    assert report.version == "v1.0"
    assert len(report.realized) == 30


def test_a_bad_label_file_is_an_error_naming_file_and_row(labelled: Workspace) -> None:
    (labelled.labels_dir / "late.csv").write_text(
        "request_id,label,labeled_at\nx1,1,2026-01-05\nx2,maybe,2026-01-05\n")
    with pytest.raises(LabelError) as info:
        workspace_performance(labelled, "v1.0", now=NOW)
    assert "late.csv" in str(info.value) and "row 2" in str(info.value)
