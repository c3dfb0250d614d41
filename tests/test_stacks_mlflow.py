"""``deployready import-mlflow``: runs of an MLflow tracking store appended to the
certification history — mapped, validated all before any is written, idempotent, with
the link back (MLflow run id, model URI) kept."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deployready.certification.history import load_history
from deployready.cli import main
from deployready.errors import HistoryError, InputError
from deployready.stacks.mlflow_import import import_runs, parse_map, read_runs
from deployready.workspace import Workspace
from tests.peers import venvs

JSON_KEYS = ("cv_fold_scores", "cv_folds", "feature_entropy")


def _history(ws: Path) -> Path:
    found = Workspace.open(ws).history_path()
    assert found is not None
    return found


def _runs_like_history(ws: Path, n: int = 2) -> list[dict[str, Any]]:
    """``n`` MLflow-shaped runs carrying the demo history's last rows (new run ids): the
    metrics as metrics, text as params, the JSON columns as artifacts."""
    raw = pd.read_csv(_history(ws)).tail(n)
    runs = []
    for i, rec in enumerate(raw.to_dict("records")):
        stamp = pd.Timestamp(rec["trained_at"]) + pd.Timedelta(days=200)
        metrics = {k: float(v) for k, v in rec.items()
                   if isinstance(v, int | float) and not pd.isna(v)}
        params = {"cv_metric": rec["cv_metric"], "model_version": f"v9.{i}"}
        runs.append({
            "run_id": f"mlflowrun{i:04d}", "start_time": int(stamp.timestamp() * 1000),
            "metrics": metrics, "params": params, "tags": {"mlflow.runName": f"r{i}"},
            "artifacts": {f"{k}.json": rec[k] for k in JSON_KEYS},
            "models": [f"models:/m-{i:04d}"],
        })
    return runs


def test_runs_are_appended_with_the_link_back_and_once(demo_ws: Path) -> None:
    path = _history(demo_ws)
    before = len(load_history(path))
    runs = _runs_like_history(demo_ws)
    result = import_runs(demo_ws, runs)
    assert result.imported == ["mlflowrun0000", "mlflowrun0001"]
    history = load_history(path)
    assert len(history) == before + 2
    new = history[history["mlflow_run_id"] == "mlflowrun0001"].iloc[0]
    assert new["mlflow_model_uri"] == "models:/m-0001"
    assert new["run_id"] == "mlflowrun0001" and new["model_version"] == "v9.1"
    assert new["trained_at"].startswith(str(pd.Timestamp(runs[1]["start_time"], unit="ms").year))
    bytes_after = path.read_bytes()
    again = import_runs(demo_ws, runs)
    assert again.imported == [] and again.skipped == ["mlflowrun0000", "mlflowrun0001"]
    assert path.read_bytes() == bytes_after


def test_a_run_missing_a_required_key_writes_nothing(demo_ws: Path) -> None:
    path = _history(demo_ws)
    before = path.read_bytes()
    runs = _runs_like_history(demo_ws)
    del runs[1]["artifacts"]["cv_folds.json"]
    with pytest.raises(HistoryError) as err:
        import_runs(demo_ws, runs)
    text = str(err.value)
    assert "mlflowrun0001" in text and "cv_folds" in text and "artifacts.cv_folds.json" in text
    assert path.read_bytes() == before  # the valid first run was not written either
    runs = _runs_like_history(demo_ws)
    runs[0]["metrics"]["roc_auc"] = 7.0
    with pytest.raises(HistoryError, match="roc_auc"):
        import_runs(demo_ws, runs)
    assert path.read_bytes() == before


def test_map_replaces_a_column_source(demo_ws: Path) -> None:
    runs = _runs_like_history(demo_ws, 1)
    runs[0]["params"] = {"score_name": runs[0]["params"]["cv_metric"]}
    with pytest.raises(HistoryError, match="cv_metric"):
        import_runs(demo_ws, runs)
    result = import_runs(demo_ws, runs, parse_map(["cv_metric=params.score_name"]))
    assert result.imported == ["mlflowrun0000"]
    with pytest.raises(InputError, match="--map"):
        parse_map(["cv_metric=somewhere"])


def test_without_mlflow_the_error_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--mlflow-python"):
        read_runs(None, f"sqlite:///{tmp_path}/mlflow.db", "x", [])


LOG_RUNS = r"""
import json, sys, tempfile, os
from datetime import datetime, timezone
import mlflow
uri, runs = sys.argv[1], json.loads(open(sys.argv[2]).read())
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("fraud-retrain")
for run in runs:
    when = datetime.fromtimestamp(run["start_time"] / 1000, timezone.utc).isoformat()
    with mlflow.start_run(tags={**run["tags"], "trained_at": when}):
        mlflow.log_metrics(run["metrics"])
        mlflow.log_params(run["params"])
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in run["artifacts"].items():
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
                mlflow.log_artifact(os.path.join(tmp, name))
