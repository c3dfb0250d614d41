"""``deployready export --from-mlflow``: a package from a registered MLflow model version —
built as ``export`` builds one, linked back to the run and the model URI, predicting
exactly as MLflow's pyfunc of the registered model, its run added to the certification
history; every refusal exits 2 with nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deployready.certification.history import load_history
from deployready.cli import main
from deployready.demo.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, make_dataset
from deployready.errors import InputError
from deployready.package.load import load_package
from deployready.package.manifest import read_metadata
from deployready.package.validate import validate_package
from deployready.stacks.links import package_link
from deployready.stacks.mlflow_export import differing_rows
from deployready.stacks.mlflow_import import read_runs
from deployready.stacks.mlflow_source import check_tracking_uri, parse_model_uri, reader_error
from deployready.workspace import Workspace
from tests.peers import venvs

FEATURES = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]


def _state(ws: Path) -> tuple[list[str], bytes]:
    """What an export may change: the models folder's entries and the history's bytes."""
    w = Workspace.open(ws)
    history = w.history_path()
    assert history is not None
    return sorted(p.name for p in w.models_dir.iterdir()), history.read_bytes()


# --------------------------------------------------------------------------- no MLflow needed


@pytest.mark.parametrize(("uri", "parsed"), [
    ("models:/fraud/1", ("fraud", "1", None)),
    ("models:/fraud model/12", ("fraud model", "12", None)),
    ("models:/fraud@champion", ("fraud", None, "champion")),
])
def test_model_uri_forms(uri: str, parsed: tuple[str, str | None, str | None]) -> None:
    assert parse_model_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/m-0123", "models:/fraud/Production",
                                 "models:/fraud/1/extra", "fraud/1", "models:/@x"])
def test_other_uris_are_refused_naming_the_forms(uri: str) -> None:
    with pytest.raises(InputError, match="models:/NAME/VERSION or models:/NAME@ALIAS"):
        parse_model_uri(uri)


def test_a_missing_local_tracking_store_is_refused_before_mlflow_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such MLflow database") as err:
        check_tracking_uri(f"sqlite:///{tmp_path}/nothing.db")
    assert err.value.location == "--tracking-uri" and "nothing.db" in str(err.value)
    assert not (tmp_path / "nothing.db").exists()
    with pytest.raises(InputError, match="no such MLflow tracking folder"):
        check_tracking_uri(str(tmp_path / "mlruns"))
    with pytest.raises(InputError, match="no such MLflow tracking folder"):
        check_tracking_uri(f"file://{tmp_path}/mlruns")
    (tmp_path / "mlflow.db").write_bytes(b"")
    check_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    check_tracking_uri(str(tmp_path))
    check_tracking_uri("http://127.0.0.1:5000")  # a server is for MLflow to reach


@given(hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(allow_nan=True)),
       st.data())
def test_differing_rows_are_exactly_the_changed_ones(values: np.ndarray, data: Any) -> None:
    assert differing_rows(values, values.copy()) == []
    i = data.draw(st.integers(0, len(values) - 1))
    changed = values.copy()
    changed[i] = 0.5 if values[i] != 0.5 else 0.25
    assert differing_rows(values, changed) == [i]
    assert differing_rows(values, changed[:-1]) == list(range(len(values)))
    pairs = np.stack([1 - values, values], axis=1)
    assert differing_rows(pairs, np.stack([1 - changed, changed], axis=1)) == [i]


def test_labels_compare_as_labels() -> None:
    assert differing_rows(np.array([0, 1, 1]), np.array([0, 1, 1])) == []
    assert differing_rows(np.array(["a", "b"]), np.array([0.0, 1.0])) == [0, 1]


def test_package_link_prefers_the_metadata() -> None:
    history = {"r1": {"mlflow_run_id": "abc", "mlflow_model_uri": "models:/m-1"}}
    own = {"run_id": "r1", "mlflow": {"run_id": "abc", "model_uri": "models:/fraud/3"}}
    assert package_link(own, history) == {"mlflow_run_id": "abc",
                                          "mlflow_model_uri": "models:/fraud/3"}
    assert package_link({"run_id": "r1"}, history) == history["r1"]
    assert package_link({"run_id": "r2"}, history) == {}


@pytest.mark.parametrize(("extra", "named"), [
    (["--model", "m.joblib"], "--model"),
    (["--run-id", "r1"], "--run-id"),
    (["--holdout", "h.csv"], "--holdout"),
])
def test_files_and_from_mlflow_are_not_mixed(demo_ws: Path, extra: list[str], named: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = _state(demo_ws)
    argv = ["export", "-w", str(demo_ws), "--from-mlflow", "models:/fraud/1", "--tracking-uri",
            "sqlite:///x.db", "--target", "target", *extra]
    assert main(argv) == 2
    assert f"{named} cannot be combined with --from-mlflow" in capsys.readouterr().err
    assert _state(demo_ws) == before


def test_each_source_needs_its_options(demo_ws: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "-w", str(demo_ws), "--target", "target"]) == 2
    assert "--model is required" in capsys.readouterr().err
    assert main(["export", "-w", str(demo_ws), "--from-mlflow", "models:/fraud/1",
                 "--target", "target"]) == 2
    assert "--tracking-uri is required with --from-mlflow" in capsys.readouterr().err
    assert main(["export", "-w", str(demo_ws), "--from-mlflow", "runs:/abc/model",
                 "--tracking-uri", "sqlite:///x.db", "--target", "target"]) == 2
    assert "models:/NAME/VERSION" in capsys.readouterr().err
    before = _state(demo_ws)
    assert main(["export", "-w", str(demo_ws), "--from-mlflow", "models:/fraud/1",
                 "--tracking-uri", f"sqlite:///{tmp_path}/missing.db", "--target", "target",
                 "--mlflow-python", sys.executable]) == 2
    assert "no such MLflow database" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists() and _state(demo_ws) == before


def test_the_reader_error_is_the_exception_line() -> None:
    stderr = """Traceback (most recent call last):
  File "x.py", line 1, in <module>
