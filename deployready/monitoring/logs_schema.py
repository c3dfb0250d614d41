"""The production-log format: columns, limits, the header rules, result shapes.

Both engines of :mod:`deployready.monitoring.logs` share what is here: the required columns, the
latency ceiling, the future-time tolerance and the prediction interval, the header checks
and the wording of a CSV the parser refused (so both engines name the same file, row or
column), and the empty/summary shapes of the aggregates so that the pandas and DuckDB
paths return identical frames. How much of a file a live writer has finished is
:mod:`deployready.monitoring.logs_live`; the strict one-file reader of the pandas engine is
:mod:`deployready.monitoring.logs_file`.

**Values no writer can produce.** A timestamp more than :data:`MAX_FUTURE` (24 h) after
the reading machine's clock — a broken clock or a unit mistake, like the years-ahead rows
of a millisecond/second mix-up; 24 h covers clock skew and a writer logging local time
without an offset (read as UTC; the largest offset is +14 h). A prediction outside
``[0, 1]``: every deployready model outputs the probability of class 1
(``predict_proba(X)[:, 1]``; ``feature_schema.json`` ``prediction.kind`` is
``"probability"``), so any other number did not come from one.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deployready.errors import LogError, require_file
from deployready.monitoring.logs_live import FileState, csv_source

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "version", "latency_ms", "prediction", "error")
#: The optional column a ground-truth label joins on (``deployready serve`` writes it).
#: A log without it, or an empty cell, is a prediction without id: read as NA.
REQUEST_ID = "request_id"
REQUEST_ID_EXPECTED = "a text or integer column of request ids"
MAX_LATENCY_MS = 3_600_000.0  # one hour: anything above is a broken clock or unit, not a latency
#: How far past the reading machine's clock a row's timestamp may lie (see above).
MAX_FUTURE = pd.Timedelta(hours=24)
FUTURE_EXPECTED = "a time at most 24 h after the current time (UTC)"
#: The text of a timestamp both engines read the same way: an ISO 8601 date, optionally
#: a time (``T`` or a space; hours 00-23; seconds and up to 9 fraction digits optional)
#: and a UTC offset (``Z``, ``+HH``, ``+HHMM``, ``+HH:MM``; none = UTC), spaces around.
#: Anything else — a bare number (seconds? milliseconds?), a year alone, ``24:00``,
#: ``UTC`` spelled out — is not a timestamp, whichever engine reads it. The same
#: pattern is a Python and an RE2 (DuckDB) regular expression.
TIMESTAMP_PATTERN = (
    r" *[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)? *"
)
#: The interval of a logged prediction: the probability of class 1.
PREDICTION_RANGE = (0.0, 1.0)
PREDICTION_EXPECTED = "a probability in [0, 1] (of class 1), or empty on error"
#: How a shown timestamp that is not text is formatted (both engines).
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"
PERCENTILES: tuple[float, ...] = (0.50, 0.95, 0.99)
SUFFIXES = (".csv", ".parquet")
HEADER_EXPECTED = "a header and data rows"
CSV_EXPECTED = "UTF-8 CSV, every row with as many fields as the header"

Kind = Literal["numeric", "categorical"]


Listing = tuple[tuple[str, tuple[int, ...]], ...]


def stat_listing(directory: str | Path) -> Listing | None:
    """A stat (kind, device, inode, size, modification and change time) of every entry with
    a log suffix under ``directory`` — the names :func:`log_files` lists, folders not
    followed through links — taken without opening anything; None when one is not a
    regular file or cannot be looked at (the listing itself reports it)."""
    found: list[tuple[str, tuple[int, ...]]] = []
    for folder, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            if os.path.splitext(name)[1].lower() not in SUFFIXES:
                continue
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                return None
            if not stat.S_ISREG(st.st_mode):
                return None
            found.append((path, (st.st_mode, st.st_dev, st.st_ino, st.st_size,
                                 st.st_mtime_ns, st.st_ctime_ns)))
    return tuple(sorted(found))


#: the last listing of each folder and the stats it was checked under (a few folders)
_LISTED: dict[str, tuple[Listing, list[Path]]] = {}


def log_files(directory: str | Path) -> list[Path]:
    """Every log file under ``directory``; a log file's name on a folder, a broken link or
    a FIFO is an error naming it, never a silently missing day. While no entry's stat
    moved since a folder was last listed and checked, that listing is the answer (every
    file was a readable regular file then; a permission change moves its change time)."""
    directory = Path(directory)
    if not directory.is_dir():
        if directory.exists():
            raise LogError("is a file, not a folder", source=directory,
                           expected="a folder of prediction logs")
        return []
    seen = stat_listing(directory)
    kept = _LISTED.get(str(directory))
    if seen is not None and kept is not None and kept[0] == seen:
        return list(kept[1])
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in SUFFIXES)
    for path in files:
        require_file(path, LogError, expected="a prediction log file (.csv or .parquet)")
    if seen is not None and stat_listing(directory) == seen:  # nothing moved meanwhile
        if len(_LISTED) >= 32:
            _LISTED.clear()
        _LISTED[str(directory)] = (seen, list(files))
    return files


@dataclass(frozen=True)
class BinCounts:
    """Counts of the successful rows of one period over a profile's bins."""

    rows: int
    features: dict[str, np.ndarray]
    prediction: np.ndarray