"""


@pytest.mark.peers
def test_cli_imports_from_a_real_sqlite_tracking_store(demo_ws: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    peer = venvs.build(["mlflow"], retry_failed=False)["mlflow"]
    if peer is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the mlflow venv could not be built")
        pytest.skip(f"the mlflow venv could not be built (see {venvs.peer('mlflow').log})")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = tmp_path / "runs.json"
    spec.write_text(json.dumps(_runs_like_history(demo_ws)))
    script = tmp_path / "log_runs.py"
    script.write_text(LOG_RUNS)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run([str(peer.python), str(script), uri, str(spec)], check=True, env=env,
                   cwd=tmp_path, timeout=300, capture_output=True)
    argv = ["import-mlflow", "--tracking-uri", uri, "--experiment", "fraud-retrain",
            "-w", str(demo_ws), "--mlflow-python", str(peer.python), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["imported"]) == 2
    history = load_history(_history(demo_ws))
    assert set(first["imported"]) <= set(history["mlflow_run_id"])
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == []
    bad = ["import-mlflow", "--tracking-uri", uri, "--experiment", "nope", "-w", str(demo_ws),
           "--mlflow-python", str(peer.python)]
    assert main(bad) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_pages_show_the_link_back(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_pages_readiness import _run, _texts

    ws = Workspace.open(demo_ws)
    version = ws.versions()[-1]
    package_run = json.loads((ws.models_dir / version / "model_metadata.json").read_bytes())[
        "run_id"]
    path = _history(demo_ws)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = raw[raw["run_id"] == package_run]
    raw[raw["run_id"] != package_run].to_csv(path, index=False)  # the run came from MLflow
    run = _runs_like_history(demo_ws, 1)[0]
    for column in ("cv_fold_scores", "cv_folds", "feature_entropy"):
        run["artifacts"][f"{column}.json"] = row.iloc[0][column]
    run["metrics"] = {k: float(row.iloc[0][k]) for k in ("roc_auc", "average_precision",
                                                          "brier", "ece", "ks", "log_loss",
                                                          "accuracy", "f1", "precision",
                                                          "recall", "synthetic_ratio", "noise")}
    run["params"] = {"run_id": package_run, "cv_metric": row.iloc[0]["cv_metric"],
                     "trained_at": row.iloc[0]["trained_at"]}
    assert import_runs(demo_ws, [run]).imported == [run["run_id"]]
    at = _run("pages/1_Certification.py", demo_ws, monkeypatch)
    runs = next(df.value for df in at.dataframe if "MLflow run" in df.value.columns)
    assert run["run_id"] in set(runs["MLflow run"])
    assert f"MLflow run `{run['run_id']}`" in _texts(at)
    at = _run("pages/2_Artifacts.py", demo_ws, monkeypatch)
    versions = next(df.value for df in at.dataframe if "MLflow model" in df.value.columns)
    assert "models:/m-0000" in set(versions["MLflow model"])


def test_links_read_with_the_policy_come_from_the_certifications_history(
        demo_ws: Path) -> None:
    from deployready.certification.history_cache import HISTORY_MEMO, cache_path
    from deployready.stacks.links import mlflow_links

    path = _history(demo_ws)
    import_runs(demo_ws, _runs_like_history(demo_ws))
    HISTORY_MEMO.clear()
    links = mlflow_links(path, Workspace.open(demo_ws).policy())
    assert set(links) == {"mlflowrun0000", "mlflowrun0001"}
    assert links == mlflow_links(path)  # the same links as the history read on its own
    # evaluated once, for the certification as well: remembered and kept on disk
    assert len(HISTORY_MEMO) == 1 and cache_path(path) is not None and cache_path(path).exists()
