"""The production-log format: columns, limits, validation of one file, result shapes.

Both engines of :mod:`deployready.monitoring.logs` share what is here: the required columns, the
latency ceiling, the future-time tolerance and the prediction interval, how much of a
file a live writer has finished (:func:`file_state`), the strict one-file reader used by
the pandas engine (errors name the file, the 1-based data row and the column), and the
empty/summary shapes of the aggregates so that the pandas and DuckDB paths return
identical frames.

**Files a writer is still writing.** ``deployready serve`` creates the day's file, holds
an exclusive ``flock`` on it while it serves, and flushes rows at least every second, so
a reader can meet the file with 0 bytes, with only its header, or ending in half a line.

- A file of 0 bytes, or with a header and no data row, holds **no rows yet**: it is
  never an error (a crash before the first flush looks the same, and it holds no
  evidence either way). Its header, when complete, is still checked.
- Each CSV file is probed for a writer's lock (a shared ``flock`` taken without
  waiting and released at once; a server claiming a new day's file in that instant
  moves on to its ``-<version>`` name, as when another server holds it). Held: the file
  is live and is read up to its last line end — a last line still being written is left
  out, and a file with no complete line at all holds no rows yet. Not held: no one will
  finish the file, so it is read as it is — a last line that parses is a row (many tools
  end a CSV without a line end), one that does not is an error naming the file and the
  row, as for any corrupt file.
- A reader reads each file up to the size it had when it was looked at (a live file up
  to its last line end then): rows flushed while a check runs wait for the next check,
  and both engines, and every query of one reader, see the same rows.

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

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "version", "latency_ms", "prediction", "error")
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


def log_files(directory: str | Path) -> list[Path]:
    """Every log file under ``directory``; a log file's name on a folder, a broken link or
    a FIFO is an error naming it, never a silently missing day."""
    directory = Path(directory)
    if not directory.is_dir():
        if directory.exists():
            raise LogError("is a file, not a folder", source=directory,
                           expected="a folder of prediction logs")
        return []
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in SUFFIXES)
    for path in files:
        require_file(path, LogError, expected="a prediction log file (.csv or .parquet)")
    return files


# --------------------------------------------------------------------------- live writers


@dataclass(frozen=True)
class FileState:
    """How much of a log file a reader reads (see the module docstring)."""

    #: bytes when looked at
    size: int
    #: bytes to read from the start: ``size``, or up to the last line end when a live
    #: writer is finishing the last line
    readable: int
    #: a writer holds the file's lock (CSV files only)
    live: bool

    @property
    def blank(self) -> bool:
        """No rows yet: 0 bytes, or a live writer has not finished its first line."""
        return self.readable == 0

    @property
    def note(self) -> str:
        if self.size == 0:
            return "0 bytes: no rows yet"
        return "a live writer has not finished its first line: no rows yet"


def writer_holds(path: Path) -> bool:
    """Whether another open file holds an exclusive ``flock`` on ``path`` (a running
    ``deployready serve`` holds its day file). Probed with a shared lock taken without
    waiting and released at once; False where the platform has no ``flock``."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _last_line_end(path: Path, size: int) -> int:
    """The number of bytes up to and including the last ``\\n`` before ``size`` (0: none)."""
    chunk = 1 << 16
    with path.open("rb") as fh:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            fh.seek(start)
            block = fh.read(end - start)
            found = block.rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
    return 0


def file_state(path: str | Path) -> FileState:
    """What to read of ``path`` now (see the module docstring); Parquet files are read
    whole. LogError when the file cannot be looked at."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return FileState(0, 0, False)
        if path.suffix.lower() == ".parquet" or not writer_holds(path):
            return FileState(size, size, False)
        return FileState(size, _last_line_end(path, size), True)
    except OSError as exc:
        raise LogError(f"cannot read: {exc}", source=path, expected="CSV or Parquet") from exc


def csv_source(path: Path, state: FileState | None) -> Any:
    """What pyarrow reads a CSV log from: the file's first ``state.readable`` bytes
    (memory-mapped, not copied), or the path when no state is given."""
    if state is None:
        return path
    return pa.BufferReader(pa.memory_map(str(path)).read_buffer(state.readable))


@dataclass(frozen=True)
class BinCounts:
    """Counts of the successful rows of one period over a profile's bins."""

    rows: int
    features: dict[str, np.ndarray]
    prediction: np.ndarray


# --------------------------------------------------------------------------- one file


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _raise_rows(
    path: Path, mask: np.ndarray, column: str, message: str, raw: Sequence[Any], expected: str
) -> None:
    if not mask.any():
        return
    i = _first_bad(mask)
    n = int(mask.sum())
    more = f" ({n} rows in all)" if n > 1 else ""
    raise LogError(
        f"{message}: {raw[i]!r}{more}",
        source=path,
        location=f"row {i + 1}, column {column}",
        expected=expected,
    )


