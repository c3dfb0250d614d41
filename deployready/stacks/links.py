"""The link back from a certification run to MLflow: the MLflow run id and model URI
that ``import-mlflow`` kept in the history, by history run id, and the registered model
version a package was exported from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from deployready.certification.history import load_history
from deployready.certification.history_cache import history_evaluations
from deployready.errors import HistoryError
from deployready.policy import Policy


def mlflow_links(history: str | Path | None,
                 policy: Policy | None = None) -> dict[str, dict[str, str]]:
    """run_id -> {"mlflow_run_id", "mlflow_model_uri"} for the runs imported from MLflow
    (none for a history without them, or no history). With the workspace's ``policy``,
    the history is the one the certification evaluated (remembered in this process and
    cached on disk: a 10,000-run history is not validated again for its links); a
    history that policy cannot evaluate is read on its own, as without one."""
    if history is None or not Path(history).exists():
        return {}
    path = Path(history)
    if policy is not None:
        try:
            return mlflow_links_of(history_evaluations(path, policy)[0])
        except HistoryError:
            pass  # read on its own below: its links, or the error of the file itself
    return mlflow_links_of(load_history(path))


def mlflow_links_of(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """``mlflow_links`` of an already loaded history frame."""
    if "mlflow_run_id" not in frame:
        return {}
    uris = frame["mlflow_model_uri"] if "mlflow_model_uri" in frame else [""] * len(frame)
    return {
        str(run): {"mlflow_run_id": str(mlflow), "mlflow_model_uri": str(uri or "")}
        for run, mlflow, uri in zip(frame["run_id"], frame["mlflow_run_id"], uris, strict=True)
        if mlflow
    }


def package_link(meta: Mapping[str, Any], links: Mapping[str, dict[str, str]]) -> dict[str, str]:
    """The MLflow link of a package: the registered model version it was exported from
    (its metadata's ``mlflow``: ``export --from-mlflow``), else the link its run was
    imported with; ``{}`` for neither. Keys ``mlflow_run_id`` and ``mlflow_model_uri``."""
    own = meta.get("mlflow")
    if isinstance(own, Mapping) and own.get("run_id"):
        return {"mlflow_run_id": str(own["run_id"]),
                "mlflow_model_uri": str(own.get("model_uri") or "")}
    return dict(links.get(str(meta.get("run_id") or ""), {}))
