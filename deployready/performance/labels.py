"""Ground-truth labels: one strict loader for every file under ``data/labels/``.

A label file (``.csv``, ``.parquet`` or ``.jsonl``, one JSON object per line) has the
columns ``request_id`` (the id ``deployready serve`` answered with), ``label`` (the true
class: ``0``/``1``, also as text ``"0"``/``"1"`` or ``true``/``false``, case and
surrounding spaces aside) and ``labeled_at`` (when the label became known: ISO 8601,
the logs' timestamp rule — UTC when no offset is given). Other columns are ignored.
Rows are numbered from 1 without the header (JSON lines: the n-th object).

Refused, naming the file, the row and the column (:class:`LabelError`): a folder, broken
link or FIFO at a label file's name; a file that cannot be read; a missing or duplicated
column; a missing request id; a missing label, or one outside the model's classes; a
missing or unparseable ``labeled_at``, or one more than 24 h after the current time.
A 0-byte or header-only file holds no labels. Hidden files (a name starting with ``.``,
such as an import in progress) are not label files.

Across files (:func:`dedupe`): the same request id labelled twice with the same label
is one label, the earliest ``labeled_at`` (ties: the first file, then the first row);
the same id with two different labels is an error naming both files and rows. A label
whose id is on no logged prediction is not an error: it is counted as *unmatched* (see
:mod:`deployready.performance.join`).

Two readers give identical results: this module (pyarrow and pandas, for small inputs)
and :mod:`deployready.performance.labels_sql` (DuckDB, scanning the files in place).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deployready.errors import LabelError, read_file, require_file
from deployready.memo import FileMemo
from deployready.monitoring.logs_schema import (
    FUTURE_EXPECTED,
    TIMESTAMP_PATTERN,
    future_limit,
)

LABEL_COLUMNS: tuple[str, ...] = ("request_id", "label", "labeled_at")
LABEL_SUFFIXES = (".csv", ".parquet", ".jsonl")
FILE_EXPECTED = "a label file (.csv, .parquet or .jsonl) with request_id, label, labeled_at"
#: The label texts (lower-cased, spaces around removed) and the class each means.
CLASSES: dict[str, float] = {"0": 0.0, "1": 1.0, "false": 0.0, "true": 1.0}
CLASS_EXPECTED = "0 or 1 (also \"0\"/\"1\" or true/false)"
TIME_EXPECTED = "ISO 8601, e.g. 2026-01-31T12:00:00Z"
#: (column, message, expected) of each row rule, in the order they are checked.
RULES: tuple[tuple[str, str, str], ...] = (
    ("request_id", "missing request id", "the id the prediction was answered with"),
    ("label", "missing label", CLASS_EXPECTED),
    ("label", "label outside the model's classes", CLASS_EXPECTED),
    ("labeled_at", "missing or unparseable labeled_at", TIME_EXPECTED),
    ("labeled_at", "labeled_at in the future", FUTURE_EXPECTED),
)
#: The columns of a validated label frame.
FRAME_COLUMNS = ["request_id", "label", "labeled_at", "file", "row"]


def label_files(directory: str | Path) -> list[Path]:
    """Every label file under ``directory`` (sorted); a label file's name on a folder, a
    broken link or a FIFO is an error naming it, never silently missing labels."""
    directory = Path(directory)
    if not directory.is_dir():
        if directory.exists():
            raise LabelError("is a file, not a folder", source=directory,
                             expected="a folder of label files")
        return []
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in LABEL_SUFFIXES
                   and not p.name.startswith("."))
    for path in files:
        require_file(path, LabelError, expected=FILE_EXPECTED)
    return files


def empty_labels() -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": pd.Series([], dtype=object), "label": pd.Series([], dtype=np.float64),
        "labeled_at": pd.Series([], dtype="datetime64[ns, UTC]"),
        "file": pd.Series([], dtype=object), "row": pd.Series([], dtype=np.int64)})


def row_error(path: Path, row: int, rule: int, value: Any, count: int) -> LabelError:
    """The first row ``rule`` refuses (``row`` 1-based, ``count`` rows in all)."""
    column, message, expected = RULES[rule]
    more = f" ({count} rows in all)" if count > 1 else ""
    return LabelError(f"{message}: {value!r}{more}", source=path,
                      location=f"row {row}, column {column}", expected=expected)


def check_columns(path: Path, names: Sequence[str]) -> None:
    """The header: each label column once (names compared without regard to case)."""
    folded = [n.casefold() for n in names]
    dups = sorted({n for n in names if folded.count(n.casefold()) > 1})
    if dups:
        raise LabelError(f"duplicated column(s) {', '.join(dups)}", source=path,
                         location="header", expected="each column once")
    missing = [c for c in LABEL_COLUMNS if c not in names]
    if missing:
        raise LabelError(f"missing column(s) {', '.join(missing)}", source=path,
                         location="header", expected="columns " + ", ".join(LABEL_COLUMNS))


# --------------------------------------------------------------------------- reading


def cell_text(value: Any) -> str | None:
    """A stored value as the text the rules read (the DuckDB reader's rule too): text as
    it is, a boolean as true/false, an integral number without its fraction."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _columns(path: Path) -> tuple[dict[str, list[Any]], pd.Series | None]:
    """The three columns of a file as cell texts, and ``labeled_at`` when stored as a
    timestamp (Parquet)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return _jsonl_columns(path), None
        if suffix == ".parquet":
            check_columns(path, pq.read_schema(path).names)
            table = pq.read_table(path, columns=list(LABEL_COLUMNS))
        else:
            table = _csv_table(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise LabelError(f"cannot read: {reason}", source=path, expected=FILE_EXPECTED) from exc
    stamps = None
    if pa.types.is_timestamp(table.column("labeled_at").type):
        ts = pd.Series(table.column("labeled_at").to_pandas())
        stamps = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return {c: [cell_text(v) for v in table.column(c).to_pylist()]
            for c in LABEL_COLUMNS}, stamps


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV label file (a BOM is not part of a name)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _csv_table(path: Path) -> pa.Table:
    """The label columns of a CSV as text; a header alone is no rows."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        names = next(csv.reader(fh), [])
        rest = fh.read(1)
    check_columns(path, names)
    if not rest.strip():
        return pa.table({n: pa.array([], pa.string()) for n in LABEL_COLUMNS})
    options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                   strings_can_be_null=True, quoted_strings_can_be_null=False,
                                   null_values=[""], include_columns=list(LABEL_COLUMNS))
    return pacsv.read_csv(path, convert_options=options)