def _is_number(dtype: pa.DataType) -> bool:
    """Stored numbers and booleans: errors show them as they are, in both engines."""
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
                or pa.types.is_boolean(dtype))


def _as_float(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """(values, not-a-number mask for present values, raw values)."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        raw = arr.to_pylist()
        try:
            values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            bad = np.zeros(len(raw), dtype=bool)
        except pa.ArrowInvalid:
            coerced = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce")
            bad = coerced.isna().to_numpy() & pd.Series(raw, dtype=object).notna().to_numpy()
            text = pa.array([None if b else r for r, b in zip(raw, bad, strict=True)], pa.string())
            values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), bad, raw
    if (
        pa.types.is_boolean(arr.type)
        or pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
    ):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(arr), dtype=bool), arr.to_pylist()
    raw = arr.to_pylist()
    return np.full(len(raw), np.nan), np.array([r is not None for r in raw]), raw


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
        if _is_nested(dtype):
            raise LogError(
                f"nested column type {dtype}",
                source=path,
                location=f"column {_show(name)}",
                expected="a flat column: text, number, boolean or timestamp",
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


def _csv_parse_error(path: Path, options: pacsv.ConvertOptions, exc: Exception,
                     state: FileState | None = None) -> LogError:
    """Re-read single-threaded (which numbers the rows) to name the row pyarrow refused."""
    text, row = str(exc), None
    try:
        pacsv.read_csv(
            csv_source(path, state), read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=options,
        )
    except pa.ArrowException as again:
        found = re.search(r"Row #(\d+)", str(again))
        if found and int(found.group(1)) > 1:
            text, row = str(again).replace(found.group(0) + ": ", ""), int(found.group(1)) - 1
    return csv_read_error(path, text, row)


def _read_table(path: Path, names: Sequence[str], columns: Sequence[str] | None = None,
                state: FileState | None = None) -> pa.Table:
    """The file's ``columns`` (all when None), read as text (CSV) or as stored (Parquet);
    a CSV only up to ``state.readable`` bytes when a state is given.

    Columns not asked for are not converted (a 105-column log read for its latency
    columns costs a third); every row's field count is still checked against the header.
    """
    if path.suffix.lower() == ".parquet":
        try:
            return pq.read_table(path, columns=list(columns) if columns is not None else None)
        except (pa.ArrowException, OSError) as exc:
            raise LogError(f"cannot read: {exc}", source=path, expected="Parquet") from exc
    asked = None if columns is None else set(columns)
    wanted = list(names) if asked is None else [n for n in names if n in asked]
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        null_values=[""],
        include_columns=wanted if columns is not None else None,
    )
    try:
        table = pacsv.read_csv(csv_source(path, state), convert_options=options)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, pa.ArrowInvalid):
            raise _csv_parse_error(path, options, exc, state) from exc
        raise LogError(f"cannot read: {exc}", source=path, expected=CSV_EXPECTED) from exc
    if table.column_names != wanted:
        raise LogError(
            "unreadable header",
            source=path,
            location="header",
            expected="one line of comma-separated column names",
        )
    return table


def _text(path: Path, name: str, col: pa.ChunkedArray) -> list[Any]:
    try:
        return list(pc.cast(col, pa.string()).to_pylist())
    except pa.ArrowException as exc:
        raise LogError(
            f"cannot read as text: {exc}", source=path, location=f"column {name}", expected="text"
        ) from exc


def read_log_file(path: str | Path, features: Mapping[str, Kind] | None = None,
                  state: FileState | None = None) -> pd.DataFrame:
    """Read and validate one log file; raise :class:`LogError` naming file, row and column.

    Returns columns timestamp (UTC), version, latency_ms, prediction, error ('' when ok),
    then the ``features`` (numeric as float64, categorical as strings with NA), or every
    other column as text when ``features`` is None. ``state`` (default: the file as it is
    now, :func:`file_state`) says how much to read; a file without rows yet gives an
    empty frame of those columns.
    """
    path = Path(path)
    state = state if state is not None else file_state(path)
    if state.blank:
        return read_empty(features)
    fields = read_header(path)
    names = [name for name, _ in fields]
    check_header(path, fields, list(features or ()))
    wanted = (
        list(features)
        if features is not None
        else [c for c in names if c not in REQUIRED_COLUMNS]
    )
    if path.suffix.lower() == ".parquet" or _last_line_end(path, state.readable) > 0:
        table = _read_table(path, names,
                            None if features is None else [*REQUIRED_COLUMNS, *wanted], state)
    else:  # one line without a line end: the header (pyarrow cannot read it alone)
        table = pa.table({name: pa.array([], pa.string()) for name in names})
    if table.num_rows == 0:
        empty = read_empty(features)
        for name in wanted if features is None else ():
            empty[name] = pd.Series([], dtype="string")
        return empty

    ts_col = table.column("timestamp")
    if pa.types.is_timestamp(ts_col.type):
        ts = pd.Series(ts_col.to_pandas())
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        ts_raw: list[Any] = [None] * len(ts)
    else:
        # a stored number is shown as one (its text is never a timestamp's)
        ts_raw = ts_col.to_pylist() if _is_number(ts_col.type) else _text(
            path, "timestamp", ts_col)
        syntax = re.compile(TIMESTAMP_PATTERN)
        text = [r if isinstance(r, str) and syntax.fullmatch(r) else None for r in ts_raw]
        ts = pd.to_datetime(
            pd.Series(text, dtype=object), utc=True, format="ISO8601", errors="coerce"
        )
    _raise_rows(
        path,
        ts.isna().to_numpy(),
        "timestamp",
        "missing or unparseable timestamp",
        ts_raw,
        "ISO 8601, e.g. 2026-01-31T12:00:00Z",
    )
    future = (ts > future_limit()).to_numpy()
    if future.any():
        shown = [r if r is not None else t.strftime(INSTANT_FORMAT)
                 for r, t in zip(ts_raw, ts, strict=True)]
        _raise_rows(path, future, "timestamp", "timestamp in the future", shown,
                    FUTURE_EXPECTED)

    version_raw = _text(path, "version", table.column("version"))
    version_missing = np.array([v is None or v == "" for v in version_raw])
    _raise_rows(path, version_missing, "version", "missing version", version_raw, "e.g. v1.0")

    latency, bad, raw = _as_float(table.column("latency_ms"))
    _raise_rows(path, bad, "latency_ms", "not a number", raw, "a latency in ms >= 0")
    with np.errstate(invalid="ignore"):
        _raise_rows(
            path, np.isnan(latency), "latency_ms", "missing latency", raw, "a latency in ms >= 0"
        )
        _raise_rows(
            path, np.isinf(latency), "latency_ms", "infinite latency", raw, "a finite latency in ms"
        )
        _raise_rows(
            path, latency < 0, "latency_ms", "negative latency", raw, "a latency in ms >= 0"
        )
        _raise_rows(
            path,
            latency > MAX_LATENCY_MS,
            "latency_ms",
            "latency above one hour",
            raw,
            f"<= {MAX_LATENCY_MS:.0f} ms",
        )

    err_raw = _text(path, "error", table.column("error"))
    error = np.array(["" if e is None else str(e) for e in err_raw], dtype=object)
    ok = error == ""

    prediction, bad, raw = _as_float(table.column("prediction"))
    _raise_rows(path, bad, "prediction", "not a number", raw, "a number, or empty on error")
    _raise_rows(
        path,
        ok & np.isnan(prediction) & ~bad,
        "prediction",
        "missing prediction on a row without error",
        raw,
        "a number",
    )
    _raise_rows(
        path, np.isinf(prediction), "prediction", "infinite prediction", raw, "a finite number"
    )
    low, high = PREDICTION_RANGE
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(prediction) & ((prediction < low) | (prediction > high))
    _raise_rows(path, outside, "prediction", "prediction outside [0, 1]", raw,
                PREDICTION_EXPECTED)

    out: dict[str, Any] = {
        "timestamp": ts.reset_index(drop=True),
        "version": pd.array(version_raw, dtype="str"),
        "latency_ms": latency,
        "prediction": prediction,
        "error": pd.array(error.tolist(), dtype="str"),
    }
    for name in wanted:
        col = table.column(name)
        kind = features.get(name) if features is not None else None
        if kind == "numeric":
            values, bad, raw = _as_float(col)
            _raise_rows(path, bad & ok, name, "not a number", raw, "a number or empty")
            values = values.copy()
            values[bad] = np.nan
            out[name] = values
        elif kind == "categorical" and pa.types.is_boolean(col.type):
            out[name] = pd.Series(col.to_pandas(), dtype="boolean").astype("string").array
        else:
            out[name] = pd.array(_text(path, name, col), dtype="string")
    return pd.DataFrame(out)


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
    }
    for name, kind in (features or {}).items():
        cols[name] = pd.Series([], dtype=np.float64 if kind == "numeric" else "string")
    return pd.DataFrame(cols)


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
