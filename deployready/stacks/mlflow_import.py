"""Certification runs from an MLflow tracking store, appended to the workspace's history.

The runs are read by MLflow's own client (:mod:`deployready.stacks.mlflow_reader`), run
by a Python that has MLflow — deployready does not depend on it — and exchanged as
JSON. Each run becomes one history row:

- a column's value comes from the first of its sources the run has: ``metrics.NAME``,
  ``params.NAME``, ``tags.NAME``, ``artifacts.PATH`` (the artifact's text: JSON columns
  such as ``cv_folds`` are often logged as ``cv_folds.json``) or ``run.start_time`` /
  ``run.run_id``; ``--map COLUMN=SOURCE`` replaces a column's default sources;
- the link back is kept in two more columns: ``mlflow_run_id`` and ``mlflow_model_uri``
  (the run's first logged model, ``models:/…``; empty when it logged none).

Idempotent: a run whose MLflow run id (or run_id) the history already has is skipped.
All or nothing: every new run is mapped and validated before the first is written; a run
missing a required column is a HistoryError naming the run id and the keys looked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployready.certification.history import append_run, load_history
from deployready.certification.history_schema import (
    INT_COLUMNS,
    JSON_COLUMNS,
    OPTIONAL_COLUMNS,
    cell_value,
    check_scores,
    expected_of,
    required_columns,
)
from deployready.certification.metrics import METRIC_NAMES
from deployready.errors import HistoryError, InputError
from deployready.stacks.mlflow_source import reader_error, run_reader
from deployready.workspace import Workspace

LINK_COLUMNS: tuple[str, ...] = ("mlflow_run_id", "mlflow_model_uri")
SOURCE_KINDS: tuple[str, ...] = ("metrics", "params", "tags", "artifacts", "run")


def default_sources(column: str) -> list[str]:
    """Where a history column is looked for in a run, first match wins."""
    if column == "run_id":
        return ["params.run_id", "tags.run_id", "run.run_id"]
    if column == "trained_at":
        return ["tags.trained_at", "params.trained_at", "run.start_time"]
    if column in JSON_COLUMNS:
        return [f"params.{column}", f"tags.{column}", f"artifacts.{column}.json"]
    if column in (*METRIC_NAMES, "synthetic_ratio", "noise", *INT_COLUMNS):
        return [f"metrics.{column}", f"params.{column}", f"tags.{column}"]
    return [f"params.{column}", f"tags.{column}"]


def parse_map(items: Sequence[str]) -> dict[str, str]:
    """``COLUMN=SOURCE`` items as a dict; InputError naming the item otherwise."""
    out: dict[str, str] = {}
    for item in items:
        column, _, source = item.partition("=")
        kind = source.partition(".")[0]
        if not column or kind not in SOURCE_KINDS or "." not in source:
            raise InputError(f"bad mapping {item!r}", location="--map",
                             expected="COLUMN=SOURCE, SOURCE one of metrics.NAME, params.NAME, "
                             "tags.NAME, artifacts.PATH, run.start_time, run.run_id")
        out[column.strip()] = source.strip()
    return out


def _lookup(run: Mapping[str, Any], source: str) -> Any:
    kind, _, key = source.partition(".")
    if kind == "run":
        if key == "start_time" and run.get("start_time") is not None:
            return datetime.fromtimestamp(run["start_time"] / 1000, UTC).isoformat()
        return run.get(key)
    return (run.get(kind) or {}).get(key)


def _columns(policy_required: list[str], mapping: Mapping[str, str]) -> list[str]:
    wanted = [*policy_required, *METRIC_NAMES, "synthetic_ratio", "noise", *OPTIONAL_COLUMNS,
              *mapping]
    return list(dict.fromkeys(wanted))


def map_run(run: Mapping[str, Any], required: list[str], mapping: Mapping[str, str],
            source: Path) -> dict[str, Any]:
    """One history row of an MLflow run; HistoryError naming the run and the keys."""
    row: dict[str, Any] = {}
    for column in _columns(required, mapping):
        sources = [mapping[column]] if column in mapping else default_sources(column)
        value = next((v for s in sources if (v := _lookup(run, s)) is not None), None)
        if value is None:
            if column in required:
                raise HistoryError(
                    f"MLflow run {run['run_id']} has no {column}", source=source,
                    location=f"run {run['run_id']}, key {' / '.join(sources)}",
                    expected=expected_of(column) + " (or --map " + column + "=SOURCE)")
            continue
        row[column] = value
    row["mlflow_run_id"] = run["run_id"]
    row["mlflow_model_uri"] = (run.get("models") or [""])[0]
    return row


def _checked_row(row: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``row`` validated as the history validates it, JSON columns parsed."""
    where = f"MLflow run {row['mlflow_run_id']}"
    if not any(c in METRIC_NAMES for c in row):
        raise HistoryError(f"{where} has no metric", source=path, location=where,
                           expected="at least one of " + ", ".join(METRIC_NAMES))
    checked = {c: cell_value(c, v, path, f"{where}, column {c}") for c, v in row.items()}
    check_scores(checked, path, where)
    return checked


