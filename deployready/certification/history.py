"""The certification history: one row per retrain run, in CSV, Parquet or JSON lines.

The history lives in ``data/certification/history.{csv,parquet,jsonl}``.
:func:`load_history` reads and strictly validates any of the three formats;
:func:`append_run` appends one run atomically (under a lock on the folder), keeping the
file's format and columns. The rows are computed by
:func:`deployready.certification.training.record_run` and evaluated by
:mod:`deployready.certification.checks`.

History columns: ``run_id``, ``trained_at`` (ISO 8601; without a UTC offset it is read
as UTC), ``model_version``, one column per metric, ``cv_metric``, ``cv_fold_scores``
(JSON list), ``cv_folds`` (JSON list of fold objects), ``synthetic_ratio``, ``noise``,
``feature_entropy`` (JSON object feature → value), ``n_train``, ``n_test``, ``n_real``,
``n_synthetic``, ``dataset_sha256``, ``notes``. In CSV and Parquet the JSON columns hold
JSON text, in JSONL native lists and objects. Rows are numbered 1, 2, ... in file order
(the first data row is row 1), which is how errors and evidence name them.

Every value is checked against what :func:`~deployready.certification.training.record_run` can
compute, so a hand-edited or foreign row cannot turn a check green:

- each metric column lies in its metric's interval (:attr:`MetricSpec.bounds
  <deployready.certification.metrics.MetricSpec.bounds>`: ``[0, 1]``, ``log_loss``
  ``[0, inf)``), and
  so does every CV fold score (the interval of the row's ``cv_metric``, also for a
  fold object's own ``score``);
- ``synthetic_ratio >= 1``, ``noise >= 0``, every ``feature_entropy`` value in
  ``[0, 1]``, the counts whole numbers ``>= 0``;
- ``trained_at`` and every fold bound are ISO 8601 text or a stored timestamp — a bare
  number (seconds? nanoseconds?) or a boolean is refused;
- a column may appear once: a duplicated CSV/Parquet column name or JSON key (also
  inside a JSON cell) is refused, never silently dropped.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.metrics import METRIC_NAMES, REGISTRY
from deployready.errors import HistoryError, InputError, require_file
from deployready.policy import Policy

FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
HISTORY_STEM = "history"
HISTORY_FILE_EXPECTED = "a history file: .csv, .parquet or .jsonl"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "trained_at",
    "cv_metric",
    "cv_fold_scores",
    "cv_folds",
    "synthetic_ratio",
    "noise",
    "feature_entropy",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "model_version",
    "n_train",
    "n_test",
    "n_real",
    "n_synthetic",
    "dataset_sha256",
    "notes",
)
JSON_COLUMNS: tuple[str, ...] = ("cv_fold_scores", "cv_folds", "feature_entropy")
INT_COLUMNS: tuple[str, ...] = ("n_train", "n_test", "n_real", "n_synthetic")
FOLD_KEYS: tuple[str, ...] = ("train_start", "train_end", "test_start", "test_end")
#: The closed interval of each evidence column (each value, for ``feature_entropy``);
#: the metric columns and fold scores take theirs from the metric registry.
EVIDENCE_BOUNDS: dict[str, tuple[float, float]] = {
    "synthetic_ratio": (1.0, math.inf),  # (real + synthetic) / real training rows
    "noise": (0.0, math.inf),  # a median distance
    "feature_entropy": (0.0, 1.0),  # normalized entropy
}


def column_order(metrics: Sequence[str] = METRIC_NAMES) -> list[str]:
    return [
        "run_id",
        "trained_at",
        "model_version",
        *metrics,
        "cv_metric",
        "cv_fold_scores",
        "cv_folds",
        "synthetic_ratio",
        "noise",
        "feature_entropy",
        *INT_COLUMNS,
        "dataset_sha256",
        "notes",
    ]


# --------------------------------------------------------------------------- reading


def parse_time(value: Any) -> datetime:
    """An ISO 8601 time as an aware datetime (naive = UTC); ValueError otherwise — also
    for a number, which could be seconds, milliseconds or nanoseconds since 1970."""
    if value is pd.NaT:
        raise ValueError("missing time (NaT)")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool | int | float | np.number):
        raise ValueError(f"a bare number is not a time: {value!r} (seconds? nanoseconds?)")
    elif isinstance(value, str) and value.strip():
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float) and math.isnan(value)


def as_number(value: Any) -> float:
    """A finite number (numeric text included); ValueError otherwise (booleans too)."""
    if isinstance(value, bool):
        raise ValueError("a boolean")
    try:
        if isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            raise ValueError(f"{type(value).__name__}")
    except OverflowError:
        raise ValueError("too large for a number") from None
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice (``json`` would silently keep the last)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicated key {key!r}")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses a key repeated in any object (DuplicateKeyError)."""
    return json.loads(text, object_pairs_hook=_unique_object)