def _is_number(dtype: pa.DataType) -> bool:
    """Stored numbers and booleans: errors show them as they are, in both engines."""
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
                or pa.types.is_boolean(dtype))


Field = tuple[str, pa.DataType]


def read_header(path: Path) -> list[Field]:
    """The columns of a log file and their types (CSV: all text), without reading its rows."""
    if path.stat().st_size == 0:
        raise LogError("empty file", source=path, expected=HEADER_EXPECTED)
    try:
        if path.suffix.lower() == ".parquet":
            return [(f.name, f.type) for f in pq.read_schema(path)]
        with path.open(newline="", encoding="utf-8-sig") as fh:  # a BOM is not a name
            header = next(csv.reader(fh), [])
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"cannot read: {exc}", source=path, expected="CSV or Parquet") from exc
    return [(name, pa.string()) for name in header]


def file_versions(path: Path, state: FileState | None = None) -> set[str] | None:
    """The versions a log file holds rows of, reading only its ``version`` column; None
    when that cannot be read (the full read then reports what is wrong)."""
    try:
        if path.suffix.lower() == ".parquet":
            column = pq.read_table(path, columns=["version"]).column("version")
        else:
            convert = pacsv.ConvertOptions(include_columns=["version"],
                                           column_types={"version": pa.string()})
            column = pacsv.read_csv(csv_source(path, state),
                                    convert_options=convert).column("version")
    except (pa.ArrowException, OSError, KeyError):
        return None
    return {str(v) for v in pc.unique(column).to_pylist() if v is not None}


def own_files(files: list[Path], features: Mapping[str, Kind] | None, version: str | None,
              states: Mapping[Path, FileState], excluded: dict[Path, str]) -> list[Path]:
    """``files`` without those another version's schema wrote: a file without some of
    ``version``'s ``features`` and holding no row of it (each noted in ``excluded``)."""
    if not features or version is None:
        return files
    kept = []
    for path in files:
        try:
            names = {name for name, _ in read_header(path)}
        except LogError:
            kept.append(path)  # the full read reports it
            continue
        missing = [f for f in features if f not in names]
        held = file_versions(path, states[path]) if missing else None
        if held is not None and version not in held:
            excluded[path] = (f"no rows of {version}; written by {', '.join(sorted(held))} "
                              f"without {', '.join(missing)}")
        else:
            kept.append(path)
    return kept