sqlite3.DatabaseError: file is not a database

Traceback (most recent call last):
sqlalchemy.exc.DatabaseError: (sqlite3.DatabaseError) file is not a database
[SQL: SELECT name FROM sqlite_master WHERE type='table']
(Background on this error at: https://sqlalche.me/e/21/4xp6)
"""
    assert reader_error(stderr) == ("sqlalchemy.exc.DatabaseError: (sqlite3.DatabaseError) "
                                    "file is not a database")
    assert reader_error("killed\n") == "killed"
    assert reader_error("") == "no message"


def test_import_mlflow_refuses_a_missing_store_too(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such MLflow database"):
        read_runs(sys.executable, f"sqlite:///{tmp_path}/none.db", "fraud-retrain", [])
    assert not (tmp_path / "none.db").exists()


def test_a_python_without_mlflow_is_named(demo_ws: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    argv = ["export", "-w", str(demo_ws), "--from-mlflow", "models:/fraud/1", "--tracking-uri",
            f"sqlite:///{tmp_path}/mlflow.db", "--target", "target", "--mlflow-python",
            sys.executable]
    assert main(argv) == 2
    assert "--mlflow-python" in capsys.readouterr().err


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_pages_show_a_package_exported_from_mlflow(demo_ws: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The link kept in the metadata (the registered version, not the run's logged model)
    is what the Certification and Artifacts pages show for the package."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from test_pages_readiness import _run, _texts

    from deployready.package.export import export_package

    ws = Workspace.open(demo_ws)
    run = read_metadata(ws.models_dir / ws.versions()[-1])["run_id"]  # a run of the history
    data = make_dataset(600, "2026-01-01", "2026-02-01", seed=3)
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), list(NUMERIC_FEATURES)),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES))])
    model = make_pipeline(pre, LogisticRegression(max_iter=300)).fit(data[FEATURES],
                                                                      data["target"])
    link = {"run_id": "0123abcd", "model_uri": "models:/fraud/3", "name": "fraud",
            "version": "3"}
    info = export_package(ws, model=model, train=data.iloc[:400], features=FEATURES,
                          target_column="target", holdout=data.iloc[400:], run_id=run,
                          mlflow=link, shap_max_rows=50, shap_time_budget_s=2.0)
    assert read_metadata(info.path)["mlflow"] == link
    assert "models:/fraud/3" in (info.path / "README.md").read_text(encoding="utf-8")
    at = _run("pages/1_Certification.py", demo_ws, monkeypatch)
    assert "MLflow run `0123abcd` (model `models:/fraud/3`)" in _texts(at)
    at = _run("pages/2_Artifacts.py", demo_ws, monkeypatch)
    versions = next(df.value for df in at.dataframe if "MLflow model" in df.value.columns)
    row = versions[versions["version"] == info.version].iloc[0]
    assert row["MLflow model"] == "models:/fraud/3" and row["MLflow run"] == "0123abcd"


# --------------------------------------------------------------------------- real MLflow

LOG_MODELS = r"""
import json, os, sys
from datetime import datetime, timezone
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

uri, spec_path, data = sys.argv[1:4]
spec = json.loads(open(spec_path).read())
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
mlflow.set_experiment("fraud-retrain")
train = pd.read_parquet(os.path.join(data, "train.parquet"))
X = train[spec["numeric"] + spec["categorical"]]


def pipeline(last):
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), spec["numeric"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), spec["categorical"])])
    return make_pipeline(pre, last).fit(X, train["target"])


