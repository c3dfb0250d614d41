"""The certification history's files: reading a CSV, Parquet or JSON-lines history into a
raw frame (duplicated columns refused), and writing rows atomically under a folder lock."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.certification.history_schema import (
    FORMATS,
    HISTORY_FILE_EXPECTED,
    JSON_COLUMNS,
    DuplicateKeyError,
    unique_object,
)
from deployready.errors import HistoryError, require_file


def read_raw(path: Path) -> pd.DataFrame:
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
        return _read_csv(path)
    if suffix == "parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def _read_csv(path: Path) -> pd.DataFrame:
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


def _read_parquet(path: Path) -> pd.DataFrame:
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


def _read_jsonl(path: Path) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise HistoryError("not UTF-8 text", source=path, expected="JSON lines") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=unique_object)
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


def _cell(column: str, value: Any, fmt: str) -> Any:
    if column in JSON_COLUMNS and fmt != "jsonl":
        return json.dumps(value, allow_nan=False)
    return value


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
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
def locked(folder: Path) -> Iterator[None]:
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


def remove_stale_temps(path: Path) -> None:
    """Temporary files of writers killed before their rename (only called under the lock,
    which every writer of ``path`` holds while its temporary file exists)."""
    prefix = f".{path.name}."
    for stale in path.parent.iterdir():
        if stale.name.startswith(prefix) and stale.name.endswith(".tmp") and stale.is_file():
            with contextlib.suppress(OSError):
                stale.unlink()


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
