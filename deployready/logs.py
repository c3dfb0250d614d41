"""Production prediction logs: one loader for every CSV/Parquet file under ``data/production/``.

Format (see the contracts): ``timestamp`` (ISO 8601, UTC when no offset is given),
``version``, ``latency_ms`` (float >= 0), ``prediction`` (empty on error), ``error``
(empty when the request succeeded, else its kind), then one column per schema feature.

Validation is strict and names the file, the row (1-based data row, the header is not
counted) and the column:

- an empty file, a file without data rows, missing required columns;
- a missing or unparseable timestamp, a missing version;
- a latency that is missing, not a number, infinite, negative or above one hour
  (:data:`MAX_LATENCY_MS`);
- a prediction that is not a number, or missing on a row without error;
- a numeric feature that is not a number on a row without error (a failed request may
  carry the very value that made it fail, so error rows are not type-checked).

Two engines compute the same aggregates:

- ``pandas`` reads one file at a time with pyarrow (correctly rounded float parsing),
  validates it and keeps only the rows and columns a query needs;
- ``duckdb`` scans the files in place (CSV read as text, values cast in SQL), so logs
  larger than memory work; percentiles are ``quantile_cont`` (the same linear
  interpolation as numpy's default), bin counts are compare-and-count against the
  stored edges — the same numbers as the pandas path.

``engine="auto"`` picks DuckDB when the files' total size exceeds ``threshold_bytes``
(default :data:`DEFAULT_DUCKDB_THRESHOLD`, or ``$DEPLOYREADY_LOG_DUCKDB_BYTES``);
``$DEPLOYREADY_LOG_ENGINE`` forces one. Latency aggregates are over successful rows
(``error`` empty); errors are counted separately. Rows of other versions are ignored.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deployready.errors import LogError

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "version", "latency_ms", "prediction", "error")
MAX_LATENCY_MS = 3_600_000.0  # one hour: anything above is a broken clock or unit, not a latency
DEFAULT_DUCKDB_THRESHOLD = 512 * 1024 * 1024
PERCENTILES: tuple[float, ...] = (0.50, 0.95, 0.99)
SUFFIXES = (".csv", ".parquet")

Engine = Literal["auto", "pandas", "duckdb"]
Kind = Literal["numeric", "categorical"]
TimeLike: TypeAlias = str | date | datetime | pd.Timestamp | None


# --------------------------------------------------------------------------- helpers


def to_utc(value: TimeLike) -> pd.Timestamp | None:
    """A time bound as a UTC timestamp (a bare date means its midnight UTC)."""
    if value is None or value == "":
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def day_bounds(day: str | date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = to_utc(pd.Timestamp(day).date())
    assert start is not None
    return start, start + pd.Timedelta(days=1)


def window_delta(window: str) -> pd.Timedelta:
    """A window alias (``1h``, ``15min``, ``1D``) that divides one day evenly."""
    try:
        delta = pd.Timedelta(pd.tseries.frequencies.to_offset(window))
    except (ValueError, TypeError) as exc:
        raise LogError(
            f"invalid window {window!r}",
            location="latency.window",
            expected="e.g. '1h', '15min', '1D'",
        ) from exc
    day = pd.Timedelta(days=1)
    if delta <= pd.Timedelta(0) or day % delta != pd.Timedelta(0):
        raise LogError(
            f"window {window!r} does not divide a day",
            location="latency.window",
            expected="a window that divides 24 h, e.g. '1h', '15min', '1D'",
        )
    return delta


def log_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


@dataclass(frozen=True)
class BinCounts:
    """Counts of the successful rows of one period over a profile's bins."""

    rows: int
    features: dict[str, np.ndarray]
    prediction: np.ndarray


# --------------------------------------------------------------------------- pandas path


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


def _read_table(path: Path) -> pa.Table:
    if path.stat().st_size == 0:
        raise LogError("empty file", source=path, expected="a header and data rows")
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"cannot read: {exc}", source=path, expected="CSV or Parquet") from exc