class Half(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


# the types OneHotEncoder and HistGradientBoosting pickle beside scikit-learn's own
TRUSTED = ["numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def log(name, model, history=True, signed=None):
    run = spec["run"]
    when = datetime.fromtimestamp(run["start_time"] / 1000, timezone.utc).isoformat()
    with mlflow.start_run(tags={**run["tags"], "trained_at": when}) as active:
        if history:
            mlflow.log_metrics(run["metrics"])
            mlflow.log_params(run["params"])
            for artifact, text in run["artifacts"].items():
                mlflow.log_text(text, artifact)
        mlflow.log_artifact(os.path.join(data, "train.parquet"))
        mlflow.log_artifact(os.path.join(data, "holdout.parquet"))
        if isinstance(model, Half):
            mlflow.pyfunc.log_model(name="model", python_model=model,
                                    registered_model_name=name)
        else:
            fn = "predict_proba" if hasattr(model, "predict_proba") else "predict"
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                     pyfunc_predict_fn=fn,
                                     signature=infer_signature(X if signed is None else signed),
                                     skops_trusted_types=TRUSTED)
        return active.info.run_id


runs = {
    "fraud": log("fraud", pipeline(LogisticRegression(max_iter=300))),
    "fraud-dummy": log("fraud-dummy", pipeline(DummyClassifier(strategy="stratified"))),
    "fraud-regressor": log("fraud-regressor", pipeline(LinearRegression())),
    "fraud-pyfunc": log("fraud-pyfunc", Half()),
    "fraud-bare": log("fraud-bare", pipeline(LogisticRegression(max_iter=300)), history=False),
    # a bare classifier, no preprocessing in front of it (NaN handled by the model itself)
    "fraud-plain": log("fraud-plain", HistGradientBoostingClassifier(
        max_iter=40, random_state=0).fit(X[spec["numeric"]], train["target"]),
        signed=X[spec["numeric"]]),
}
MlflowClient().set_registered_model_alias("fraud", "champion", "1")
print(json.dumps(runs))
"""

PYFUNC = r"""
import json, sys
import mlflow
import pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_registry_uri(sys.argv[1])
rows = pd.read_parquet(sys.argv[3])
print(json.dumps(mlflow.pyfunc.load_model(sys.argv[2]).predict(rows)[:, 1].tolist()))
"""


def _peer_env() -> dict[str, str]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def mlflow_python() -> Path:
    peer = venvs.build(["mlflow"], retry_failed=False)["mlflow"]
    if peer is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the mlflow venv could not be built")
        pytest.skip(f"the mlflow venv could not be built (see {venvs.peer('mlflow').log})")
    return peer.python


@pytest.fixture(scope="module")
def store(mlflow_python: Path, demo_master: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A SQLite tracking store with registered models (``fraud`` v1, alias ``champion``:
    a Pipeline with predict_proba, its data and the history columns on its run; and one
    model per refusal), built by MLflow in its venv. Returns the URI and the run ids."""
    from test_stacks_mlflow import _runs_like_history

    root = tmp_path_factory.mktemp("mlflow-store")
    data = make_dataset(900, "2026-01-01", "2026-03-01", seed=11)[[*FEATURES, "target"]]
    data.iloc[:600].to_parquet(root / "train.parquet", index=False)
    data.iloc[600:].to_parquet(root / "holdout.parquet", index=False)
    spec = {"numeric": list(NUMERIC_FEATURES), "categorical": list(CATEGORICAL_FEATURES),
            "run": _runs_like_history(demo_master, 1)[0]}
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "log_models.py").write_text(LOG_MODELS)
    uri = f"sqlite:///{root}/mlflow.db"
    done = subprocess.run([str(mlflow_python), str(root / "log_models.py"), uri,
                           str(root / "spec.json"), str(root)], env=_peer_env(), cwd=root,
                          timeout=600, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"uri": uri, "runs": json.loads(done.stdout.strip().splitlines()[-1]),
            "root": root}


