"""The certification history's evaluations, kept on disk so a fresh process does not redo
them.

Validating and evaluating a 10,000-run history takes seconds; a dashboard server started
afresh would pay that before its first page. :func:`history_evaluations` therefore keeps
the validated history and every run's checks in ``data/cache/certification-history.parquet``
beside the workspace's other data (not in ``data/certification``, which holds evidence
only), and answers from it while it still describes the history:

- it is keyed on the history file's **content** (its size and the SHA-256 of its bytes),
  the certification policy section and :data:`CACHE_VERSION` — never on a modification
  time — so any edit to any row, a truncation, a policy change or a new program version is
  a miss and the history is evaluated again — an appended run too (the whole history is
  evaluated again: a run's checks depend on the runs before it).
- it is Parquet read with pyarrow, never a pickle, and is checked on reading (version,
  key, columns and their types, row count, each status); a cache file that is unreadable,
  of another version or malformed in any way is ignored and the history evaluated again.
  It holds verdicts, so it is exactly as trusted as the data folder it lives in.
- it is written atomically (a temporary file renamed over the old one), so a reader sees
  the old cache or the new, never half of one, and of two concurrent writers the last
  rename wins with a complete file; a data folder that cannot be written only means the
  cache is not kept.

Within a process the answer is also remembered (:data:`HISTORY_MEMO`) until the file or
the policy changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.evaluation import evaluate_history
from deployready.certification.history import load_history
from deployready.certification.history_schema import HISTORY_FILE_EXPECTED, INT_COLUMNS
from deployready.certification.runs import RunEvaluation, RunEvaluations
from deployready.checks import Category, Check, Status
from deployready.errors import HistoryError, require_file
from deployready.memo import FileMemo, paused_gc, write_atomic
from deployready.policy import Policy

__all__ = ["CACHE_NAME", "CACHE_VERSION", "HISTORY_MEMO", "cache_path", "history_evaluations"]

CACHE_VERSION = 1
CACHE_NAME = "certification-history.parquet"
_META = b"deployready.history_cache"
_CHECK_FIELDS = ("name", "status", "value", "threshold", "message")


def _arrow_type(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import pyarrow as pa

        return getattr(pa, name)()

    return make


#: how each kind of history column is stored
_TYPES: dict[str, Callable[[], Any]] = {
    "text": _arrow_type("string"), "float": _arrow_type("float64"),
    "int": _arrow_type("int64"), "json": _arrow_type("string"),
}

Evaluated = tuple[pd.DataFrame, RunEvaluations]

#: (history, its evaluations) per history file and certification policy, in this process.
HISTORY_MEMO: FileMemo[Evaluated] = FileMemo(8)


def history_evaluations(path: Path, policy: Policy) -> Evaluated:
    """``load_history`` and ``evaluate_history`` of ``path``, remembered in this process
    until the file or the certification policy changes, and across processes in the
    workspace's cache (see the module). The frame and list are shared: do not modify."""
    require_file(path, HistoryError, expected=HISTORY_FILE_EXPECTED)
    return HISTORY_MEMO.compute([path], repr(policy.certification), lambda: _paused(path, policy))


def cache_path(history: Path) -> Path | None:
    """Where the cache of ``history`` lives: ``data/cache/`` of its workspace for
    ``data/certification/history.*``; None (no cache kept) for a file elsewhere."""
    folder = history.parent
    if folder.name != "certification" or folder.parent.name != "data":
        return None
    return folder.parent / "cache" / CACHE_NAME


def _paused(path: Path, policy: Policy) -> Evaluated:
    """:func:`_persisted` with the garbage collector paused (millions of objects made)."""
    with paused_gc():
        return _persisted(path, policy)