def _is_nested(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        return _is_nested(dtype.value_type)
    return bool(pa.types.is_nested(dtype))


def _show(name: str) -> str:
    return name if name.strip() else repr(name)


def check_header(path: Path, fields: Sequence[Field], wanted: Sequence[str]) -> None:
    """Refuse a header both engines could not read the same way, naming the column.

    Duplicated names (compared without regard to case, as SQL does), missing required or
    ``wanted`` columns, and nested column types (list, struct, map) anywhere in the file.
    """
    groups: dict[str, list[str]] = {}
    for name, _ in fields:
        groups.setdefault(name.casefold(), []).append(name)
    dups = [" / ".join(_show(n) for n in dict.fromkeys(g)) for g in groups.values() if len(g) > 1]
    if dups:
        raise LogError(
            f"duplicated column(s) {', '.join(dups)}",
            source=path,
            location="header",
            expected="each column once (names compared without regard to case)",
        )
    names = {name for name, _ in fields}
    missing = [c for c in (*REQUIRED_COLUMNS, *wanted) if c not in names]
    if missing:
        raise LogError(
            f"missing column(s) {', '.join(missing)}",
            source=path,
            location="header",
            expected="columns " + ", ".join((*REQUIRED_COLUMNS, *wanted)),
        )
    for name, dtype in fields:
        if name == REQUEST_ID and not (pa.types.is_string(dtype) or pa.types.is_large_string(
                dtype) or pa.types.is_integer(dtype) or pa.types.is_null(dtype)):
            raise LogError(f"request ids stored as {dtype}", source=path,
                           location=f"column {REQUEST_ID}", expected=REQUEST_ID_EXPECTED)
        if _is_nested(dtype):
            raise LogError(
                f"nested column type {dtype}",
                source=path,
                location=f"column {_show(name)}",
                expected="a flat column: text, number, boolean or timestamp",
            )


def row_error(path: Path, row: int, column: str, message: str, value: Any, count: int,
              expected: str) -> LogError:
    """The first bad value of a column (``row`` 1-based, ``count`` bad rows in all),
    worded the same whichever engine found it."""
    more = f" ({count} rows in all)" if count > 1 else ""
    return LogError(
        f"{message}: {value!r}{more}",
        source=path,
        location=f"row {row}, column {column}",
        expected=expected,
    )


_FIELD_COUNTS = (
    re.compile(r"Expected (\d+) columns, got (\d+)"),  # pyarrow
    re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"),  # DuckDB
)


def csv_read_error(path: Path, reason: str, row: int | None) -> LogError:
    """A CSV the parser refused, worded the same whichever engine read it."""
    for pattern in _FIELD_COUNTS:
        found = pattern.search(reason)
        if found:
            reason = f"a row with {found.group(2)} field(s) where the header has {found.group(1)}"
            break
    reason = " ".join(reason.split())
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return LogError(
        f"cannot read: {reason}",
        source=path,
        location=None if row is None else f"row {row}",
        expected=CSV_EXPECTED,
    )


def future_limit() -> pd.Timestamp:
    """The latest timestamp a row may have when read now (:data:`MAX_FUTURE` ahead)."""
    return pd.Timestamp.now(tz="UTC") + MAX_FUTURE


# --------------------------------------------------------------------------- shapes


def features_of(profile: Mapping[str, Any]) -> dict[str, Kind]:
    return {name: spec["kind"] for name, spec in profile.get("features", {}).items()}


def read_empty(features: Mapping[str, Kind] | None) -> pd.DataFrame:
    cols: dict[str, Any] = {
        "timestamp": pd.Series([], dtype="datetime64[us, UTC]"),
        "version": pd.Series([], dtype="str"),
        "latency_ms": pd.Series([], dtype=np.float64),
        "prediction": pd.Series([], dtype=np.float64),
        "error": pd.Series([], dtype="str"),
        REQUEST_ID: pd.Series([], dtype="string"),
    }
    for name, kind in (features or {}).items():
        cols[name] = pd.Series([], dtype=np.float64 if kind == "numeric" else "string")
    return pd.DataFrame(cols)


ID_COUNT_COLUMNS = ["ok", "with_id", "no_id"]


def _empty_id_counts() -> pd.DataFrame:
    out = pd.DataFrame({c: [] for c in ID_COUNT_COLUMNS}, dtype=np.int64)
    out.index = pd.Index([], name="day", dtype=object)
    return out


def _empty_counts() -> pd.DataFrame:
    out = pd.DataFrame({"rows": [], "ok": [], "errors": []}, dtype=np.int64)
    out.index = pd.Index([], name="day", dtype=object)
    return out


WINDOW_COLUMNS = ["window_start", "requests", "errors", "count", "p50", "p95", "p99", "max", "mean"]


def _empty_windows() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in WINDOW_COLUMNS})
    out["window_start"] = pd.Series([], dtype="datetime64[us, UTC]")
    for c in ("requests", "errors", "count"):
        out[c] = out[c].astype(np.int64)
    return out


def _summary(latency: np.ndarray, is_error: np.ndarray) -> dict[str, Any]:
    ok = latency[~is_error]
    out: dict[str, Any] = {
        "requests": int(latency.size),
        "errors": int(is_error.sum()),
        "count": int(ok.size),
    }
    if ok.size:
        p = np.percentile(ok, [q * 100 for q in PERCENTILES])
        out.update(
            p50=float(p[0]),
            p95=float(p[1]),
            p99=float(p[2]),
            max=float(ok.max()),
            mean=float(ok.mean()),
        )
    else:
        out.update(p50=None, p95=None, p99=None, max=None, mean=None)
    return out


#: the engines that read the raw log rows (``auto`` and ``profiles`` answer from profiles)
RAW_ENGINES = ("pandas", "duckdb")


def requested_engine(engine: str) -> str:
    """``$DEPLOYREADY_LOG_ENGINE`` when set, else ``engine`` — checked."""
    chosen = os.environ.get("DEPLOYREADY_LOG_ENGINE", "") or engine
    if chosen not in ("auto", "profiles", *RAW_ENGINES):
        raise LogError(f"unknown engine {chosen!r}", location="DEPLOYREADY_LOG_ENGINE",
                       expected="auto, profiles, pandas or duckdb")
    return chosen
