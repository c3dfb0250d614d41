"""AppTest of the Latency and Drift pages on a small workspace: a real exported package
(LogisticRegression behind a ColumnTransformer) and demo production logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from deployready.workspace import Workspace
from tests.monitoring_support import charts, texts

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60
END = "2026-03-12"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from deployready.demo.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, make_dataset
    from deployready.demo.logs import write_demo_logs
    from deployready.package.export import export_package

    root = tmp_path_factory.mktemp("monitoring-pages")
    ws = Workspace.open(root)
    data = make_dataset(1500, "2026-01-01", "2026-02-01", seed=1)
    features = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    scaler = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), list(NUMERIC_FEATURES)),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
    ])
    model = LogisticRegression(max_iter=300).fit(scaler.fit_transform(data[features]),
                                                 data["target"])
    info = export_package(ws, model=model, scaler=scaler, train=data, features=features,
                          target_column="target", shap_max_rows=50, shap_time_budget_s=2.0)
    write_demo_logs(ws, info.path, days=8, end_date=END, rows_per_day=300, seed=3,
                    drift_days=3, spike_day=2, error_spike_day=5)
    return root


@pytest.fixture
def ws(master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
       clear_streamlit_caches: None) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(master, target)
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(target))
    monkeypatch.chdir(REPO)
    return Workspace.open(target)


def run_page(script: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_latency_page(ws: Workspace) -> None:
    at = run_page("pages/4_Latency.py")
    body = texts(at)
    assert "Score evidence for v1.0: production logs" in body
    assert "No latency baseline" in body  # no load test in this workspace
    labels = [m.label for m in at.metric]
    assert {"P50", "P95", "P99", "Requests"} <= set(labels)
    specs = charts(at)
    assert len(specs) >= 3
    trend = specs[0]
    names = [t.get("name") for t in trend["data"]]
    assert {"P50", "P95", "P99"} <= set(names)
    assert any(str(n).startswith("spike") for n in names)  # the spike day is in the period
    assert at.error and "spike window" in at.error[0].value
    # target lines are drawn
    shapes = trend["layout"].get("shapes", [])
    assert {s["y0"] for s in shapes} >= {35.0, 50.0}


def test_latency_page_window_choice(ws: Workspace) -> None:
    at = run_page("pages/4_Latency.py")
    at.selectbox(key="latency_window").set_value("1D").run()
    assert not at.exception
    assert "Percentiles per 1D" in json.dumps(charts(at)[0]["layout"]["title"])


def test_drift_page_heatmap_and_distributions(ws: Workspace) -> None:
    at = run_page("pages/5_Drift.py")
    specs = charts(at)
    heat = next(s for s in specs if s["data"][0]["type"] == "heatmap")["data"][0]
    assert len(heat["x"]) == 8 and "amount" in heat["y"]
    colors = heat["colorscale"]
    assert [c[1] for c in colors] == ["#16a34a", "#16a34a", "#f59e0b", "#f59e0b", "#dc2626",
                                      "#dc2626"]
    row = heat["y"].index("amount")
    assert heat["z"][row][-1] == 2 and heat["z"][row][0] == 0  # red at the end, green before
    bars = next(s for s in specs if s["data"][0]["type"] == "bar")
    assert [t["name"] for t in bars["data"]] == ["reference", "current"]
    at.selectbox(key="drift_feature").set_value("channel").run()
    assert not at.exception
    bars = next(s for s in charts(at) if s["data"][0]["type"] == "bar")
    assert bars["data"][0]["x"][-2:] == ["(unseen)", "(missing)"]
    at.selectbox(key="drift_feature").set_value("device").run()  # a real category "other"
    x = next(s for s in charts(at) if s["data"][0]["type"] == "bar")["data"][0]["x"]
    assert "other" in x and len(set(x)) == len(x) == 6
    assert "Prediction distribution stability" in json.dumps([s["layout"] for s in charts(at)])


def test_drift_page_runs_the_daily_check(ws: Workspace) -> None:
    at = run_page("pages/5_Drift.py")
    at.date_input(key="daily_day").set_value(__import__("datetime").date(2026, 3, 12))
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Daily check 2026-03-12 for v1.0: **ALERT**" in e.value for e in at.error)
    rows = ws.store.query("SELECT date, status FROM daily_checks")
    assert [(r["date"], r["status"]) for r in rows] == [("2026-03-12", "alert")]
    assert "Stored daily checks" in texts(at)
    # the page runs the same daily check as the CLI: the performance items are in it
    (stored,) = ws.store.query("SELECT record_json FROM daily_checks")
    assert '"realized_performance"' in stored["record_json"]
    assert '"estimated_performance"' in stored["record_json"]


def test_drift_page_error_is_shown(ws: Workspace) -> None:
    (ws.production_dir / "predictions-2026-03-12.csv").write_text(
        "timestamp,version,latency_ms,prediction,error\nnot-a-time,v1.0,1,0.5,\n")
    at = run_page("pages/5_Drift.py")
    assert any("unparseable timestamp" in e.value for e in at.error)


@pytest.mark.parametrize("script", ["pages/4_Latency.py", "pages/5_Drift.py",
                                    "pages/7_Monitoring.py", "pages/6_Rollout.py"])
def test_log_file_that_is_a_folder_is_a_visible_error(ws: Workspace, script: str) -> None:
    """A log file's name on a folder is a red message naming it, not a traceback (and not
    a silently missing day)."""
    log = sorted(ws.production_dir.glob("*.csv"))[-1]
    log.unlink()
    log.mkdir()
    at = run_page(script)
    if script in ("pages/4_Latency.py", "pages/5_Drift.py"):
        errors = " ".join(e.value for e in at.error)
        assert str(log) in errors and "is a folder, not a file" in errors