def _persisted(path: Path, policy: Policy) -> Evaluated:
    data = path.read_bytes()
    key = {
        "version": CACHE_VERSION,
        "source": str(path.resolve()),
        "policy": repr(policy.certification),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    target = cache_path(path)
    cached = _read(target, key) if target is not None else None
    decoded = _decode(cached, path, policy) if cached is not None else None
    if decoded is not None:
        return decoded
    history = load_history(path, policy)
    evaluations = evaluate_history(history, policy)
    if target is not None:
        _write(target, key, history, evaluations)
    return history, evaluations


# --------------------------------------------------------------------------- encoding


def _table(history: pd.DataFrame, evaluations: RunEvaluations) -> Any:
    """One row per run in ``trained_at`` order: the file row number, each history cell as
    JSON text, whether the run is green and each check's fields."""
    import pyarrow as pa

    columns: dict[str, Any] = {"row": pa.array(history.index.to_numpy(), pa.int64())}
    for name in history.columns:
        values = history[name].tolist()
        kind = _kind(values)
        columns[f"h:{name}"] = pa.array(
            [json.dumps(v) for v in values] if kind == "json" else values, _TYPES[kind]()
        )
    columns["green"] = pa.array([e.green for e in evaluations], pa.bool_())
    width = len(evaluations[0].checks) if evaluations else 0
    for j in range(width):
        checks = [e.checks[j] for e in evaluations]
        columns[f"c{j}:name"] = pa.array([c.name for c in checks], pa.string())
        columns[f"c{j}:status"] = pa.array([str(c.status) for c in checks], pa.string())
        columns[f"c{j}:value"] = pa.array([c.value for c in checks], pa.float64())
        columns[f"c{j}:threshold"] = pa.array([c.threshold for c in checks], pa.string())
        columns[f"c{j}:message"] = pa.array([c.message for c in checks], pa.string())
    return pa.table(columns)


def _write(target: Path, key: dict[str, Any], history: pd.DataFrame,
           evaluations: RunEvaluations) -> None:
    """Store the cache atomically; a failure (read-only folder, full disk, a value the
    cache cannot hold) only means there is no cache."""
    import pyarrow.parquet as pq

    if any(len(e.checks) != len(evaluations[0].checks) for e in evaluations):
        return
    try:
        table = _table(history, evaluations)
    except (TypeError, ValueError, OverflowError):  # e.g. a cell JSON cannot hold
        return
    kinds = [[str(c), _kind(history[c].tolist())] for c in history.columns]
    meta = {**key, "columns": kinds, "rows": len(history)}
    table = table.replace_schema_metadata({_META: json.dumps(meta).encode()})
    write_atomic(target, lambda handle: pq.write_table(table, handle))


def _read(target: Path, key: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
    """The cache's metadata and table when it is readable and made for ``key``."""
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(target)
        meta = json.loads((table.schema.metadata or {})[_META])
    except Exception:  # a missing, unreadable or foreign file: not a cache to use
        return None
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in key.items()):
        return None
    return meta, table


def _decode(cached: tuple[dict[str, Any], Any], path: Path, policy: Policy
            ) -> Evaluated | None:
    """The history and evaluations a cache holds; None when it is malformed."""
    try:
        return _decoded(*cached, path, policy)
    except Exception:  # any malformation: the history is evaluated again
        return None


def _decoded(meta: dict[str, Any], table: Any, path: Path, policy: Policy) -> Evaluated:
    rows = int(meta["rows"])
    if table.num_rows != rows or rows < 1:
        raise ValueError("row count")
    data = {str(n): _column(table, f"h:{n}", str(kind), rows) for n, kind in meta["columns"]}
    frame = pd.DataFrame(data, index=pd.RangeIndex(0, rows))
    frame.index = pd.Index(np.asarray(table.column("row").to_numpy(), dtype=np.int64),
                           name="row")
    for column in INT_COLUMNS:
        if column in frame and frame[column].notna().all():
            frame[column] = frame[column].astype(np.int64)
    frame.attrs["source"] = str(path)
    return frame, _evaluations(frame, table, list(policy.certification.metrics))


def _kind(values: list[Any]) -> str:
    """How a history column is stored: as text, numbers, or each cell as JSON text."""
    for kind, tp in (("text", str), ("float", float), ("int", int)):
        if all(type(v) is tp for v in values) and (
            kind != "int" or all(-(2**63) <= v < 2**63 for v in values)
        ):
            return kind
    return "json"


def _column(table: Any, name: str, kind: str, rows: int) -> list[Any]:
    column = table.column(name)
    if kind not in _TYPES or column.type != _TYPES[kind]() or column.null_count:
        raise ValueError(name)
    values = column.to_pylist()
    if kind == "json":
        values = json.loads("[" + ",".join(values) + "]")
    if len(values) != rows:
        raise ValueError(name)
    return list(values)


def _evaluations(frame: pd.DataFrame, table: Any, metrics: list[str]) -> RunEvaluations:
    """The runs' evaluations from the cached checks and the history's parsed cells: the
    columns at once, each run's record (the values
    :func:`~deployready.certification.evaluation.evaluate_run` gives) when asked for."""
    width = sum(1 for n in table.column_names if n.endswith(":name"))
    fields = [[table.column(f"c{j}:{f}").to_pylist() for f in _CHECK_FIELDS]
              for j in range(width)]
    statuses = {str(s): s for s in Status}
    for _, status, *_ in fields:
        if not set(status) <= set(statuses):
            raise ValueError("status")
    green = table.column("green").to_pylist()
    if not all(type(g) is bool for g in green):
        raise ValueError("green")
    cells = {c: frame[c].tolist() for c in ("run_id", "trained_at", "cv_metric", "cv_fold_scores",
                                           "cv_folds", "feature_entropy", "synthetic_ratio",
                                           "noise", *metrics)}

    def record(i: int) -> RunEvaluation:
        checks = [
            Check(str(name[i]), Category.CERTIFICATION, statuses[status[i]],
                  None if value[i] is None else float(value[i]), str(threshold[i]),
                  str(message[i]))
            for name, status, value, threshold, message in fields
        ]
        return RunEvaluation(
            run_id=str(cells["run_id"][i]),
            trained_at=str(cells["trained_at"][i]),
            checks=checks,
            green=green[i],
            metrics={m: float(cells[m][i]) for m in metrics},
            cv_metric=str(cells["cv_metric"][i]),
            cv_fold_scores=[float(v) for v in cells["cv_fold_scores"][i]],
            cv_folds=list(cells["cv_folds"][i]),
            feature_entropy={str(k): float(v)
                             for k, v in dict(cells["feature_entropy"][i]).items()},
            synthetic_ratio=float(cells["synthetic_ratio"][i]),
            noise=float(cells["noise"][i]),
        )

    return RunEvaluations(
        record,
        [str(r) for r in cells["run_id"]],
        [str(t) for t in cells["trained_at"]],
        green,
        {m: [float(v) for v in cells[m]] for m in metrics},
        {m: _passed(fields, m, len(green)) for m in metrics},
        _failing(fields, statuses, len(green)),
    )


def _failing(fields: list[list[list[Any]]], statuses: dict[str, Status], runs: int
             ) -> list[list[str]]:
    """Each run's checks that do not pass (as ``RunEvaluation.failing``), by name."""
    out: list[list[str]] = [[] for _ in range(runs)]
    for name, status, *_ in fields:
        for i, s in enumerate(status):
            if statuses[s] is not Status.PASS:
                out[i].append(str(name[i]))
    return out


def _passed(fields: list[list[list[Any]]], metric: str, runs: int) -> list[bool]:
    """Whether each run's first check named ``metric`` passes (as ``metric_check``)."""
    decided: list[bool | None] = [None] * runs
    for name, status, *_ in fields:
        if set(name) == {metric}:  # the metric's own column: every run at once
            return [d if d is not None else s == Status.PASS
                    for d, s in zip(decided, status, strict=True)]
        for i, (n, s) in enumerate(zip(name, status, strict=True)):
            if n == metric and decided[i] is None:
                decided[i] = s == Status.PASS
    return [bool(d) for d in decided]