def as_json(value: Any) -> Any:
    """A JSON cell as Python: text is parsed (CSV, Parquet), anything else is as read."""
    return loads_strict(value) if isinstance(value, str) else value


def bounds_of(column: str) -> tuple[float, float] | None:
    """The closed interval of a numeric history column (None: not range-checked here)."""
    if column in REGISTRY:
        return REGISTRY[column].bounds
    return EVIDENCE_BOUNDS.get(column)


def _bounds_text(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f">= {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g}]"


def in_bounds(number: float, bounds: tuple[float, float] | None) -> float:
    """``number`` when inside ``bounds`` (closed); ValueError saying so otherwise."""
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"out of range: not {_bounds_text(bounds)}")
    return number


def _read_raw(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in FORMATS:
        raise HistoryError(
            f"unknown history format {path.suffix!r}",
            source=path,
            expected="history.csv, history.parquet or history.jsonl",
        )
    require_file(path, HistoryError, expected=HISTORY_FILE_EXPECTED)
    if path.stat().st_size == 0:
        raise HistoryError(
            "empty file", source=path, expected="a header and one row per retrain run"
        )
    if suffix == "csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        except pd.errors.EmptyDataError:
            raise HistoryError(
                "empty file", source=path, expected="a header and one row per retrain run"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise HistoryError(f"not readable as CSV: {exc}", source=path) from exc
        _refuse_duplicates(path, _csv_header(path))  # pandas renames them noise.1, ...
        return frame
    if suffix == "parquet":
        try:
            import pyarrow.parquet as pq

            names = [str(n) for n in pq.read_schema(path).names]
            _refuse_duplicates(path, names)
            return pd.read_parquet(path)
        except HistoryError:
            raise
        except Exception as exc:  # pyarrow raises several unrelated types
            raise HistoryError(
                f"not readable as Parquet: {exc}", source=path, expected="a Parquet file"
            ) from exc
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise HistoryError("not UTF-8 text", source=path, expected="JSON lines") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_unique_object)
        except json.JSONDecodeError as exc:
            raise HistoryError(
                f"malformed JSON: {exc.msg}",
                source=path,
                location=f"line {number}",
                expected="one JSON object per line",
            ) from None
        except DuplicateKeyError as exc:
            raise HistoryError(
                f"duplicated key {exc.key!r}",
                source=path,
                location=f"line {number}",
                expected="each column once per run (and each key once per JSON object)",
            ) from None
        if not isinstance(record, dict):
            raise HistoryError(
                "not a JSON object",
                source=path,
                location=f"line {number}",
                expected="one JSON object per line",
            )
        records.append(record)
    if not records:
        raise HistoryError("empty file", source=path, expected="one JSON object per retrain run")
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return pd.DataFrame.from_records(records, columns=list(columns))


def _csv_header(path: Path) -> list[str]:
    """The header row of a CSV file as written (pandas renames a repeated name)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.reader(fh):
            if any(cell.strip() for cell in row):
                return row
    return []


def _refuse_duplicates(path: Path, names: Sequence[str]) -> None:
    seen: set[str] = set()
    repeated = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if repeated:
        shown = ", ".join(dict.fromkeys(repeated))
        raise HistoryError(
            f"duplicated column(s) {shown}",
            source=path,
            location="header",
            expected="each column once",
        )


def _check_json(column: str, value: Any) -> Any:
    """Parse and validate one JSON cell; ValueError with a reason otherwise."""
    try:
        parsed = as_json(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None
    if column == "cv_fold_scores":
        if not isinstance(parsed, list):
            raise ValueError("not a JSON list")
        return [as_number(v) for v in parsed]
    if column == "cv_folds":
        if not isinstance(parsed, list) or not all(isinstance(f, dict) for f in parsed):
            raise ValueError("not a JSON list of fold objects")
        for i, fold in enumerate(parsed, start=1):
            for key in FOLD_KEYS:
                if key not in fold:
                    raise ValueError(f"fold {i} has no {key}")
                try:
                    parse_time(fold[key])
                except ValueError as exc:
                    raise ValueError(f"fold {i} {key}: {exc}") from None
            for key in ("n_train", "n_test"):
                if key in fold:
                    try:
                        _count(fold[key])
                    except ValueError as exc:
                        raise ValueError(f"fold {i} {key}: {exc}") from None
            if "score" in fold:
                try:
                    as_number(fold["score"])
                except ValueError as exc:
                    raise ValueError(f"fold {i} score: {exc}") from None
        return parsed
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    bounds = EVIDENCE_BOUNDS["feature_entropy"]
    out: dict[str, float] = {}
    for key, v in parsed.items():
        try:
            out[str(key)] = in_bounds(as_number(v), bounds)
        except ValueError as exc:
            raise ValueError(f"feature {key!r}: {exc}") from None
    return out


def _count(value: Any) -> int:
    number = as_number(value)
    if number < 0 or number != int(number):
        raise ValueError("not a count")
    return int(number)


def _check_scores(values: Mapping[str, Any], path: Path, where: str) -> None:
    """The fold scores of a validated run lie in its ``cv_metric``'s interval."""
    metric = values.get("cv_metric")
    if metric not in REGISTRY:
        return
    bounds = REGISTRY[metric].bounds
    scores = values.get("cv_fold_scores") or []
    folds = values.get("cv_folds") or []
    found = [("cv_fold_scores", f"score {i}", s) for i, s in enumerate(scores, start=1)]
    found += [
        ("cv_folds", f"fold {i} score", as_number(f["score"]))
        for i, f in enumerate(folds, start=1)
        if isinstance(f, dict) and "score" in f
    ]
    for column, which, score in found:
        try:
            in_bounds(score, bounds)
        except ValueError as exc:
            raise HistoryError(
                f"bad value {score!r}: {which} is {exc} for cv_metric {metric}",
                source=path,
                location=f"{where}, column {column}",
                expected=f"{metric} scores {_bounds_text(bounds)}",
            ) from None


def load_history(path: str | Path, policy: Policy | None = None) -> pd.DataFrame:
    """Read and strictly validate a certification history (any of the three formats).

    Required columns: :data:`REQUIRED_COLUMNS`, at least one registry metric, and every
    metric of ``policy`` when given. Every registry-metric column must hold finite
    numbers. Returns the rows sorted by ``trained_at`` (stable), the JSON columns parsed,
    indexed by their 1-based row number in the file; ``df.attrs["source"]`` is the path.
    """
    path = Path(path)
    raw = _read_raw(path)
    if len(raw) == 0:
        raise HistoryError("no retrain runs", source=path, expected="one row per retrain run")
    columns = [str(c) for c in raw.columns]
    raw.columns = columns
    required = _required_columns(policy)
    for column in required:
        if column not in columns:
            raise HistoryError(
                f"missing column {column}",
                source=path,
                location=f"column {column}",
                expected="columns " + ", ".join(column_order()[:8]) + ", ...",
            )
    metric_columns = [c for c in columns if c in METRIC_NAMES]
    if not metric_columns:
        raise HistoryError(
            "no metric column", source=path, expected="at least one of " + ", ".join(METRIC_NAMES)
        )
    out: dict[str, list[Any]] = {c: [] for c in columns}
    seen: dict[str, int] = {}
    times: list[datetime] = []
    for i, record in enumerate(raw.to_dict("records"), start=1):
        for column in columns:
            value = _cell_value(column, record[column], path, f"row {i}, column {column}")
            if column == "trained_at":
                times.append(parse_time(value))
            out[column].append(value)
        _check_scores({c: out[c][-1] for c in columns}, path, f"row {i}")
        run_id = out["run_id"][-1]
        if run_id in seen:
            raise HistoryError(
                f"duplicate run_id {run_id!r} (also row {seen[run_id]})",
                source=path,
                location=f"row {i}, column run_id",
                expected="unique run ids",
            )
        seen[run_id] = i
    frame = pd.DataFrame(out, index=pd.RangeIndex(1, len(raw) + 1, name="row"))
    for column in INT_COLUMNS:
        if column in frame and frame[column].notna().all():
            frame[column] = frame[column].astype(np.int64)
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    frame = frame.iloc[order]
    frame.attrs["source"] = str(path)
    return frame


def _cell_value(column: str, value: Any, path: Path, where: str) -> Any:
    """One validated history cell (JSON columns parsed); HistoryError naming ``where``."""
    original = value
    try:
        if column in METRIC_NAMES or column in ("synthetic_ratio", "noise"):
            if _is_missing(value):
                raise ValueError("missing value")
            return in_bounds(as_number(value), bounds_of(column))
        if column in INT_COLUMNS:
            if _is_missing(value):
                return None
            return _count(value)
        if column in JSON_COLUMNS:
            return _check_json(column, value)
        if column == "trained_at":
            parsed = parse_time(value)
            return value if isinstance(value, str) else parsed.isoformat()
        if column in ("run_id", "cv_metric"):
            if _is_missing(value):
                raise ValueError("missing value")
            value = str(value)
            if column == "cv_metric" and value not in METRIC_NAMES:
                raise ValueError("unknown metric " + repr(value))
            return value
        if column in OPTIONAL_COLUMNS:
            return "" if _is_missing(value) else str(value)
    except (ValueError, TypeError) as exc:
        shown = repr(original)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise HistoryError(
            f"bad value {shown}: {exc}",
            source=path,
            location=where,
            expected=_expected(column),
        ) from None
    return value


def _expected(column: str) -> str:
    if column in METRIC_NAMES or column in ("synthetic_ratio", "noise"):
        bounds = bounds_of(column)
        return "a finite number" + (f" {_bounds_text(bounds)}" if bounds else "")
    if column in INT_COLUMNS:
        return "a whole number >= 0"
    if column == "trained_at":
        return "an ISO 8601 time, e.g. 2024-05-01T12:00:00+00:00"
    if column == "cv_fold_scores":
        return "a JSON list of numbers"
    if column == "cv_folds":
        return "a JSON list of objects with " + ", ".join(FOLD_KEYS) + " (ISO 8601 times)"
    if column == "feature_entropy":
        return "a JSON object feature -> number in [0, 1], each feature once"
    if column == "cv_metric":
        return "one of " + ", ".join(METRIC_NAMES)
    return "a non-empty string"


# --------------------------------------------------------------------------- writing


def resolve_history_path(path: str | Path) -> Path:
    """A history file path; a folder means its existing history file, else history.csv."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() in FORMATS:
        return path
    if path.suffix == "" and (path.is_dir() or not path.exists()):
        for fmt in FORMATS:
            candidate = path / f"{HISTORY_STEM}.{fmt}"
            if candidate.exists():
                return candidate
        return path / f"{HISTORY_STEM}.csv"
    raise InputError(
        f"unknown history format {path.suffix!r}",
        source=path,
        expected="a .csv, .parquet or .jsonl file, or a folder",
    )


def _cell(column: str, value: Any, fmt: str) -> Any:
    if column in JSON_COLUMNS and fmt != "jsonl":
        return json.dumps(value, allow_nan=False)
    return value


def _write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    fmt = path.suffix.lstrip(".").lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if fmt == "jsonl":
                text = "".join(
                    json.dumps({c: r.get(c) for c in columns}, allow_nan=False) + "\n" for r in rows
                )
                handle.write(text.encode("utf-8"))
            else:
                frame = pd.DataFrame(
                    [{c: _cell(c, r.get(c), fmt) for c in columns} for r in rows], columns=columns
                )
                if fmt == "csv":
                    handle.write(frame.to_csv(index=False).encode("utf-8"))
                else:
                    frame.to_parquet(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Temporary files of writers killed before their rename (only called under the lock,
    which every writer of ``path`` holds while its temporary file exists)."""
    prefix = f".{path.name}."
    for stale in path.parent.iterdir():
        if stale.name.startswith(prefix) and stale.name.endswith(".tmp") and stale.is_file():
            with contextlib.suppress(OSError):
                stale.unlink()


def append_run(path: str | Path, row: Mapping[str, Any], policy: Policy | None = None) -> Path:
    """Append one run to a history file atomically, keeping the file's format and columns.

    The existing file is read and validated first (a malformed history is never
    overwritten). Registry metrics the existing file does not have are not added (all
    earlier rows would lack them), unless ``policy`` requires them: then appending is an
    error. Other new columns are added, empty for earlier rows.
    """
    path = resolve_history_path(path)
    _check_new_run(path, row, policy)
    with _locked(path.parent):
        _remove_stale_temps(path)
        rows: list[dict[str, Any]] = []
        columns = list(row)
        if os.path.lexists(path):  # a broken link or a folder is refused, never replaced
            existing = load_history(path).sort_index()
            if str(row["run_id"]) in set(existing["run_id"]):
                raise HistoryError(
                    f"run_id {row['run_id']!r} is already recorded",
                    source=path,
                    location="column run_id",
                    expected="a new run id",
                )
            old = [str(c) for c in existing.columns]
            required = set(policy.certification.metrics) if policy else set()
            for name in sorted(required - set(old)):
                raise HistoryError(
                    f"missing column {name}: cannot append a run measuring it",
                    source=path,
                    location=f"column {name}",
                    expected="a history with every policy metric",
                )
            columns = old + [c for c in row if c not in old and c not in METRIC_NAMES]
            rows = [{c: _plain(v) for c, v in r.items()} for r in existing.to_dict("records")]
        rows.append(dict(row))
        _write_rows(path, rows, columns)
    return path


def _required_columns(policy: Policy | None) -> list[str]:
    """The columns every run must have: the fixed ones, with the policy's metrics."""
    required = list(REQUIRED_COLUMNS)
    if policy is not None:
        required[2:2] = list(policy.certification.metrics)
    return required


def _check_new_run(path: Path, row: Mapping[str, Any], policy: Policy | None) -> None:
    """Validate a run before it is written: a bad run must never reach the file."""
    where = f"new run {row.get('run_id')!r}"
    required = _required_columns(policy)
    for column in required:
        if column not in row:
            raise HistoryError(
                f"the new run has no {column}",
                source=path,
                location=f"{where}, column {column}",
                expected=_expected(column),
            )
    if not any(str(c) in METRIC_NAMES for c in row):
        raise HistoryError(
            "the new run has no metric",
            source=path,
            location=where,
            expected="at least one of " + ", ".join(METRIC_NAMES),
        )
    checked = {
        str(column): _cell_value(str(column), value, path, f"{where}, column {column}")
        for column, value in row.items()
    }
    _check_scores(checked, path, where)
    try:
        json.dumps({str(k): v for k, v in row.items()}, allow_nan=False, default=_json_default)
    except (ValueError, TypeError) as exc:
        raise HistoryError(
            f"the new run cannot be stored: {exc}",
            source=path,
            location=where,
            expected="finite numbers, strings, lists and objects",
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
