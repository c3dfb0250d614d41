"""Read an MLflow experiment's runs with MLflow's own client and print them as JSON.

Run by ``deployready import-mlflow`` with a Python that has MLflow (``--mlflow-python``;
deployready itself does not depend on MLflow, and this file imports nothing from it)::

    python mlflow_reader.py TRACKING_URI EXPERIMENT [ARTIFACT_PATH ...]

stdout: ``{"experiment_id", "runs": [{"run_id", "start_time", "status", "metrics",
"params", "tags", "artifact_uri", "artifacts": {path: text}, "models": [uri, ...]}]}``;
``artifacts`` holds each requested artifact path the run has (as text). Exit 3 with a
message on stderr when the experiment does not exist; MLflow's own errors exit 1.
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
    runs = []
    for run in client.search_runs([found.experiment_id], max_results=50_000,
                                  order_by=["attributes.start_time ASC"]):
        runs.append({
            "run_id": run.info.run_id,
            "start_time": run.info.start_time,
            "status": run.info.status,
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
            "artifact_uri": run.info.artifact_uri,
            "artifacts": _artifacts(client, run.info.run_id, wanted),
            "models": _models(client, found.experiment_id, run.info.run_id),
        })
    return {"experiment_id": found.experiment_id, "runs": runs}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    json.dump(read(sys.argv[1], sys.argv[2], sys.argv[3:]), sys.stdout)