def read_log_file(path: str | Path, features: Mapping[str, Kind] | None = None) -> pd.DataFrame:
    """Read and validate one log file; raise :class:`LogError` naming file, row and column.

    Returns columns timestamp (UTC), version, latency_ms, prediction, error ('' when ok),
    then the ``features`` (numeric as float64, categorical as strings with NA), or every
    other column as text when ``features`` is None.
    """
    path = Path(path)
    table = _read_table(path)
    names = set(table.column_names)
    wanted = (
        list(features)
        if features is not None
        else [c for c in table.column_names if c not in REQUIRED_COLUMNS]
    )
    missing = [c for c in (*REQUIRED_COLUMNS, *wanted) if c not in names]
    if missing:
        raise LogError(
            f"missing column(s) {', '.join(missing)}",
            source=path,
            location="header",
            expected="columns " + ", ".join((*REQUIRED_COLUMNS, *wanted)),
        )
    if table.num_rows == 0:
        raise LogError("no rows", source=path, expected="at least one data row")

    ts_col = table.column("timestamp")
    if pa.types.is_timestamp(ts_col.type):
        ts = pd.Series(ts_col.to_pandas())
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        ts_raw: list[Any] = [None] * len(ts)
    else:
        ts_raw = pc.cast(ts_col, pa.string()).to_pylist()
        ts = pd.to_datetime(
            pd.Series(ts_raw, dtype=object), utc=True, format="ISO8601", errors="coerce"
        )
    _raise_rows(
        path,
        ts.isna().to_numpy(),
        "timestamp",
        "missing or unparseable timestamp",
        ts_raw,
        "ISO 8601, e.g. 2026-01-31T12:00:00Z",
    )

    version_raw = pc.cast(table.column("version"), pa.string()).to_pylist()
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

    err_raw = pc.cast(table.column("error"), pa.string()).to_pylist()
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
            out[name] = pd.array(pc.cast(col, pa.string()).to_pylist(), dtype="string")
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- the loader


