"""A package from an MLflow registered model version (``deployready export --from-mlflow``).

The version is resolved, its model loaded (sklearn flavour) and its source run's training
and holdout frames downloaded by MLflow's own client in a Python that has it
(:mod:`deployready.stacks.mlflow_source`); the package is then built exactly as
``export`` builds one from files (:func:`~deployready.package.export.export_package`:
the same validation, the same staging and versioning). Before anything is written:

- the model, loaded here, must predict exactly what MLflow's pyfunc of the registered
  model gives on the holdout (a scikit-learn that differs between the two Pythons, or a
  model that is not deterministic, is refused with the rows that differ);
- the source run must be in the certification history, or map onto a valid history row
  as ``import-mlflow`` maps runs (the same defaults and ``--map``): it is then appended
  after the package is placed, with ``mlflow_model_uri`` the registered version.

The link back — the run id, ``models:/NAME/VERSION``, the registered name, version and
the alias it was named by — is the package metadata's ``mlflow``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from deployready.certification.history import append_run
from deployready.errors import InputError
from deployready.package.export import PackageInfo, export_package
from deployready.package.inputs import checked_model, frame_features, read_frame
from deployready.package.pipeline import as_served, short_reason
from deployready.package.predict import predict_frame
from deployready.stacks.mlflow_import import history_file, history_row, wanted_artifacts
from deployready.stacks.mlflow_source import (
    HOLDOUT_ARTIFACT,
    TRAIN_ARTIFACT,
    ModelVersion,
    read_model_version,
)
from deployready.workspace import Workspace

SHOWN_ROWS = 3


@dataclass(frozen=True)
class MlflowExport:
    package: PackageInfo
    link: dict[str, str]  # the metadata's ``mlflow``
    history_run: str  # the package's run_id
    imported: bool  # whether the run was appended to the history

    def as_dict(self) -> dict[str, Any]:
        return {**self.link, "history_run": self.history_run, "imported": self.imported}


def export_from_mlflow(ws: Workspace | str | Path, model_uri: str, *, tracking_uri: str,
                       target: str, features: list[str] | None = None,
                       train_artifact: str = TRAIN_ARTIFACT,
                       holdout_artifact: str = HOLDOUT_ARTIFACT,
                       mapping: Mapping[str, str] | None = None, python: str | None = None,
                       description: str = "") -> MlflowExport:
    """A new package version from the registered model version ``model_uri``
    (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``) of ``tracking_uri``, read by
    ``python`` (default: this one, when it has MLflow). InputError (HistoryError for the
    run's history row) naming what is wrong, and nothing written, on any refusal."""
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    mapping = dict(mapping or {})
    with tempfile.TemporaryDirectory(prefix="deployready-mlflow-") as tmp:
        source = read_model_version(
            python, tracking_uri, model_uri, Path(tmp), target=target, features=features,
            train_artifact=train_artifact, holdout_artifact=holdout_artifact,
            artifacts=wanted_artifacts(mapping))
        model, train, holdout = _load(source, train_artifact, holdout_artifact)
    where = f"MLflow run {source.run_id}, artifact {train_artifact}"
    chosen = frame_features(train, target, features, where)
    if chosen != source.features:
        raise InputError(f"the features read by MLflow {source.features} are not {chosen}",
                         source=where, location="columns", expected="the same frame")
    model, scaler = checked_model(*as_served(model, train, chosen), train, chosen, target,
                                  holdout)
    check_same_predictions(source, model, scaler, holdout[chosen])
    run_id, row = history_row(ws, source.run, mapping, source.model_uri)
    info = export_package(ws, model=model, scaler=scaler, train=train, features=chosen,
                          target_column=target, holdout=holdout, run_id=run_id,
                          description=description, mlflow=source.link)
    if row is not None:
        append_run(history_file(ws), row, ws.policy())
    return MlflowExport(info, source.link, run_id, row is not None)


def _load(source: ModelVersion, train_artifact: str,
          holdout_artifact: str) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """The model and the frames as the reader wrote them, read here."""
    try:
        model = joblib.load(source.model_path)
    except Exception as exc:  # unpickling what another Python wrote can fail in many ways
        raise InputError(f"the model of {source.model_uri} cannot be loaded here: "
                         f"{short_reason(exc)}", location="--mlflow-python",
                         expected="an MLflow Python with this scikit-learn "
                         f"(it has {source.libraries.get('scikit-learn')})") from exc
    run = f"MLflow run {source.run_id}, artifact "
    return (model, read_frame(source.train_path, run + train_artifact),
            read_frame(source.holdout_path, run + holdout_artifact))


def check_same_predictions(source: ModelVersion, model: Any, scaler: Any,
                           rows: pd.DataFrame) -> None:
    """The model loaded here (split into the package's model and scaler, :func:`as_served`)
    predicts exactly what MLflow's pyfunc gave on ``rows`` (the holdout's features): the
    package's serving path when the pyfunc calls ``predict_proba``, else the same method.
    InputError naming the rows that differ."""
    theirs = np.asarray(source.pyfunc if source.pyfunc is not None else [])
    if source.predict_fn == "predict_proba":
        ours = predict_frame(model, scaler, list(rows.columns), rows)
        theirs = theirs[:, 1] if theirs.ndim == 2 and theirs.shape[1] > 1 else theirs
    elif source.predict_fn == "predict":
        ours = np.asarray(model.predict(scaler.transform(rows)))
    else:
        raise InputError(f"MLflow's pyfunc of {source.model_uri} calls {source.predict_fn}",
                         location="--from-mlflow", expected="a model logged with "
                         "pyfunc_predict_fn='predict_proba' (or the default 'predict')")
    differ = differing_rows(ours, theirs)
    if differ:
        shown = "; ".join(f"row {i}: {_at(ours, i)} here, {_at(theirs, i)} in MLflow"
                          for i in differ[:SHOWN_ROWS])
        raise InputError(
            f"{source.model_uri} predicts differently here than MLflow's pyfunc "
            f"({source.predict_fn}) on {len(differ)} of {len(rows)} holdout rows ({shown})",
            location="--from-mlflow",
            expected="a package that predicts exactly as the registered model: the same "
            f"scikit-learn in --mlflow-python ({source.libraries.get('scikit-learn')}) as "
            f"here ({_sklearn_version()}) and a deterministic model")


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def _at(values: np.ndarray, i: int) -> str:
    return repr(values[i].tolist()) if i < len(values) else "nothing"


def differing_rows(ours: np.ndarray, theirs: np.ndarray) -> list[int]:
    """The rows (0-based) where two predictions are not equal, bit for bit (NaN equals
    NaN); every row when the shapes differ."""
    if ours.ndim == 0 or ours.shape != theirs.shape:
        return list(range(max(len(np.atleast_1d(ours)), len(np.atleast_1d(theirs)))))
    a, b = ours.reshape(len(ours), -1), theirs.reshape(len(theirs), -1)
    try:
        same = np.asarray(a == b, dtype=bool)
    except (TypeError, ValueError):  # values of kinds that do not compare
        return list(range(len(a)))
    if same.shape != a.shape:  # nor element by element
        return list(range(len(a)))
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        same |= np.isnan(a) & np.isnan(b)
    return [int(i) for i in np.flatnonzero(~same.all(axis=1))]
