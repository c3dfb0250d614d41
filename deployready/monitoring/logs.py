"""Production prediction logs: one loader for every CSV/Parquet file under ``data/production/``.

Format (see the contracts): ``timestamp`` (ISO 8601, UTC when no offset is given),
``version``, ``latency_ms`` (float >= 0), ``prediction`` (empty on error), ``error``
(empty when the request succeeded, else its kind), then one column per schema feature.

A file a live writer is still writing is read as far as its writer has finished it: 0
bytes or only a header means no rows yet (never an error), a last line still being
written is left out; each reader reads every file up to the size it had when the reader
was created (see :mod:`deployready.monitoring.logs_live`; such files are listed in ``empty``).

Validation is strict and names the file, the row (1-based data row, the header is not
counted) and the column:

- missing required columns;
- a duplicated column (names compared without regard to case, as SQL does), a nested
  (list, struct, map) column type, a CSV row whose number of fields is not the header's
  (both engines name the same file, row or column);
- a missing or unparseable timestamp, one more than 24 h after the current time
  (:data:`MAX_FUTURE`), a missing version;
- a latency that is missing, not a number, infinite, negative or above one hour
  (:data:`MAX_LATENCY_MS`);
- a prediction that is not a number, missing on a row without error, or outside
  ``[0, 1]`` (every deployready model outputs the probability of class 1);
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

The format lives in :mod:`deployready.monitoring.logs_schema`, the live-file state in
:mod:`deployready.monitoring.logs_live`, the one-file validation in
:mod:`deployready.monitoring.logs_file`, the DuckDB engine in
:mod:`deployready.monitoring.logs_duckdb`, the time bounds in
:mod:`deployready.times`; their public names are re-exported here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.errors import LogError
from deployready.memo import FileMemo
from deployready.monitoring.logs_duckdb import DuckLogs
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.logs_live import FileState, file_state
from deployready.monitoring.logs_schema import (
    MAX_FUTURE,
    MAX_LATENCY_MS,
    PERCENTILES,
    REQUIRED_COLUMNS,
    SUFFIXES,
    WINDOW_COLUMNS,
    BinCounts,
    Kind,
    _empty_counts,
    _empty_windows,
    _summary,
    features_of,
    file_versions,
    log_files,
    read_empty,
    read_header,
)
from deployready.times import (
    TimeLike,
    as_date,
    day_bounds,
    to_utc,
    utc_today,
    window_delta,
    yesterday,
)

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_DUCKDB_THRESHOLD",
    "FILE_FRAMES",
    "MAX_FUTURE",
    "MAX_LATENCY_MS",
    "PERCENTILES",
    "REQUIRED_COLUMNS",
    "SUFFIXES",
    "WINDOW_COLUMNS",
    "BinCounts",
    "DuckLogs",
    "Engine",
    "FileState",
    "Kind",
    "ProductionLogs",
    "TimeLike",
    "as_date",
    "day_bounds",
    "features_of",
    "file_state",
    "log_files",
    "read_empty",
    "read_log_file",
    "to_utc",
    "utc_today",
    "window_delta",
    "yesterday",
]

DEFAULT_DUCKDB_THRESHOLD = 512 * 1024 * 1024
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


def _frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(index=False, deep=False).sum())


def _cache_bytes() -> int:
    raw = os.environ.get("DEPLOYREADY_LOG_CACHE_MB", "")
    try:
        return max(0, int(float(raw) * 2**20)) if raw else DEFAULT_CACHE_BYTES
    except ValueError:
        warnings.warn(f"DEPLOYREADY_LOG_CACHE_MB={raw!r} is not a number of megabytes; "
                      f"using {DEFAULT_CACHE_BYTES // 2**20}", stacklevel=1)
        return DEFAULT_CACHE_BYTES


#: Validated frames of log files, shared by every reader in this process: a dashboard
#: that re-reads 365 daily files after one of them changed parses one file, not 365.
#: Bounded by ``$DEPLOYREADY_LOG_CACHE_MB`` (default 256; 0 turns it off).
FILE_FRAMES: FileMemo[pd.DataFrame] = FileMemo(_cache_bytes(), _frame_bytes)
#: Per file: version -> (rows, first, last timestamp). Small; up to 100,000 files.
FILE_VERSIONS: FileMemo[dict[str, tuple[int, pd.Timestamp, pd.Timestamp]]] = FileMemo(100_000)

Engine = Literal["auto", "pandas", "duckdb"]


# --------------------------------------------------------------------------- the loader


@dataclass
class ProductionLogs:
    """Every log file of a folder, validated, with engine-independent aggregates."""

    directory: Path
    features: dict[str, Kind] | None = None
    engine: Engine = "auto"
    threshold_bytes: int | None = None
    #: the version whose schema ``features`` is. A file without some of those columns was
    #: written by another version with another schema (two versions serve during a
    #: rollout): it is left out when it holds no row of this version (see ``excluded``),
    #: and is an error naming the column when it does, or when no version is given.
    version: str | None = None
    files: list[Path] = field(init=False)
    excluded: dict[Path, str] = field(init=False, default_factory=dict)
    #: files without rows yet (0 bytes, or a live writer's unfinished first line), why
    empty: dict[Path, str] = field(init=False, default_factory=dict)
    #: how much of each file this reader reads (taken once, when it is created)
    states: dict[Path, FileState] = field(init=False, default_factory=dict)
    total_bytes: int = field(init=False)
    chosen: Literal["pandas", "duckdb"] = field(init=False)
    _frames: dict[Path, pd.DataFrame] = field(init=False, default_factory=dict, repr=False)
    _frame_keys: dict[Path, Hashable] = field(init=False, default_factory=dict, repr=False)
    _counts: dict[tuple[Any, ...], pd.DataFrame] = field(
        init=False, default_factory=dict, repr=False
    )
    _spans: dict[Path, tuple[pd.Timestamp, pd.Timestamp, set[str]]] = field(
        init=False, default_factory=dict, repr=False
    )
    _duck: DuckLogs | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        found = []
        for path in log_files(self.directory):
            state = self.states[path] = file_state(path)
            if state.blank:
                self.empty[path] = state.note
            else:
                found.append(path)
        self.files = self._own_files(found)
        self.total_bytes = sum(self.states[p].readable for p in self.files)
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

    def _own_files(self, files: list[Path]) -> list[Path]:
        """``files`` without those another version's schema wrote (see ``version``)."""
        if not self.features or self.version is None:
            return files
        kept = []
        for path in files:
            try:
                names = {name for name, _ in read_header(path)}
            except LogError:
                kept.append(path)  # the full read reports it
                continue
            missing = [f for f in self.features if f not in names]
            held = file_versions(path, self.states[path]) if missing else None
            if held is not None and self.version not in held:
                self.excluded[path] = (
                    f"no rows of {self.version}; written by {', '.join(sorted(held))} "
                    f"without {', '.join(missing)}"
                )
            else:
                kept.append(path)
        return kept

    @classmethod
    def for_workspace(
        cls,
        ws: Any,
        profile: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        engine: Engine = "auto",
        threshold_bytes: int | None = None,
    ) -> ProductionLogs:
        return cls(
            ws.production_dir,
            features_of(profile) if profile else None,
            engine,
            threshold_bytes,
            version,
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
            wanted = None if self.features is None else tuple(self.features.items())
            state = self.states[path]
            # the bytes read are part of the key: a live file's unfinished line is not
            key, frame = FILE_FRAMES.compute_keyed(
                [path], (wanted, state.readable),
                lambda: read_log_file(path, self.features, state))
            self._frames[path] = frame
            self._frame_keys[path] = key
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
    def _con(self) -> DuckLogs:
        if self._duck is None:
            self._duck = DuckLogs(self.files, self.features,
                                  {p: self.states[p] for p in self.files})
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
            for version, (rows, first, last) in self._versions_of(path).items():
                cur = out.setdefault(version, {"rows": 0, "first": None, "last": None})
                cur["rows"] += rows
                cur["first"] = first if cur["first"] is None else min(cur["first"], first)
                cur["last"] = last if cur["last"] is None else max(cur["last"], last)
        return out

    def _versions_of(self, path: Path) -> dict[str, tuple[int, pd.Timestamp, pd.Timestamp]]:
        """version -> (rows, first, last) of one file, remembered under the key of the
        frame it was computed from (that file state, those validated columns)."""
        frame = self._frame_of(path)
        key = self._frame_keys[path]
        summary = FILE_VERSIONS.get(key)
        if summary is None:
            g = frame.groupby("version", sort=True)["timestamp"]
            summary = {str(v): (int(n), lo, hi) for v, n, lo, hi in
                       zip(g.size().index, g.size(), g.min(), g.max(), strict=True)}
            FILE_VERSIONS.put(key, summary)
        return summary

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
        from deployready.monitoring.drift import count_frame

        out: dict[date, BinCounts] = {}
        for day, f in self.iter_days(version, start, end):
            okf = f[f["error"] == ""]
            feats, pred = count_frame(profile, okf, okf["prediction"].to_numpy())
            out[day] = BinCounts(len(okf), feats, pred)
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
