"""Production prediction logs: one loader for every CSV/Parquet file under ``data/production/``.

Format (see the contracts): ``timestamp`` (ISO 8601, UTC when no offset is given),
``version``, ``latency_ms`` (float >= 0), ``prediction`` (empty on error), ``error``
(empty when the request succeeded, else its kind), optionally ``request_id`` (text or
integer; a log without it, or an empty cell, is a prediction without id — no
ground-truth label can join it, see :meth:`ProductionLogs.id_counts`), then one column
per schema feature.

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

Three engines compute the same aggregates:

- ``profiles`` (what :meth:`ProductionLogs.for_workspace` answers from, unless an engine
  is forced): the workspace's merged hourly profiles (``data/profiles.db``, brought up
  to date first), see :mod:`deployready.monitoring.profiles.reader` — counts identical,
  percentiles within 0.5 %; a window or bound finer than an hour, and the raw rows
  themselves (:meth:`ProductionLogs.frame`, :meth:`ProductionLogs.iter_days`), are read
  from the files by one of the two raw engines:
- ``pandas`` reads one file at a time with pyarrow (correctly rounded float parsing),
  validates it and keeps only the rows and columns a query needs;
- ``duckdb`` scans the files in place (CSV read as text, values cast in SQL), so logs
  larger than memory work; percentiles are ``quantile_cont`` (the same linear
  interpolation as numpy's default), bin counts are compare-and-count against the
  stored edges — the same numbers as the pandas path.

``engine="auto"`` picks DuckDB when the files' total size exceeds ``threshold_bytes``
(default :data:`DEFAULT_DUCKDB_THRESHOLD`, or ``$DEPLOYREADY_LOG_DUCKDB_BYTES``);
``$DEPLOYREADY_LOG_ENGINE`` forces one (``pandas`` or ``duckdb``: no profiles). Latency
aggregates are over successful rows (``error`` empty); errors are counted separately.
Rows of other versions are ignored.

The format lives in :mod:`deployready.monitoring.logs_schema`, the live-file state in
:mod:`deployready.monitoring.logs_live`, the one-file validation in
:mod:`deployready.monitoring.logs_file`, the pandas engine's frames and aggregates in
:mod:`deployready.monitoring.logs_pandas`, the DuckDB engine in
:mod:`deployready.monitoring.logs_duckdb`, the time bounds in
:mod:`deployready.times`; their public names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from deployready.errors import LogError
from deployready.monitoring import logs_pandas as pandas_engine
from deployready.monitoring.logs_duckdb import DuckLogs
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.logs_live import FileState, file_state
from deployready.monitoring.logs_pandas import DEFAULT_CACHE_BYTES, FILE_FRAMES, FileFrames
from deployready.monitoring.logs_schema import (
    MAX_FUTURE,
    MAX_LATENCY_MS,
    PERCENTILES,
    RAW_ENGINES,
    REQUIRED_COLUMNS,
    SUFFIXES,
    WINDOW_COLUMNS,
    BinCounts,
    Kind,
    _empty_windows,
    features_of,
    log_files,
    own_files,
    read_empty,
    requested_engine,
)
from deployready.monitoring.profiles.reader import ProfileReader
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
    "requested_engine",
    "to_utc",
    "utc_today",
    "window_delta",
    "yesterday",
]

DEFAULT_DUCKDB_THRESHOLD = 512 * 1024 * 1024

Engine = Literal["auto", "pandas", "duckdb", "profiles"]


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
    #: the workspace's profiles, when the aggregates are answered from them
    profiles: ProfileReader | None = None
    files: list[Path] = field(init=False)
    excluded: dict[Path, str] = field(init=False, default_factory=dict)
    #: files without rows yet (0 bytes, or a live writer's unfinished first line), why
    empty: dict[Path, str] = field(init=False, default_factory=dict)
    #: how much of each file this reader reads (taken once, when it is created)
    states: dict[Path, FileState] = field(init=False, default_factory=dict)
    total_bytes: int = field(init=False)
    chosen: Literal["pandas", "duckdb"] = field(init=False)
    _pandas: FileFrames = field(init=False, repr=False)
    _counts: dict[tuple[Any, ...], pd.DataFrame] = field(
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
        self.files = own_files(found, self.features, self.version, self.states, self.excluded)
        reader, files = self.profiles, self.files
        self._pandas = FileFrames(self.features, self.states, None if reader is None else (
            lambda: reader.file_spans({p: self.states[p] for p in files})))
        self.total_bytes = sum(self.states[p].readable for p in self.files)
        engine = requested_engine(self.engine)
        if engine == "profiles" and self.profiles is None:
            raise LogError("no profile store to answer from", location="engine",
                           expected="ProductionLogs.for_workspace, or a raw engine")
        threshold = self.threshold_bytes if self.threshold_bytes is not None else int(
            os.environ.get("DEPLOYREADY_LOG_DUCKDB_BYTES", DEFAULT_DUCKDB_THRESHOLD))
        if engine not in RAW_ENGINES:
            engine = "duckdb" if self.total_bytes > threshold else "pandas"
        self.chosen = engine  # type: ignore[assignment]

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
        """The workspace's logs; the aggregates answered from its profiles (brought up to
        date first) unless a raw engine is asked for (``engine`` or the environment) or
        the profiles cannot be brought up to date (see ``ProfileReader.for_workspace``)."""
        return cls(
            ws.production_dir,
            features_of(profile) if profile else None,
            engine,
            threshold_bytes,
            version,
            ProfileReader.unless_raw(ws, engine),
        )

    @property
    def answered_by(self) -> str:
        """The engine the aggregates come from: ``profiles``, ``pandas`` or ``duckdb``."""
        return "profiles" if self.profiles is not None else self.chosen

    def __bool__(self) -> bool:
        return bool(self.files)

    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    # ------------------------------------------------------------------ pandas
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
        parts = [rows for path in self.files
                 if (rows := self._pandas.rows(path, version, lo, hi, ok_only)) is not None]
        return pandas_engine.joined(parts, self.features)

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
                self._pandas.frame_of(path)

    def versions(self) -> dict[str, dict[str, Any]]:
        """version -> {rows, first, last} over all files."""
        if self.profiles is not None:
            return self.profiles.versions()
        if self.chosen == "duckdb":
            return dict(self._con().versions())
        return pandas_engine.merged_versions(self._pandas.versions_of(p) for p in self.files)

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
        if self.profiles is not None and (got := self.profiles.day_counts(*key)) is not None:
            out = got
        elif self.chosen == "duckdb":
            out = self._con().day_counts(*key)
        else:
            out = pandas_engine.day_counts(self.frame(version, start, end))
        self._counts[key] = out
        return out.copy()

    def id_counts(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> pd.DataFrame:
        """Index: UTC day (datetime.date); columns ok (successful rows), with_id (a
        ``request_id``: ground truth can join them), no_id (none: no performance)."""
        lo, hi = to_utc(start), to_utc(end)
        got = self.profiles.id_counts(version, lo, hi) if self.profiles else None
        if got is not None:
            return got
        if self.chosen == "duckdb":
            return self._con().id_counts(version, to_utc(start), to_utc(end))
        return pandas_engine.id_counts(self.frame(version, start, end, ok_only=True))

    def duck(self) -> DuckLogs:
        """The DuckDB engine over these files (created on first use, whichever engine
        ``chosen`` is): joins of the logs with other files run there."""
        return self._con()

    def error_kinds(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> dict[str, int]:
        lo, hi = to_utc(start), to_utc(end)
        got = self.profiles.error_kinds(version, lo, hi) if self.profiles else None
        if got is not None:
            return got
        if self.chosen == "duckdb":
            return self._con().error_kinds(version, to_utc(start), to_utc(end))
        return pandas_engine.error_kinds(self.frame(version, start, end))

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
        lo, hi = to_utc(start), to_utc(end)
        got = self.profiles.latency_windows(version, delta, lo, hi) if self.profiles else None
        if got is not None:
            return got
        if self.chosen == "duckdb":
            return self._con().latency_windows(version, delta, to_utc(start), to_utc(end))
        parts = []
        for _, f in self.iter_days(version, start, end):
            parts.append(pandas_engine.windows(f, delta))
        if not parts:
            return _empty_windows()
        return pd.concat(parts, ignore_index=True)

    def latency_summary(
        self, version: str | None = None, start: TimeLike = None, end: TimeLike = None
    ) -> dict[str, Any]:
        """requests, errors, count, p50, p95, p99, max, mean over [start, end)."""
        lo, hi = to_utc(start), to_utc(end)
        got = self.profiles.latency_summary(version, lo, hi) if self.profiles else None
        if got is not None:
            return got
        if self.chosen == "duckdb":
            return self._con().latency_summary(version, to_utc(start), to_utc(end))
        return pandas_engine.latency_summary(self.frame(version, start, end))

    def bin_counts(
        self,
        profile: Mapping[str, Any],
        version: str | None = None,
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> dict[date, BinCounts]:
        """Per UTC day: successful rows counted over the profile's bins."""
        lo, hi = to_utc(start), to_utc(end)
        got = self.profiles.bin_counts(profile, version, lo, hi) if self.profiles else None
        if got is not None:
            return got
        if self.chosen == "duckdb":
            return self._con().bin_counts(profile, version, to_utc(start), to_utc(end))
        from deployready.monitoring.drift import count_frame

        out: dict[date, BinCounts] = {}
        for day, f in self.iter_days(version, start, end):
            okf = f[f["error"] == ""]
            feats, pred = count_frame(profile, okf, okf["prediction"].to_numpy())
            out[day] = BinCounts(len(okf), feats, pred)
        return out