@dataclass
class ProductionLogs:
    """Every log file of a folder, validated, with engine-independent aggregates."""

    directory: Path
    features: dict[str, Kind] | None = None
    engine: Engine = "auto"
    threshold_bytes: int | None = None
    files: list[Path] = field(init=False)
    total_bytes: int = field(init=False)
    chosen: Literal["pandas", "duckdb"] = field(init=False)
    _frames: dict[Path, pd.DataFrame] = field(init=False, default_factory=dict, repr=False)
    _counts: dict[tuple[Any, ...], pd.DataFrame] = field(
        init=False, default_factory=dict, repr=False
    )
    _spans: dict[Path, tuple[pd.Timestamp, pd.Timestamp, set[str]]] = field(
        init=False, default_factory=dict, repr=False
    )
    _duck: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.files = log_files(self.directory)
        self.total_bytes = sum(p.stat().st_size for p in self.files)
        engine = os.environ.get("DEPLOYREADY_LOG_ENGINE", "") or self.engine
        if engine not in ("auto", "pandas", "duckdb"):
            raise LogError(
                f"unknown engine {engine!r}",
                location="DEPLOYREADY_LOG_ENGINE",
                expected="auto, pandas or duckdb",
            )
        threshold = self.threshold_bytes
        if threshold is None:
            threshold = int(
                os.environ.get("DEPLOYREADY_LOG_DUCKDB_BYTES", DEFAULT_DUCKDB_THRESHOLD)
            )
        if engine == "auto":
            engine = "duckdb" if self.total_bytes > threshold else "pandas"
        self.chosen = engine  # type: ignore[assignment]

    @classmethod
    def for_workspace(
        cls,
        ws: Any,
        profile: Mapping[str, Any] | None = None,
        *,
        engine: Engine = "auto",
        threshold_bytes: int | None = None,
    ) -> ProductionLogs:
        return cls(
            ws.production_dir, features_of(profile) if profile else None, engine, threshold_bytes
        )

    def __bool__(self) -> bool:
        return bool(self.files)

    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Changes whenever a file is added, removed or rewritten (for caches)."""
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in self.files)

    # ------------------------------------------------------------------ pandas
    def _frame_of(self, path: Path) -> pd.DataFrame:
        frame = self._frames.get(path)
        if frame is None:
            frame = read_log_file(path, self.features)
            self._frames[path] = frame
            ts = frame["timestamp"]
            self._spans[path] = (ts.min(), ts.max(), set(frame["version"].unique().tolist()))
        return frame

    def frame(
        self,
        version: str | None = None,
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        ok_only: bool = False,
    ) -> pd.DataFrame:
        """Validated rows (pandas engine) of a version in [start, end), time-ordered."""
        lo, hi = to_utc(start), to_utc(end)
        parts = []
        for path in self.files:
            f = self._frame_of(path)
            first, last, versions = self._spans[path]
            if (lo is not None and last < lo) or (hi is not None and first >= hi):
                continue
            if version is not None and version not in versions:
                continue
            mask = np.ones(len(f), dtype=bool)
            if version is not None:
                mask &= (f["version"] == version).to_numpy()
            if lo is not None:
                mask &= (f["timestamp"] >= lo).to_numpy()
            if hi is not None:
                mask &= (f["timestamp"] < hi).to_numpy()
            if ok_only:
                mask &= (f["error"] == "").to_numpy()
            if mask.any():
                parts.append(f[mask])
        if not parts:
            return read_empty(self.features)
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values("timestamp", kind="stable", ignore_index=True)

    def iter_days(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> Iterator[tuple[date, pd.DataFrame]]:
        """(day, rows) for each UTC day with rows, oldest first."""
        for day in self.days(version, start, end):
            lo, hi = day_bounds(day)
            yield day, self.frame(version, lo, hi)

    # ------------------------------------------------------------------ duckdb
    def _con(self) -> Any:
        if self._duck is None:
            self._duck = DuckLogs(self.files, self.features)
        return self._duck

    # ------------------------------------------------------------------ aggregates
    def validate(self) -> None:
        """Raise the first :class:`LogError` of any file."""
        if self.chosen == "duckdb":
            self._con().validate()
        else:
            for path in self.files:
                self._frame_of(path)

    def versions(self) -> dict[str, dict[str, Any]]:
        """version -> {rows, first, last} over all files."""
        if self.chosen == "duckdb":
            return dict(self._con().versions())
        out: dict[str, dict[str, Any]] = {}
        for path in self.files:
            f = self._frame_of(path)
            for version, g in f.groupby("version", sort=True):
                cur = out.setdefault(str(version), {"rows": 0, "first": None, "last": None})
                cur["rows"] += len(g)
                first, last = g["timestamp"].min(), g["timestamp"].max()
                cur["first"] = first if cur["first"] is None else min(cur["first"], first)
                cur["last"] = last if cur["last"] is None else max(cur["last"], last)
        return out

    def days(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> list[date]:
        counts = self.day_counts(version, start, end)
        return [d for d in counts.index]

    def day_counts(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> pd.DataFrame:
        """Index: UTC day (datetime.date); columns rows, ok, errors."""
        key = (version, to_utc(start), to_utc(end))
        cached = self._counts.get(key)
        if cached is not None:
            return cached.copy()
        if self.chosen == "duckdb":
            out = self._con().day_counts(*key)
        else:
            out = self._pandas_day_counts(version, start, end)
        self._counts[key] = out
        return out.copy()

    def _pandas_day_counts(self, version: str | None, start: TimeLike,
                           end: TimeLike) -> pd.DataFrame:
        f = self.frame(version, start, end)
        if f.empty:
            return _empty_counts()
        day = f["timestamp"].dt.floor("D").dt.date
        err = (f["error"] != "").astype(np.int64)
        g = pd.DataFrame({"day": day, "rows": 1, "errors": err}).groupby("day", sort=True).sum()
        g["ok"] = g["rows"] - g["errors"]
        g.index.name = "day"
        return g[["rows", "ok", "errors"]].astype(np.int64)

    def error_kinds(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> dict[str, int]:
        if self.chosen == "duckdb":
            return self._con().error_kinds(version, to_utc(start), to_utc(end))
        f = self.frame(version, start, end)
        vc = f.loc[f["error"] != "", "error"].value_counts()
        return {str(k): int(v) for k, v in sorted(vc.items())}

    def latency_windows(
        self,
        version: str | None = None,
        window: str = "1h",
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> pd.DataFrame:
        """Per window: window_start (UTC), requests, errors, count (ok rows), p50, p95,
        p99, max, mean — percentiles over successful rows, linear interpolation."""
        delta = window_delta(window)
        if self.chosen == "duckdb":
            return self._con().latency_windows(version, delta, to_utc(start), to_utc(end))
        parts = []
        for _, f in self.iter_days(version, start, end):
            parts.append(_pandas_windows(f, delta))
        if not parts:
            return _empty_windows()
        return pd.concat(parts, ignore_index=True)

    def latency_summary(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> dict[str, Any]:
        """requests, errors, count, p50, p95, p99, max, mean over [start, end)."""
        if self.chosen == "duckdb":
            return self._con().latency_summary(version, to_utc(start), to_utc(end))
        f = self.frame(version, start, end)
        return _summary(f["latency_ms"].to_numpy(), (f["error"] != "").to_numpy())

    def bin_counts(
        self,
        profile: Mapping[str, Any],
        version: str | None = None,
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> dict[date, BinCounts]:
        """Per UTC day: successful rows counted over the profile's bins."""
        if self.chosen == "duckdb":
            return self._con().bin_counts(profile, version, to_utc(start), to_utc(end))
        from deployready.drift import count_frame

        out: dict[date, BinCounts] = {}
        for day, f in self.iter_days(version, start, end):
            okf = f[f["error"] == ""]
            feats, pred = count_frame(profile, okf, okf["prediction"].to_numpy())
            out[day] = BinCounts(len(okf), feats, pred)
        return out


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