def _export(ws: Path, python: Path, uri: str, model: str, *extra: str) -> list[str]:
    return ["export", "-w", str(ws), "--from-mlflow", model, "--tracking-uri", uri,
            "--mlflow-python", str(python), "--target", "target", *extra]


@pytest.mark.peers
def test_cli_exports_a_registered_model_version(store: dict[str, Any], mlflow_python: Path,
                                                demo_ws: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = store["runs"]["fraud"]
    assert main(_export(demo_ws, mlflow_python, store["uri"], "models:/fraud/1", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    link = {"run_id": run, "model_uri": "models:/fraud/1", "name": "fraud", "version": "1"}
    assert out["mlflow"] == {**link, "history_run": run, "imported": True}
    path = Path(out["path"])
    meta = read_metadata(path)
    assert meta["mlflow"] == link and meta["run_id"] == run and meta["features"] == FEATURES
    assert validate_package(path).valid
    history = load_history(Workspace.open(demo_ws).history_path() or "")
    added = history[history["mlflow_run_id"] == run]
    assert list(added["run_id"]) == [run]
    assert list(added["mlflow_model_uri"]) == ["models:/fraud/1"]
    # the package predicts exactly what MLflow's pyfunc of the registered model gives
    (store["root"] / "pyfunc.py").write_text(PYFUNC)
    done = subprocess.run([str(mlflow_python), str(store["root"] / "pyfunc.py"), store["uri"],
                           "models:/fraud/1", str(path / "holdout.parquet")], env=_peer_env(),
                          timeout=300, capture_output=True, text=True, check=True)
    theirs = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), dtype=np.float64)
    package = load_package(path)
    ours = package.predict(pd.read_parquet(path / "holdout.parquet"))
    assert len(theirs) > 100 and np.array_equal(ours, theirs)
    expected = json.loads((path / "holdout_expected.json").read_bytes())["predictions"]
    assert np.array_equal(np.asarray(expected), theirs)
    # by alias: the same model again (a patch), the run already in the history
    rows = len(history)
    assert main(_export(demo_ws, mlflow_python, store["uri"], "models:/fraud@champion",
                        "--json")) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["bump"] == "patch" and again["mlflow"]["imported"] is False
    assert read_metadata(Path(again["path"]))["mlflow"] == {**link, "alias": "champion"}
    assert len(load_history(Workspace.open(demo_ws).history_path() or "")) == rows


REFUSALS: list[tuple[str, list[str], list[str]]] = [
    ("models:/nope/1", [], ["no registered model named 'nope'"]),
    ("models:/fraud/9", [], ["has no version 9 (versions: 1)"]),
    ("models:/fraud@nosuch", [], ["has no alias 'nosuch' (aliases: champion)"]),
    ("models:/fraud-pyfunc/1", [], ["not scikit-learn"]),
    ("models:/fraud-regressor/1", [], ["has no predict_proba"]),
    ("models:/fraud/1", ["--holdout-artifact", "nothere.parquet"],
     ["--holdout-artifact", "MLflow run {fraud} has no artifact 'nothere.parquet'"]),
    ("models:/fraud/1", ["--train-artifact", "train.json"], ["not a .parquet or .csv"]),
    ("models:/fraud-dummy/1", [], ["predicts differently here than MLflow's pyfunc",
                                   "holdout rows (row "]),
    ("models:/fraud-bare/1", [], ["MLflow run {fraud-bare} has no"]),
]


@pytest.mark.peers
@pytest.mark.parametrize(("model", "extra", "said"), REFUSALS,
                         ids=[f"{m} {' '.join(e)}".strip() for m, e, _ in REFUSALS])
def test_a_refused_export_writes_nothing(store: dict[str, Any], mlflow_python: Path,
                                         demo_ws: Path, model: str, extra: list[str],
                                         said: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = _state(demo_ws)
    assert main(_export(demo_ws, mlflow_python, store["uri"], model, *extra)) == 2
    err = capsys.readouterr().err
    for text in said:
        assert text.format(**store["runs"]) in err, err
    assert _state(demo_ws) == before


@pytest.mark.peers
def test_an_unreadable_tracking_store_is_named(mlflow_python: Path, demo_ws: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "mlflow.db"
    garbage.write_bytes(b"this is not a database\n" * 64)
    before = _state(demo_ws)
    uri = f"sqlite:///{garbage}"
    assert main(_export(demo_ws, mlflow_python, uri, "models:/fraud/1")) == 2
    err = capsys.readouterr().err
    assert "--tracking-uri" in err and f"cannot read models:/fraud/1 from {uri}" in err
    assert "file is not a database" in err
    assert garbage.read_bytes() == b"this is not a database\n" * 64
    assert _state(demo_ws) == before


@pytest.mark.peers
def test_a_bare_classifier_is_served_as_registered(store: dict[str, Any], mlflow_python: Path,
                                                  demo_ws: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A registered model with no preprocessing in front of it gets the identity as its
    scaler (never the default preprocessor, which would change what the model is given):
    the package predicts exactly what MLflow's pyfunc gives."""
    features = list(NUMERIC_FEATURES)
    assert main(_export(demo_ws, mlflow_python, store["uri"], "models:/fraud-plain/1",
                        "--features", ",".join(features), "--json")) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    meta = read_metadata(path)
    assert meta["features"] == features
    assert str(meta["scaler_class"]).endswith(".FunctionTransformer")
    assert validate_package(path).valid
    holdout = pd.read_parquet(path / "holdout.parquet")
    holdout[features].to_parquet(store["root"] / "plain.parquet", index=False)
    (store["root"] / "pyfunc.py").write_text(PYFUNC)
    done = subprocess.run([str(mlflow_python), str(store["root"] / "pyfunc.py"), store["uri"],
                           "models:/fraud-plain/1", str(store["root"] / "plain.parquet")],
                          env=_peer_env(), timeout=300, capture_output=True, text=True,
                          check=True)
    theirs = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), dtype=np.float64)
    ours = load_package(path).predict(holdout)
    assert len(theirs) > 100 and np.array_equal(ours, theirs)
