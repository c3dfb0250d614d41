"""AppTest of the Overview, Certification and Artifacts pages on the demo workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from chart_support import chart_specs
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def _run(script: str, ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(ws))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / script), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = (
        [m.value for m in at.markdown]
        + [t.value for t in at.title]
        + [s.value for s in at.subheader]
    )
    parts += (
        [str(c.value) for c in at.caption]
        + [e.value for e in at.error]
        + [i.value for i in at.info]
    )
    parts += [s.value for s in at.success] + [w.value for w in at.warning]
    return "\n".join(parts)


def _plotly_specs(at: AppTest) -> list[dict]:
    return chart_specs(at)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_overview_on_demo(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("app.py", demo_ws, monkeypatch)
    text = _texts(at)
    assert "NOT READY" in text
    assert "Blockers" in text
    specs = _plotly_specs(at)
    assert specs, "score gauge and category bars expected"
    gauge = specs[0]["data"][0]
    assert gauge["type"] == "indicator"
    assert 0 <= gauge["value"] <= 100
    bars = specs[1]["data"]
    labels = bars[0]["y"]
    assert any("Certification (40%)" in y for y in labels)
    # the checklist tables carry every category
    frames = [df.value for df in at.dataframe]
    statuses = {s for f in frames if "status" in f for s in f["status"]}
    assert "pass" in statuses
    assert statuses & {"pending", "fail", "stale"}
    # the version selector lists both demo packages
    assert at.sidebar.selectbox[0].options == ["v1.0", "v1.1"]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_overview_figures_are_built_once_per_score(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render that finds the same score (a rerun, a new log that changes no verdict)
    draws the gauge and the bars as built, not built again."""
    import deployready.charts.readiness as charts

    built: list[str] = []
    real = charts.category_bars

    def counted(categories: Any) -> Any:
        built.append("bars")
        return real(categories)

    monkeypatch.setattr(charts, "category_bars", counted)
    first = _plotly_specs(_run("app.py", demo_ws, monkeypatch))
    second = _plotly_specs(_run("app.py", demo_ws, monkeypatch))
    assert built == ["bars"]
    assert second == first
    assert [s["data"][0]["type"] for s in first] == ["indicator", "bar"]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_overview_version_switch(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("app.py", demo_ws, monkeypatch)
    at.sidebar.selectbox[0].select("v1.0").run()
    assert not at.exception
    assert "v1.0" in _texts(at)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_overview_empty_workspace_offers_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run("app.py", tmp_path, monkeypatch)
    assert any("Build the demo workspace" in b.label for b in at.button)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_overview_bad_policy_is_a_visible_error(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (demo_ws / "deployready.toml").write_text("[load_test]\nconcurrency = 'lots'\n")
    at = _run("app.py", demo_ws, monkeypatch)
    errors = " ".join(e.value for e in at.error)
    assert "load_test.concurrency" in errors and "an integer" in errors


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_certification_page(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("pages/1_Certification.py", demo_ws, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Retrain runs"]) >= 6
    assert int(next(v for k, v in metrics.items() if k.startswith("Consecutive green"))) >= 3
    specs = _plotly_specs(at)
    titles = [s["layout"].get("title", {}).get("text", "") for s in specs]
    for metric in ("roc_auc", "average_precision", "brier", "ece", "ks"):
        assert metric in titles
    # threshold lines are drawn
    roc = specs[titles.index("roc_auc")]
    assert roc["layout"]["shapes"], "threshold line expected"
    # the runs table shows failing early runs and green late ones
    runs = next(df.value for df in at.dataframe if "green" in df.value.columns)
    assert list(runs["green"])[-3:] == ["✅"] * 3
    assert "❌" in list(runs["green"])
    _shows_the_engines_view(at, demo_ws)


def _shows_the_engines_view(at: AppTest, ws_root: Path) -> None:
    """What the Certification page lays out is the engine's record, not its own reading
    of the history: the streak, each run's failing checks, the selected run's checks."""
    from deployready.certification.checks import history_evaluations
    from deployready.certification.view import CertificationView
    from deployready.package.manifest import read_metadata
    from deployready.workspace import Workspace

    ws = Workspace.open(ws_root)
    selected = at.sidebar.selectbox[0].value
    package_run = read_metadata(ws.package_path(selected)).get("run_id")
    view = CertificationView(history_evaluations(ws.history_path(), ws.policy())[1],
                             package_run=package_run)
    assert view.focus == package_run
    metrics = {m.label: m.value for m in at.metric}
    assert int(next(v for k, v in metrics.items() if k.startswith("Consecutive"))) == view.streak
    runs = next(df.value for df in at.dataframe if "failing" in df.value.columns)
    assert list(runs["run"]) == view.run_ids
    assert list(runs["failing"]) == ["; ".join(e.failing) for e in view.runs]
    checks = next(df.value for df in at.dataframe if "finding" in df.value.columns)
    focus = view.run(view.focus)
    assert list(checks["check"]) == [c.name for c in focus.checks]
    assert list(checks["finding"]) == [c.message for c in focus.checks]
    entropy = next(s for s in _plotly_specs(at)
                   if "entropy" in s["layout"].get("title", {}).get("text", ""))
    assert sorted(entropy["data"][0]["y"]) == sorted(focus.feature_entropy)
    expansion = next(df.value for df in at.dataframe if "check" in df.value.columns
                     and "finding" not in df.value.columns)
    assert list(expansion["value"]) == [focus.synthetic_ratio, focus.noise]


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_certification_trajectories_are_built_once_per_history_and_policy(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metric trajectories (every run, 10,000 points at scale) are built on the first
    render and drawn from then on as built, until the history or the policy changes."""
    import deployready.charts.readiness as charts

    built: list[str] = []
    real = charts.metric_trajectory

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs["metric"])
        return real(*args, **kwargs)

    monkeypatch.setattr(charts, "metric_trajectory", counted)
    first = _plotly_specs(_run("pages/1_Certification.py", demo_ws, monkeypatch))
    metrics = list(built)
    assert "roc_auc" in metrics
    second = _plotly_specs(_run("pages/1_Certification.py", demo_ws, monkeypatch))
    assert built == metrics  # nothing built again
    assert second == first
    policy = demo_ws / "deployready.toml"
    text = policy.read_text()
    assert "threshold = 0.8\n" in text
    policy.write_text(text.replace("threshold = 0.8\n", "threshold = 0.81\n", 1))
    third = _plotly_specs(_run("pages/1_Certification.py", demo_ws, monkeypatch))
    assert built == metrics * 2  # the policy changed: built again, with its threshold
    titles = [s["layout"].get("title", {}).get("text", "") for s in third]
    roc = third[titles.index("roc_auc")]
    assert any(a.get("text") == "≥ 0.81" for a in roc["layout"].get("annotations", []))


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_certification_malformed_history(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hist = demo_ws / "data" / "certification" / "history.csv"
    lines = hist.read_text().splitlines()
    header = lines[0].split(",")
    lines[0] = ",".join(h if h != "roc_auc" else "rocauc" for h in header)
    hist.write_text("\n".join(lines) + "\n")
    at = _run("pages/1_Certification.py", demo_ws, monkeypatch)
    errors = " ".join(e.value for e in at.error)
    assert "history.csv" in errors and "roc_auc" in errors


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_artifacts_page(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("pages/2_Artifacts.py", demo_ws, monkeypatch)
    versions = at.dataframe[0].value
    assert list(versions["version"]) == ["v1.0", "v1.1"]
    assert list(versions["valid"]) == ["✅", "✅"]
    text = _texts(at)
    assert "Same feature schema" in text
    _shows_the_engines_schema_change(at, demo_ws, "v1.0", "v1.1")
    specs = _plotly_specs(at)
    shap = next(s for s in specs if "SHAP" in s["layout"]["title"]["text"])
    assert len(shap["data"][0]["y"]) >= 10  # every feature has an importance


def _shows_the_engines_schema_change(at: AppTest, ws_root: Path, a: str, b: str) -> None:
    """The schema diff section renders the engine's account of the bump, word for word,
    and its rows."""
    from deployready.package.versioning import schema_change

    schemas = [json.loads((ws_root / "models" / v / "feature_schema.json").read_text())
               for v in (a, b)]
    change = schema_change(a, b, *schemas)
    shown = [s.value for s in at.success] if change.bump is None else [
        w.value for w in at.warning]
    assert change.explanation in shown
    tables = [df.value for df in at.dataframe if "change" in df.value.columns]
    assert [t.to_dict("records") for t in tables] == ([change.rows] if change.rows else [])


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_artifacts_page_schema_change(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer package with another feature schema: the page says it is a major bump and
    lists what changed, as the engine explains it."""
    path = demo_ws / "models" / "v1.1" / "feature_schema.json"
    schema = json.loads(path.read_text())
    schema["features"] = schema["features"][1:]
    path.write_text(json.dumps(schema))
    at = _run("pages/2_Artifacts.py", demo_ws, monkeypatch)
    assert any("a major version bump" in w.value for w in at.warning)
    _shows_the_engines_schema_change(at, demo_ws, "v1.0", "v1.1")


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_artifacts_page_tampered_package(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = demo_ws / "models" / "v1.1" / "model.pkl"
    model.write_bytes(model.read_bytes()[:-10])
    at = _run("pages/2_Artifacts.py", demo_ws, monkeypatch)
    versions = at.dataframe[0].value
    assert list(versions["valid"]) == ["✅", "❌"]
    assert any("INVALID" in e.value for e in at.error)
    shutil.rmtree(demo_ws / "models" / "v1.1")


@pytest.mark.usefixtures("clear_streamlit_caches")
@pytest.mark.parametrize("script", ["app.py", "pages/1_Certification.py"])
def test_history_that_is_a_folder_is_a_visible_error(
    script: str, demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreadable evidence is a red message naming the file, never a traceback; the
    Overview still shows what it could evaluate."""
    hist = demo_ws / "data" / "certification" / "history.csv"
    hist.unlink()
    hist.mkdir()
    at = _run(script, demo_ws, monkeypatch)
    errors = " ".join(e.value for e in at.error)
    assert str(hist) in errors and "is a folder, not a file" in errors
    if script == "app.py":
        assert "NOT READY" in _texts(at) and at.dataframe