def read_runs(python: str | None, uri: str, experiment: str,
              artifacts: Sequence[str]) -> list[dict[str, Any]]:
    """The experiment's runs, read by ``python`` (default: this one, when it has MLflow)."""
    done = run_reader(python, [uri, experiment, *artifacts], uri)
    if done.returncode != 0:
        raise InputError(f"reading experiment {experiment!r} failed: "
                         f"{reader_error(done.stderr)}",
                         location="--tracking-uri", expected="a tracking store MLflow can read")
    runs: list[dict[str, Any]] = json.loads(done.stdout)["runs"]
    return runs


@dataclass
class ImportResult:
    history: Path
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"history": str(self.history), "imported": self.imported,
                "skipped": self.skipped}


def _known_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    history = load_history(path)
    known = {str(v) for v in history["run_id"]}
    if "mlflow_run_id" in history:
        known |= {str(v) for v in history["mlflow_run_id"] if v}
    return known


def import_runs(ws: Workspace | str | Path, runs: Sequence[Mapping[str, Any]],
                mapping: Mapping[str, str] | None = None) -> ImportResult:
    """Append the runs not yet in the history (oldest first); all validated first."""
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    path = history_file(ws)
    mapping = dict(mapping or {})
    policy = ws.policy()
    required = required_columns(policy)
    known = _known_ids(path)
    result = ImportResult(path)
    rows = []
    for run in sorted(runs, key=lambda r: r.get("start_time") or 0):
        if run["run_id"] in known:
            result.skipped.append(str(run["run_id"]))
            continue
        row = map_run(run, required, mapping, path)
        if str(row["run_id"]) in known:
            result.skipped.append(str(run["run_id"]))
            continue
        known.add(str(row["run_id"]))
        rows.append(_checked_row(row, path))
    path.parent.mkdir(parents=True, exist_ok=True)
    for row in rows:
        append_run(path, row, policy)
        result.imported.append(str(row["mlflow_run_id"]))
    return result


def history_file(ws: Workspace) -> Path:
    """The workspace's history file, or where a first run is written."""
    return ws.history_path() or ws.certification_dir / "history.csv"


def history_row(ws: Workspace, run: Mapping[str, Any], mapping: Mapping[str, str],
                model_uri: str = "") -> tuple[str, dict[str, Any] | None]:
    """The history run id of an MLflow run, and the row ``import_runs`` would append for it
    (validated, nothing written; ``model_uri`` as its ``mlflow_model_uri`` when given) —
    None when the history has the run already, by MLflow run id or by run_id."""
    path = history_file(ws)
    history = load_history(path) if path.exists() else None
    if history is not None and "mlflow_run_id" in history:
        same = history[history["mlflow_run_id"] == run["run_id"]]
        if len(same):
            return str(same["run_id"].iloc[0]), None
    row = map_run(run, required_columns(ws.policy()), mapping, path)
    if history is not None and str(row["run_id"]) in {str(v) for v in history["run_id"]}:
        return str(row["run_id"]), None
    if model_uri:
        row["mlflow_model_uri"] = model_uri
    return str(row["run_id"]), _checked_row(row, path)


def import_mlflow(ws: Workspace | str | Path, tracking_uri: str, experiment: str,
                  mapping: Mapping[str, str] | None = None,
                  python: str | None = None) -> ImportResult:
    """``import_runs`` of an experiment read from ``tracking_uri``."""
    mapping = dict(mapping or {})
    runs = read_runs(python, tracking_uri, experiment, wanted_artifacts(mapping))
    return import_runs(ws, runs, mapping)


def wanted_artifacts(mapping: Mapping[str, str]) -> list[str]:
    """The artifact paths a run's history row may come from (the JSON columns' and the
    mapping's)."""
    wanted = {s.partition(".")[2] for s in mapping.values() if s.startswith("artifacts.")}
    return sorted(wanted | {f"{c}.json" for c in JSON_COLUMNS})
