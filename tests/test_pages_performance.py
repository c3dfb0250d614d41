"""The Performance page (AppTest) and the workspace call it lays out, on the demo
workspace with label files derived from its logs (labels arriving 3–10 days late, a
tenth never; only those known by now)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from chart_support import chart_specs
from streamlit.testing.v1 import AppTest

from deployready.checks import Status
from deployready.errors import LabelError
from deployready.performance.api import performance_report
from deployready.performance.join import joined_predictions
from deployready.times import day_bounds
from deployready.workspace import Workspace
from tests.labels_support import add_request_ids, write_labels
from tests.monitoring_support import charts, texts

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


def drop_request_ids(ws: Workspace) -> None:
    """The workspace's logs as written before request ids: no ``request_id`` column."""
    for path in sorted(ws.production_dir.glob("predictions-*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.drop(columns=["request_id"], errors="ignore").to_csv(path, index=False)


# --------------------------------------------------------------------------- the engine call


def test_performance_report_is_the_report_on_the_joined_labels(labelled: Workspace) -> None:
    start, end = date.fromisoformat("2000-01-01"), NOW.date()
    got = performance_report(labelled, "v1.0", start, end, NOW)
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
    drop_request_ids(ws)
    report = performance_report(ws, "v1.0", now=NOW)
    assert report.realized
    for day in report.realized:
        assert day.counts.unjoinable == day.counts.predictions > 0
        assert day.status is Status.PENDING and day.counts.labelled == 0
        assert f"0 of {day.counts.predictions} predictions labelled" in day.finding


def test_performance_report_defaults_to_the_deployed_version(labelled: Workspace) -> None:
    report = performance_report(labelled, now=NOW)
    assert report.version == "v1.0"
    assert len(report.realized) == 30


def test_a_bad_label_file_is_an_error_naming_file_and_row(labelled: Workspace) -> None:
    (labelled.labels_dir / "late.csv").write_text(
        "request_id,label,labeled_at\nx1,1,2026-01-05\nx2,maybe,2026-01-05\n")
    with pytest.raises(LabelError) as info:
        performance_report(labelled, "v1.0", now=NOW)
    assert "late.csv" in str(info.value) and "row 2" in str(info.value)


# --------------------------------------------------------------------------- the page

PAGE = "pages/8_Performance.py"


def run_page(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def day_table(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "realized" in df.value.columns)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_on_an_empty_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(tmp_path, monkeypatch)
    assert "No model packages" in texts(at)
    assert not chart_specs(at)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_marks_pending_and_provisional_days(labelled: Workspace,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(labelled.root, monkeypatch)
    report = performance_report(labelled, "v1.0", now=NOW)
    pending = [d.day.isoformat() for d in report.realized if d.status is Status.PENDING]
    provisional = [d for d in report.realized if d.provisional]
    assert pending and provisional
    body = texts(at)
    assert "⏳ Pending (too few labels, hatched): " + ", ".join(pending) in body
    assert f"Provisional (labels may still arrive, hollow markers): {len(provisional)} day(s)" \
        in body
    table = day_table(at)
    assert len(table) == len(report.realized) == 30
    shown = dict(zip(table["day"], table["realized"], strict=True))
    assert all(shown[d] == "⏳ pending" for d in pending)
    labels = dict(zip(table["day"], table["labels"], strict=True))
    assert all(labels[d.day.isoformat()] == f"provisional until {d.final_on}" for d in provisional)
    final = next(d for d in report.realized if not d.provisional)
    assert labels[final.day.isoformat()] == "final"
    assert table.loc[table["day"] == final.day.isoformat(), "roc_auc"].item() == \
        f"{final.metrics['roc_auc'].value:.4g}"
    trend = next(c for c in charts(at) if "realized vs estimated" in c["layout"]["title"]["text"])
    names = {t.get("name") for t in trend["data"]}
    assert {"realized, final", "realized, provisional (labels may still arrive)",
            "pending: too few labels", "estimated (CBPE)", "95% CI"} <= names
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert "Label coverage per prediction day" in titles
    assert any(t.startswith("Label delay: median") for t in titles)
    # the estimate: reliable on the demo's holdout, its measured error shown
    error = next(m for m in at.metric if m.label == "Estimate error (roc_auc)")
    assert error.value == f"{report.estimate_error['roc_auc']:.4g}"
    assert "CBPE: scores calibrated (isotonic)" in body
    assert "concept change" in "\n".join(i.value for i in at.info)
    assert f"**{report.retrain.recommendation.capitalize()}** for v1.0" in body
    assert all(reason in body for reason in report.retrain.reasons)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_metric_choice(labelled: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(labelled.root, monkeypatch)
    at.selectbox(key="performance_metric").set_value("brier").run()
    assert not at.exception
    trend = charts(at)[0]
    assert trend["layout"]["title"]["text"].startswith("brier: realized vs estimated")
    assert "brier" in day_table(at).columns


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_without_labels(labelled: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(labelled.labels_dir)
    at = run_page(labelled.root, monkeypatch)
    assert "No label files in" in texts(at)
    table = day_table(at)
    assert set(table["realized"]) == {"⏳ pending"}
    assert set(table["estimated"]) != {"—"}  # the estimate needs no labels
    error = next(m for m in at.metric if m.label == "Estimate error (roc_auc)")
    assert error.value == "—"  # no day has both


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_says_unreliable_instead_of_a_number(labelled: Workspace,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    policy = labelled.policy_path.read_text()
    strict = re.sub(r"(?m)^max_calibration_error = .*$", "max_calibration_error = 0.0001", policy)
    assert strict != policy
    labelled.policy_path.write_text(strict)
    at = run_page(labelled.root, monkeypatch)
    assert any("Estimate unreliable" in w.value and "calibration error" in w.value
               for w in at.warning)
    assert set(day_table(at)["estimated"]) == {"unreliable"}
    error = next(m for m in at.metric if m.label == "Estimate error (roc_auc)")
    assert error.value == "unreliable"


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_shows_a_bad_label_file(labelled: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    (labelled.labels_dir / "late.csv").write_text(
        "request_id,label,labeled_at\nx1,1,2026-01-05\nx2,maybe,2026-01-05\n")
    at = run_page(labelled.root, monkeypatch)
    (error,) = at.error
    assert "late.csv" in error.value and "row 2" in error.value and "label" in error.value
    assert not chart_specs(at)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_page_on_logs_without_request_ids(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.open(demo_ws)
    drop_request_ids(ws)
    at = run_page(demo_ws, monkeypatch)
    total = sum(d.counts.predictions for d in performance_report(ws, "v1.0").realized)
    assert any(f"{total:,} logged predictions carry no request id" in w.value for w in at.warning)
    assert set(day_table(at)["realized"]) == {"⏳ pending"}
