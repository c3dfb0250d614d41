"""A registered MLflow model version as the source of a package: resolved, loaded and its
source run's data downloaded by MLflow's own client (:mod:`deployready.stacks.mlflow_reader`
``--model-version``, run by a Python that has MLflow), into a folder of ours.

Every refusal is an InputError naming the option and what was expected: a model URI that
is not ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; a local tracking store that does
not exist (MLflow would create an empty one); an unknown registered model, version or
alias; a model of another flavour than sklearn or without ``predict_proba``; a missing or
unreadable training or holdout artifact (naming the run id and the artifact); a tracking
store MLflow cannot read. :func:`run_reader` runs the reader for ``import-mlflow`` too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from deployready.errors import InputError
from deployready.stacks import mlflow_reader

TRAIN_ARTIFACT = "train.parquet"
HOLDOUT_ARTIFACT = "holdout.parquet"
MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[\w-]+))")
MODEL_URI_EXPECTED = "models:/NAME/VERSION or models:/NAME@ALIAS of a registered model"
READ_TIMEOUT_S = 600.0
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*: ")

#: What was expected, by the kind of a refusal of the reader.
REFUSED_EXPECTED: dict[str, str] = {
    "not_found": "an existing registered model version (" + MODEL_URI_EXPECTED + ")",
    "flavour": "a model logged with mlflow.sklearn (a fitted Pipeline whose last step has "
    "predict_proba)",
    "artifact": "the source run's training and holdout frames as .parquet or .csv artifacts "
    "(--train-artifact, --holdout-artifact)",
    "predictions": "holdout rows MLflow's pyfunc of the model can predict",
}


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version as MLflow resolved it; the files are ours to read."""

    name: str
    version: str
    alias: str
    model_uri: str  # models:/NAME/VERSION, whatever alias named it
    source: str  # the version's own source (a logged model or a run's artifact path)
    run_id: str
    run: dict[str, Any]  # the source run, as import-mlflow reads runs
    predict_fn: str  # what MLflow's pyfunc calls
    features: list[str]
    pyfunc: list[Any] | None  # MLflow's pyfunc output on the holdout's features
    model_path: Path
    train_path: Path
    holdout_path: Path
    libraries: dict[str, str]  # mlflow and scikit-learn in the reader's Python

    @property
    def link(self) -> dict[str, str]:
        """The link back kept in the package metadata (``mlflow``)."""
        return {"run_id": self.run_id, "model_uri": self.model_uri, "name": self.name,
                "version": self.version, **({"alias": self.alias} if self.alias else {})}


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version, alias) of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
    found = MODEL_URI.fullmatch(uri.strip())
    if found is None:
        raise InputError(f"not a registered model version: {uri!r}", location="--from-mlflow",
                         expected=MODEL_URI_EXPECTED)
    return found["name"], found["version"], found["alias"]


def check_tracking_uri(uri: str) -> None:
    """A local tracking store must exist: MLflow would create an empty one, and the model
    would then be "not found" in a database the user did not mean."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///").partition("?")[0])
        if not path.is_file():
            raise InputError("no such MLflow database", source=path, location="--tracking-uri",
                             expected="sqlite:///PATH of an existing MLflow tracking database")
        return
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        folder = Path(parsed.path if parsed.scheme else uri)
        if not folder.is_dir():
            raise InputError("no such MLflow tracking folder", source=folder,
                             location="--tracking-uri",
                             expected="an existing tracking folder, sqlite:///PATH or "
                             "http(s)://HOST:PORT")


def run_reader(python: str | None, args: Sequence[str],
               tracking_uri: str) -> subprocess.CompletedProcess[str]:
    """:mod:`~deployready.stacks.mlflow_reader` run with ``args`` by ``python`` (default:
    this one, when it has MLflow) on ``tracking_uri``; InputError when it cannot be run."""
    if python is None:
        if importlib.util.find_spec("mlflow") is None:
            raise InputError("MLflow is not installed in this Python", location="--mlflow-python",
                             expected="the path of a Python that has mlflow (e.g. the MLflow "
                             "venv of scripts/peers.sh), or 'pip install mlflow' here")
        python = sys.executable
    check_tracking_uri(tracking_uri)
    try:
        done = subprocess.run([python, mlflow_reader.__file__, *args], capture_output=True,
                              text=True, timeout=READ_TIMEOUT_S, stdin=subprocess.DEVNULL,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run the MLflow reader: {exc}", location="--mlflow-python",
                         expected="a Python that has mlflow") from exc
    if done.returncode != 0 and "No module named 'mlflow'" in done.stderr:
        raise InputError(f"{python} has no mlflow", location="--mlflow-python",
                         expected="a Python that has mlflow")
    return done


def reader_error(stderr: str) -> str:
    """The reader's error in one line: the last exception line of its traceback (an
    exception's own last line may be a link or the SQL it ran), else its last line."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    text = (raised or lines or ["no message"])[-1]
    return text if len(text) <= 300 else text[:297] + "..."


def read_model_version(python: str | None, tracking_uri: str, model_uri: str, out: Path, *,
                       target: str, features: list[str] | None = None,
                       train_artifact: str = TRAIN_ARTIFACT,
                       holdout_artifact: str = HOLDOUT_ARTIFACT,
                       artifacts: list[str] | None = None) -> ModelVersion:
    """Resolve ``model_uri`` in ``tracking_uri`` with ``python``'s MLflow, writing the model
    (joblib) and the run's data under ``out`` (an empty folder); ``artifacts``: the run's
    artifacts to read as text, for its history row."""
    name, version, alias = parse_model_uri(model_uri)
    spec = {"tracking_uri": tracking_uri, "name": name, "version": version, "alias": alias,
            "out": str(out), "train": train_artifact, "holdout": holdout_artifact,
            "target": target, "features": features or [], "artifacts": artifacts or []}
    done = run_reader(python, ["--model-version", json.dumps(spec)], tracking_uri)
    if done.returncode == 3:
        refused = json.loads(done.stdout)["refused"]
        raise InputError(refused["message"], location=refused["location"],
                         expected=REFUSED_EXPECTED.get(refused["kind"]))
    if done.returncode != 0:
        raise InputError(f"cannot read {model_uri} from {tracking_uri}: "
                         f"{reader_error(done.stderr)}",
                         location="--tracking-uri",
                         expected="a tracking store MLflow can read")
    return _model_version(json.loads(done.stdout), alias or "")


def _model_version(answer: dict[str, Any], alias: str) -> ModelVersion:
    return ModelVersion(
        name=str(answer["name"]), version=str(answer["version"]), alias=alias,
        model_uri=str(answer["model_uri"]), source=str(answer.get("source") or ""),
        run_id=str(answer["run_id"]), run=dict(answer["run"]),
        predict_fn=str(answer["predict_fn"]), features=[str(f) for f in answer["features"]],
        pyfunc=answer["pyfunc"], model_path=Path(answer["model"]),
        train_path=Path(answer["train"]), holdout_path=Path(answer["holdout"]),
        libraries={str(k): str(v) for k, v in answer["libraries"].items()},
    )