def _jsonl_columns(path: Path) -> dict[str, list[Any]]:
    text = read_file(path, LabelError, expected=FILE_EXPECTED).decode("utf-8")
    out: dict[str, list[Any]] = {c: [] for c in LABEL_COLUMNS}
    records = (line for line in text.splitlines() if line.strip())
    for n, line in enumerate(records, start=1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise LabelError(f"not JSON: {exc}", source=path, location=f"row {n}",
                             expected="one JSON object per line") from None
        if not isinstance(record, dict):
            raise LabelError("not a JSON object", source=path, location=f"row {n}",
                             expected="one JSON object per line") from None
        for c in LABEL_COLUMNS:
            out[c].append(cell_text(record.get(c)))
    return out


def _parse_times(texts: list[Any]) -> pd.Series:
    syntax = re.compile(TIMESTAMP_PATTERN)
    ok = [t if isinstance(t, str) and syntax.fullmatch(t) else None for t in texts]
    return pd.to_datetime(pd.Series(ok, dtype=object), utc=True, format="ISO8601",
                          errors="coerce")


def read_label_file(path: str | Path) -> pd.DataFrame:
    """Read and validate one label file: columns request_id, label (0.0/1.0),
    labeled_at (UTC), file, row (1-based). Raises :class:`LabelError` naming the file,
    row and column. A 0-byte or header-only file gives no rows."""
    path = Path(path)
    require_file(path, LabelError, expected=FILE_EXPECTED)
    if path.stat().st_size == 0:
        return empty_labels()
    cols, stamps = _columns(path)
    ids, labels = cols["request_id"], cols["label"]
    if not ids:
        return empty_labels()
    folded = [None if v is None else v.strip(" ").lower() for v in labels]
    times = stamps if stamps is not None else _parse_times(cols["labeled_at"])
    shown_times = cols["labeled_at"] if stamps is None else [None] * len(ids)
    checks = [
        (np.array([not v for v in ids]), ids),
        (np.array([v is None or v.strip(" ") == "" for v in labels]), labels),
        (np.array([f is not None and f != "" and f not in CLASSES for f in folded]), labels),
        (times.isna().to_numpy(), shown_times),
        ((times > future_limit()).to_numpy(), [
            s if s is not None or pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            for s, t in zip(shown_times, times, strict=True)]),
    ]
    for rule, (bad, raw) in enumerate(checks):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise row_error(path, i + 1, rule, raw[i], int(bad.sum()))
    return pd.DataFrame({
        "request_id": pd.Series(ids, dtype=object),
        "label": np.array([CLASSES[f] for f in folded if f is not None], dtype=np.float64),
        "labeled_at": times.reset_index(drop=True).astype("datetime64[ns, UTC]"),
        "file": str(path),
        "row": np.arange(1, len(ids) + 1, dtype=np.int64),
    })


# --------------------------------------------------------------------------- across files


def conflict_error(request_id: str, first: tuple[str, int, float],
                   second: tuple[str, int, float]) -> LabelError:
    """The same request id with two different labels: both files and rows named."""
    (f1, r1, l1), (f2, r2, l2) = first, second
    return LabelError(
        f"request id {request_id!r} has label {int(l2)} here and label {int(l1)} in "
        f"{f1} row {r1}", source=f2, location=f"row {r2}, column label",
        expected="one label per request id (the same label twice is kept once)")


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """One label per request id (see the module's rules), ordered by request id. The rows
    are in reading order (files sorted, then rows)."""
    if frame.empty:
        return empty_labels()
    first = frame.groupby("request_id", sort=False)["label"].transform("first")
    differs = (frame["label"] != first).to_numpy()
    if differs.any():
        i = int(np.flatnonzero(differs)[0])
        rid = frame["request_id"].iloc[i]
        j = int(np.flatnonzero((frame["request_id"] == rid).to_numpy())[0])
        raise conflict_error(rid, _where(frame, j), _where(frame, i))
    order = frame.reset_index(drop=True).rename_axis("seq").reset_index()
    order = order.sort_values(["labeled_at", "seq"], kind="stable")
    kept = order.drop_duplicates("request_id", keep="first").sort_values("request_id")
    return kept[FRAME_COLUMNS].reset_index(drop=True)


def _where(frame: pd.DataFrame, i: int) -> tuple[str, int, float]:
    row = frame.iloc[i]
    return str(row["file"]), int(row["row"]), float(row["label"])


@dataclass(frozen=True)
class Labels:
    """The validated, de-duplicated labels of a folder and the files they came from."""

    frame: pd.DataFrame
    files: list[Path]


#: The labels of a folder as last loaded, per signature of its files (path, size,
#: modification and change time, :mod:`deployready.memo`): a new day of predictions leaves
#: the labels alone, so the dashboard does not read and validate them again. A refusal is
#: never remembered; an accepted file stays accepted (the future limit only moves later).
#: At most ~512 MiB of labels are remembered (~160 bytes a label), least recently used
#: first out.
LOADED: FileMemo[Labels] = FileMemo(512 * 2**20, lambda loaded: 4096 + 160 * len(loaded.frame))


def load_labels(directory: str | Path) -> Labels:
    """Every label file of ``directory``, validated and de-duplicated (pandas reader).
    The frame is shared between callers (:data:`LOADED`): it must not be modified."""
    files = label_files(directory)
    return LOADED.compute(files, ("labels", str(Path(directory).resolve())),
                          lambda: _loaded(files))


def _loaded(files: list[Path]) -> Labels:
    parts = [f for f in (read_label_file(p) for p in files) if not f.empty]
    frame = pd.concat(parts, ignore_index=True) if parts else empty_labels()
    return Labels(dedupe(frame), files)
