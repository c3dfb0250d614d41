"""Read from an MLflow tracking store with MLflow's own client and print JSON.

Run by ``deployready import-mlflow`` and ``deployready export --from-mlflow`` with a
Python that has MLflow (``--mlflow-python``; deployready itself does not depend on MLflow,
and this file imports nothing from it)::

    python mlflow_reader.py TRACKING_URI EXPERIMENT [ARTIFACT_PATH ...]
    python mlflow_reader.py --model-version SPEC_JSON

The first form prints an experiment's runs: ``{"experiment_id", "runs": [{"run_id",
"start_time", "status", "metrics", "params", "tags", "artifact_uri", "artifacts": {path:
text}, "models": [uri, ...]}]}``; ``artifacts`` holds each requested artifact path the
run has (as text). Exit 3 with a message on stderr when the experiment does not exist.

The second resolves a registered model version (see :func:`read_model_version` for the
spec and the answer); a refusal (no such model, version or alias, another flavour than
sklearn, a missing artifact) is printed as ``{"refused": {"kind", "message",
"location"}}`` with exit 3. MLflow's own errors exit 1.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def _artifacts(client: Any, run_id: str, wanted: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in wanted:
            try:
                local = client.download_artifacts(run_id, path, tmp)
            except Exception:  # MLflow raises several kinds for an absent artifact
                continue
            found[path] = Path(local).read_text(encoding="utf-8")
    return found


def _models(client: Any, experiment_id: str, run_id: str) -> list[str]:
    search = getattr(client, "search_logged_models", None)
    if search is None:
        return []
    models = search(experiment_ids=[experiment_id],
                    filter_string=f"source_run_id = '{run_id}'")
    return [f"models:/{m.model_id}" for m in models]


def read(uri: str, experiment: str, wanted: list[str]) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        print(f"no experiment named {experiment!r} in {uri}", file=sys.stderr)
        raise SystemExit(3)
    runs = [_run_record(client, run, wanted)
            for run in client.search_runs([found.experiment_id], max_results=50_000,
                                          order_by=["attributes.start_time ASC"])]
    return {"experiment_id": found.experiment_id, "runs": runs}


def _run_record(client: Any, run: Any, wanted: list[str]) -> dict[str, Any]:
    return {
        "run_id": run.info.run_id,
        "start_time": run.info.start_time,
        "status": run.info.status,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "artifact_uri": run.info.artifact_uri,
        "artifacts": _artifacts(client, run.info.run_id, wanted),
        "models": _models(client, run.info.experiment_id, run.info.run_id),
    }


# --------------------------------------------------------------------------- model version


class Refused(Exception):
    """What cannot be exported, said in the answer (exit 3) rather than as a traceback."""

    def __init__(self, kind: str, message: str, location: str) -> None:
        super().__init__(message)
        self.answer = {"kind": kind, "message": message, "location": location}


def _model_version(client: Any, uri: str, name: str, version: str | None,
                   alias: str | None) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise Refused("not_found", f"no registered model named {name!r} in {uri}",
                      "--from-mlflow") from exc
    try:
        if version is not None:
            return client.get_model_version(name, version)
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if alias is not None:
            known = ", ".join(sorted(registered.aliases or {})) or "none"
            message = f"registered model {name!r} has no alias {alias!r} (aliases: {known})"
        else:
            message = (f"registered model {name!r} has no version {version} (versions: "
                       f"{_versions(client, name)})")
        raise Refused("not_found", message, "--from-mlflow") from exc


def _versions(client: Any, name: str) -> str:
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except Exception:  # a name the filter syntax cannot quote: the list is only a hint
        return "not listed"
    return ", ".join(sorted((str(v.version) for v in found), key=int)) or "none"


def _sklearn_model(local: str, uri: str) -> tuple[Any, dict[str, Any]]:
    """The scikit-learn model of the downloaded MLflow model folder, and its flavours."""
    import mlflow.sklearn
    from mlflow.models import Model

    flavors = dict(Model.load(local).flavors)
    if "sklearn" not in flavors:
        raise Refused("flavour", f"{uri} is a {' + '.join(sorted(flavors))} model, not "
                      "scikit-learn (no sklearn flavour)", "--from-mlflow")
    model = mlflow.sklearn.load_model(local)
    if not hasattr(model, "predict_proba"):
        raise Refused("flavour", f"{uri} is a {type(model).__name__}, which has no "
                      "predict_proba", "--from-mlflow")
    return model, flavors


def _frame(path: str, option: str) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many kinds for an unreadable file
        raise Refused("artifact", f"cannot read {Path(path).name}: {exc}", option) from exc


def _download(client: Any, run_id: str, path: str, out: Path, option: str) -> str:
    if not path.endswith((".parquet", ".csv")):
        raise Refused("artifact", f"artifact {path!r} is not a .parquet or .csv file", option)
    (out / option.strip("-")).mkdir()
    try:
        local = str(client.download_artifacts(run_id, path, str(out / option.strip("-"))))
    except Exception as exc:  # MLflow raises several kinds for an absent artifact
        raise Refused("artifact", f"MLflow run {run_id} has no artifact {path!r}",
                      option) from exc
    if not Path(local).is_file():
        raise Refused("artifact", f"MLflow run {run_id}: artifact {path!r} is not a file",
                      option)
    return local


def _pyfunc_predictions(local: str, uri: str, train: Any, holdout: Any,
                        spec: dict[str, Any]) -> tuple[list[str], list[Any] | None]:
    """The features (``spec["features"]``, else every training column but the target) and
    MLflow's pyfunc predictions on the holdout's (None when it lacks one of them)."""
    import mlflow.pyfunc
    import numpy as np

    target = spec["target"]
    features = spec.get("features") or [str(c) for c in train.columns if c != target]
    if any(f not in holdout.columns for f in features):
        return features, None
    try:
        answer = mlflow.pyfunc.load_model(local).predict(holdout[features])
    except Exception as exc:  # schema enforcement and the model itself raise many kinds
        raise Refused("predictions", f"MLflow's pyfunc of {uri} cannot predict the holdout "
                      f"rows: {' '.join(str(exc).split())[:300]}", "--holdout-artifact") from exc
    return features, np.asarray(answer).tolist()


def read_model_version(spec: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``spec["name"]`` at ``spec["version"]`` or ``spec["alias"]`` in
    ``spec["tracking_uri"]``; write the model with joblib and the run's
    ``spec["train"]``/``spec["holdout"]`` artifacts under ``spec["out"]``.

    Answers ``{"name", "version", "model_uri", "source", "run_id", "run" (as the
    experiment form), "flavors", "predict_fn", "model", "train", "holdout" (local paths),
    "features", "pyfunc" (MLflow's pyfunc output on the holdout's features), "libraries"}``.
    """
    import joblib
    import mlflow
    import sklearn
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    uri, name, out = spec["tracking_uri"], spec["name"], Path(spec["out"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = _model_version(client, uri, name, spec.get("version"), spec.get("alias"))
    model_uri = f"models:/{name}/{found.version}"
    if not found.run_id:
        raise Refused("artifact", f"{model_uri} has no source run", "--from-mlflow")
    local = download_artifacts(model_uri, dst_path=str(out / "mlflow-model"))
    model, flavors = _sklearn_model(local, model_uri)
    joblib.dump(model, out / "model.joblib")
    train = _download(client, found.run_id, spec["train"], out, "--train-artifact")
    holdout = _download(client, found.run_id, spec["holdout"], out, "--holdout-artifact")
    features, pyfunc = _pyfunc_predictions(local, model_uri, _frame(train, "--train-artifact"),
                                           _frame(holdout, "--holdout-artifact"), spec)
    return {
        "name": name, "version": str(found.version), "model_uri": model_uri,
        "source": found.source, "run_id": found.run_id,
        "run": _run_record(client, client.get_run(found.run_id), spec.get("artifacts", [])),
        "flavors": sorted(flavors),
        "predict_fn": flavors.get("python_function", {}).get("predict_fn", "predict"),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "model": str(out / "model.joblib"), "train": train, "holdout": holdout,
        "features": features, "pyfunc": pyfunc,
        "libraries": {"mlflow": mlflow.__version__, "scikit-learn": sklearn.__version__},
    }


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--model-version":
        try:
            answer = read_model_version(json.loads(argv[1]))
        except Refused as exc:
            json.dump({"refused": exc.answer}, sys.stdout)
            return 3
        json.dump(answer, sys.stdout)
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(read(argv[0], argv[1], argv[2:]), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