def _pandas_windows(f: pd.DataFrame, delta: pd.Timedelta) -> pd.DataFrame:
    if f.empty:
        return _empty_windows()
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    start = epoch + ((f["timestamp"] - epoch) // delta) * delta
    lat = f["latency_ms"].to_numpy()
    err = (f["error"] != "").to_numpy()
    rows = []
    for ws_, idx in pd.Series(np.arange(len(f))).groupby(start.to_numpy(), sort=True):
        s = _summary(lat[idx.to_numpy()], err[idx.to_numpy()])
        rows.append(
            {
                "window_start": pd.Timestamp(ws_).tz_convert("UTC")
                if pd.Timestamp(ws_).tzinfo
                else pd.Timestamp(ws_, tz="UTC"),
                **s,
            }
        )
    out = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
    out["window_start"] = out["window_start"].astype("datetime64[us, UTC]")
    for c in ("p50", "p95", "p99", "max", "mean"):
        out[c] = out[c].astype(np.float64)
    return out


# --------------------------------------------------------------------------- duckdb path


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckLogs:
    """The DuckDB engine: files scanned in place, one typed view over all of them."""

    def __init__(self, files: Sequence[Path], features: Mapping[str, Kind] | None) -> None:
        import duckdb

        self.files = list(files)
        self.features = dict(features or {})
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET temp_directory = {_lit(tempfile.gettempdir())}")
        self._selects: dict[Path, str] = {}
        for path in self.files:
            self._selects[path] = self._select_of(path)
        if self._selects:
            self.con.execute("CREATE VIEW logs AS " + " UNION ALL ".join(self._selects.values()))
        self._validated = False

    def close(self) -> None:
        self.con.close()

    def _columns(self, path: Path) -> dict[str, str]:
        if path.stat().st_size == 0:
            raise LogError("empty file", source=path, expected="a header and data rows")
        try:
            if path.suffix.lower() == ".parquet":
                schema = pq.read_schema(path)
                return {f.name: str(f.type) for f in schema}
            with path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
            raise LogError(f"cannot read: {exc}", source=path, expected="CSV or Parquet") from exc
        return {name: "string" for name in header}

    def _select_of(self, path: Path) -> str:
        cols = self._columns(path)
        wanted = list(self.features) if self.features else []
        missing = [c for c in (*REQUIRED_COLUMNS, *wanted) if c not in cols]
        if missing:
            raise LogError(
                f"missing column(s) {', '.join(missing)}",
                source=path,
                location="header",
                expected="columns " + ", ".join((*REQUIRED_COLUMNS, *wanted)),
            )
        if path.suffix.lower() == ".parquet":
            source = f"read_parquet({_lit(str(path))})"
        else:
            source = (
                f"read_csv({_lit(str(path))}, all_varchar = true, header = true, "
                "nullstr = '', quote = '\"', escape = '\"')"
            )
        parts = [
            f"{_lit(str(path))} AS file",
            "TRY_CAST(timestamp AS TIMESTAMPTZ) AS ts",
            "CAST(timestamp AS VARCHAR) AS raw_timestamp",
            "CAST(version AS VARCHAR) AS version",
            "TRY_CAST(latency_ms AS DOUBLE) AS latency",
            "CAST(latency_ms AS VARCHAR) AS raw_latency_ms",
            "TRY_CAST(prediction AS DOUBLE) AS prediction",
            "CAST(prediction AS VARCHAR) AS raw_prediction",
            "coalesce(CAST(error AS VARCHAR), '') AS error",
        ]
        for i, name in enumerate(wanted):
            q = _q(name)
            if self.features[name] == "numeric":
                parts.append(f"TRY_CAST({q} AS DOUBLE) AS f{i}")
                parts.append(f"CAST({q} AS VARCHAR) AS raw_f{i}")
            elif cols[name] == "bool":
                parts.append(f"CASE WHEN {q} THEN 'True' WHEN NOT {q} THEN 'False' END AS f{i}")
            else:
                parts.append(f"CAST({q} AS VARCHAR) AS f{i}")
        return f"SELECT {', '.join(parts)} FROM {source}"

    # ---------------------------------------------------------------- validation
    def _rules(self) -> list[tuple[str, str, str, str, str]]:
        """(condition, column, raw column, message, expected), in the pandas order."""
        rules = [
            (
                "ts IS NULL",
                "timestamp",
                "raw_timestamp",
                "missing or unparseable timestamp",
                "ISO 8601, e.g. 2026-01-31T12:00:00Z",
            ),
            (
                "version IS NULL OR version = ''",
                "version",
                "version",
                "missing version",
                "e.g. v1.0",
            ),
            (
                "raw_latency_ms IS NOT NULL AND latency IS NULL",
                "latency_ms",
                "raw_latency_ms",
                "not a number",
                "a latency in ms >= 0",
            ),
            (
                "latency IS NULL OR isnan(latency)",
                "latency_ms",
                "raw_latency_ms",
                "missing latency",
                "a latency in ms >= 0",
            ),
            (
                "isinf(latency)",
                "latency_ms",
                "raw_latency_ms",
                "infinite latency",
                "a finite latency in ms",
            ),
            (
                "latency < 0",
                "latency_ms",
                "raw_latency_ms",
                "negative latency",
                "a latency in ms >= 0",
            ),
            (
                f"latency > {MAX_LATENCY_MS!r} AND NOT isinf(latency)",
                "latency_ms",
                "raw_latency_ms",
                "latency above one hour",
                f"<= {MAX_LATENCY_MS:.0f} ms",
            ),
            (
                "raw_prediction IS NOT NULL AND prediction IS NULL",
                "prediction",
                "raw_prediction",
                "not a number",
                "a number, or empty on error",
            ),
            (
                "error = '' AND (raw_prediction IS NULL OR isnan(prediction))",
                "prediction",
                "raw_prediction",
                "missing prediction on a row without error",
                "a number",
            ),
            (
                "isinf(prediction)",
                "prediction",
                "raw_prediction",
                "infinite prediction",
                "a finite number",
            ),
        ]
        for i, name in enumerate(self.features):
            if self.features[name] == "numeric":
                rules.append(
                    (
                        f"error = '' AND raw_f{i} IS NOT NULL AND f{i} IS NULL",
                        name,
                        f"raw_f{i}",
                        "not a number",
                        "a number or empty",
                    )
                )
        return rules

    def validate(self) -> None:
        if self._validated or not self.files:
            return
        rules = self._rules()
        aggs = ", ".join(
            f"count(*) FILTER (WHERE coalesce({c}, false)) AS r{i}"
            for i, (c, *_) in enumerate(rules)
        )
        found = {
            row[0]: row[1:]
            for row in self.con.execute(
                f"SELECT file, count(*), {aggs} FROM logs GROUP BY file"
            ).fetchall()
        }
        for path in self.files:
            counts = found.get(str(path))
            if counts is None or counts[0] == 0:
                raise LogError("no rows", source=path, expected="at least one data row")
            for i, (cond, column, raw, message, expected) in enumerate(rules):
                n = counts[1 + i]
                if n:
                    first = self.con.execute(
                        f"SELECT rn, {raw} FROM (SELECT row_number() OVER () AS rn, * FROM "
                        f"({self._selects[path]})) WHERE coalesce({cond}, false) ORDER BY rn "
                        "LIMIT 1"
                    ).fetchone()
                    rn, value = first if first is not None else (0, None)
                    more = f" ({n} rows in all)" if n > 1 else ""
                    raise LogError(
                        f"{message}: {value!r}{more}",
                        source=path,
                        location=f"row {rn}, column {column}",
                        expected=expected,
                    )
        self._validated = True

    # ---------------------------------------------------------------- aggregates
    def _where(
        self,
        version: str | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        ok_only: bool = False,
    ) -> tuple[str, list[Any]]:
        conds, params = ["TRUE"], []
        if version is not None:
            conds.append("version = ?")
            params.append(version)
        if start is not None:
            conds.append("ts >= ?")
            params.append(start.to_pydatetime())
        if end is not None:
            conds.append("ts < ?")
            params.append(end.to_pydatetime())
        if ok_only:
            conds.append("error = ''")
        return " AND ".join(conds), params

    def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.validate()
        if not self.files:
            return []
        return list(self.con.execute(sql, params).fetchall())

    def versions(self) -> dict[str, dict[str, Any]]:
        rows = self._run(
            "SELECT version, count(*), min(ts), max(ts) FROM logs "
            "GROUP BY version ORDER BY version",
            [],
        )
        return {
            v: {"rows": int(n), "first": pd.Timestamp(a), "last": pd.Timestamp(b)}
            for v, n, a, b in rows
        }

    def day_counts(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        where, params = self._where(version, start, end)
        rows = self._run(
            "SELECT CAST(date_trunc('day', ts) AS DATE) AS d, count(*), "
            f"count(*) FILTER (WHERE error <> '') FROM logs WHERE {where} GROUP BY d ORDER BY d",
            params,
        )
        if not rows:
            return _empty_counts()
        out = pd.DataFrame(rows, columns=["day", "rows", "errors"]).set_index("day")
        out["ok"] = out["rows"] - out["errors"]
        return out[["rows", "ok", "errors"]].astype(np.int64)

    def error_kinds(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> dict[str, int]:
        where, params = self._where(version, start, end)
        rows = self._run(
            f"SELECT error, count(*) FROM logs WHERE {where} AND error <> '' "
            "GROUP BY error ORDER BY error",
            params,
        )
        return {str(k): int(v) for k, v in rows}

    _STATS = (
        "count(*) AS requests, count(*) FILTER (WHERE error <> '') AS errors, "
        "count(*) FILTER (WHERE error = '') AS count, "
        "quantile_cont(latency, [0.5, 0.95, 0.99]) FILTER (WHERE error = '') AS q, "
        "max(latency) FILTER (WHERE error = '') AS mx, "
        "avg(latency) FILTER (WHERE error = '') AS mean"
    )

    @staticmethod
    def _stats(row: Sequence[Any]) -> dict[str, Any]:
        requests, errors, count, q, mx, mean = row
        q = q or [None, None, None]
        return {
            "requests": int(requests),
            "errors": int(errors),
            "count": int(count),
            "p50": q[0],
            "p95": q[1],
            "p99": q[2],
            "max": mx,
            "mean": mean,
        }

    def latency_windows(
        self,
        version: str | None,
        delta: pd.Timedelta,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> pd.DataFrame:
        where, params = self._where(version, start, end)
        micros = int(delta / pd.Timedelta(microseconds=1))
        rows = self._run(
            f"SELECT time_bucket(to_microseconds({micros}), ts) AS w, {self._STATS} "
            f"FROM logs WHERE {where} GROUP BY w ORDER BY w",
            params,
        )
        if not rows:
            return _empty_windows()
        out = pd.DataFrame(
            [{"window_start": r[0], **self._stats(r[1:])} for r in rows], columns=WINDOW_COLUMNS
        )
        out["window_start"] = pd.to_datetime(out["window_start"], utc=True).astype(
            "datetime64[us, UTC]"
        )
        for c in ("p50", "p95", "p99", "max", "mean"):
            out[c] = out[c].astype(np.float64)
        return out

    def latency_summary(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> dict[str, Any]:
        where, params = self._where(version, start, end)
        rows = self._run(f"SELECT {self._STATS} FROM logs WHERE {where}", params)
        if not rows:
            return _summary(np.array([]), np.array([], dtype=bool))
        return self._stats(rows[0])

    def bin_counts(
        self,
        profile: Mapping[str, Any],
        version: str | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> dict[date, BinCounts]:
        where, params = self._where(version, start, end, ok_only=True)
        index = {name: i for i, name in enumerate(self.features)}
        specs = profile["features"]
        aggs: list[str] = ["count(*)"]
        layout: list[tuple[str, int]] = []  # (feature or "", number of aggregates)

        def numeric(col: str, edges: Sequence[float]) -> int:
            for e in edges:
                aggs.append(f"count(*) FILTER (WHERE {col} <= {float(e)!r}::DOUBLE)")
            aggs.append(f"count(*) FILTER (WHERE {col} IS NULL OR isnan({col}))")
            return len(edges) + 1

        for name, spec in specs.items():
            if spec["kind"] == "numeric" and name in index:
                layout.append((name, numeric(f"f{index[name]}", spec["edges"])))
        pred_edges = profile["prediction"]["edges"] if "prediction" in profile else []
        n_pred = numeric("prediction", pred_edges)
        rows = self._run(
            "SELECT CAST(date_trunc('day', ts) AS DATE) AS d, "
            + ", ".join(aggs)
            + f" FROM logs WHERE {where} GROUP BY d ORDER BY d",
            params,
        )
        out: dict[date, BinCounts] = {}
        cat_counts = self._categorical(specs, index, where, params)
        for row in rows:
            day, total, values = row[0], int(row[1]), list(row[2:])
            feats: dict[str, np.ndarray] = {}
            pos = 0
            for name, n in layout:
                feats[name] = _from_cumulative(values[pos : pos + n], total)
                pos += n
            pred = _from_cumulative(values[pos : pos + n_pred], total)
            for name, spec in specs.items():
                if spec["kind"] == "categorical" and name in index:
                    feats[name] = _categorical_bins(
                        spec["categories"], cat_counts.get((day, name), {})
                    )
            ordered = {name: feats[name] for name in specs if name in feats}
            out[day] = BinCounts(total, ordered, pred)
        return out

    def _categorical(
        self, specs: Mapping[str, Any], index: Mapping[str, int], where: str, params: list[Any]
    ) -> dict[tuple[date, str], dict[str | None, int]]:
        found: dict[tuple[date, str], dict[str | None, int]] = {}
        for name, spec in specs.items():
            if spec["kind"] != "categorical" or name not in index:
                continue
            col = f"f{index[name]}"
            rows = self._run(
                f"SELECT CAST(date_trunc('day', ts) AS DATE) AS d, {col}, count(*) FROM logs "
                f"WHERE {where} GROUP BY d, {col}",
                params,
            )
            for day, value, n in rows:
                found.setdefault((day, name), {})[value] = int(n)
        return found


def _from_cumulative(values: Sequence[Any], total: int) -> np.ndarray:
    """Bins from cumulative counts #{x <= e_j} (j = 0..k-1) and the NaN count."""
    *cum, nan = (int(v) for v in values)
    valid = total - nan
    bounds = [*cum, valid]
    counts = np.diff(np.array([0, *bounds], dtype=np.int64)).astype(np.float64)
    return np.append(counts, float(nan))


def _categorical_bins(categories: Sequence[str], counts: Mapping[str | None, int]) -> np.ndarray:
    known = [float(counts.get(c, 0)) for c in categories]
    nan = float(counts.get(None, 0))
    total = float(sum(counts.values()))
    return np.array([*known, total - sum(known) - nan, nan], dtype=np.float64)


def utc_today() -> date:
    return datetime.now(UTC).date()


def as_date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise LogError(f"invalid date {value!r}", location="date", expected="YYYY-MM-DD") from exc


def yesterday() -> date:
    return utc_today() - timedelta(days=1)


def temp_dir() -> str:
    return tempfile.gettempdir()
