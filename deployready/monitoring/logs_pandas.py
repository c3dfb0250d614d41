"""The pandas engine of :class:`deployready.monitoring.logs.ProductionLogs`.

Each file is read and validated whole by :func:`deployready.monitoring.logs_file.read_log_file`
(pyarrow: correctly rounded float parsing) and only the rows and columns a query needs
are kept. Validated frames are remembered per file state in :data:`FILE_FRAMES`, shared by
every reader of the process, so a dashboard that re-reads 365 daily files after one of
them changed parses one file, not 365. The aggregates are computed here from those
frames, with the shapes of :mod:`deployready.monitoring.logs_schema`, so that they equal
the DuckDB engine's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.memo import FileMemo
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.logs_live import FileState
from deployready.monitoring.logs_schema import (
    ID_COUNT_COLUMNS,
    REQUEST_ID,
    WINDOW_COLUMNS,
    Kind,
    _empty_counts,
    _empty_id_counts,
    _empty_windows,
    _summary,
    read_empty,
)

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024

#: version -> (rows, first, last timestamp) of one file
VersionSpans = dict[str, tuple[int, pd.Timestamp, pd.Timestamp]]


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


#: version -> [first timestamp, a bound above the last) of one file's rows
Spans = Mapping[str, tuple[pd.Timestamp, pd.Timestamp]]

#: Validated frames of log files, shared by every reader in this process.
#: Bounded by ``$DEPLOYREADY_LOG_CACHE_MB`` (default 256; 0 turns it off).
FILE_FRAMES: FileMemo[pd.DataFrame] = FileMemo(_cache_bytes(), _frame_bytes)
#: Per file: version -> (rows, first, last timestamp). Small; up to 100,000 files.
FILE_VERSIONS: FileMemo[VersionSpans] = FileMemo(100_000)


def _meets(known: Spans, version: str | None,
           lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> bool:
    """Whether rows spanning [first, bound) per version can meet ``version`` in [lo, hi)."""
    if version is None:
        spans = list(known.values())
    else:
        spans = [known[version]] if version in known else []
    return any((lo is None or bound > lo) and (hi is None or first < hi)
               for first, bound in spans)


class FileFrames:
    """The validated frames of a reader's files, each read once, as far as its state."""

    def __init__(self, features: Mapping[str, Kind] | None,
                 states: Mapping[Path, FileState],
                 known: Callable[[], Mapping[Path, Spans]] | None = None) -> None:
        self.features = features
        self.states = states
        #: per file, known without reading it (from its profiles, asked for on the first
        #: range read): version -> [first, bound) of its rows
        self._known_of = known
        self._known: Mapping[Path, Spans] | None = None
        self._frames: dict[Path, pd.DataFrame] = {}
        self._keys: dict[Path, Hashable] = {}
        self._spans: dict[Path, tuple[pd.Timestamp, pd.Timestamp, set[str]]] = {}

    def frame_of(self, path: Path) -> pd.DataFrame:
        frame = self._frames.get(path)
        if frame is None:
            wanted = None if self.features is None else tuple(self.features.items())
            state = self.states[path]
            # the bytes read are part of the key: a live file's unfinished line is not
            key, frame = FILE_FRAMES.compute_keyed(
                [path], (wanted, state.readable),
                lambda: read_log_file(path, self.features, state))
            self._frames[path] = frame
            self._keys[path] = key
            ts = frame["timestamp"]
            self._spans[path] = (ts.min(), ts.max(), set(frame["version"].unique().tolist()))
        return frame

    def rows(self, path: Path, version: str | None, lo: pd.Timestamp | None,
             hi: pd.Timestamp | None, ok_only: bool) -> pd.DataFrame | None:
        """The file's rows of ``version`` in [lo, hi) (None: none). A file whose span is
        known is not read when it holds no row of the version in the range."""
        if self._known is None:
            self._known = self._known_of() if self._known_of is not None else {}
        known = self._known.get(path)
        if known is not None and not _meets(known, version, lo, hi):
            return None
        f = self.frame_of(path)
        first, last, versions = self._spans[path]
        if (lo is not None and last < lo) or (hi is not None and first >= hi):
            return None
        if version is not None and version not in versions:
            return None
        mask = np.ones(len(f), dtype=bool)
        if version is not None:
            mask &= (f["version"] == version).to_numpy()
        if lo is not None:
            mask &= (f["timestamp"] >= lo).to_numpy()
        if hi is not None:
            mask &= (f["timestamp"] < hi).to_numpy()
        if ok_only:
            mask &= (f["error"] == "").to_numpy()
        return f[mask] if mask.any() else None

    def versions_of(self, path: Path) -> VersionSpans:
        """version -> (rows, first, last) of one file, remembered under the key of the
        frame it was computed from (that file state, those validated columns)."""
        frame = self.frame_of(path)
        key = self._keys[path]
        summary = FILE_VERSIONS.get(key)
        if summary is None:
            g = frame.groupby("version", sort=True)["timestamp"]
            summary = {str(v): (int(n), lo, hi) for v, n, lo, hi in
                       zip(g.size().index, g.size(), g.min(), g.max(), strict=True)}
            FILE_VERSIONS.put(key, summary)
        return summary


# --------------------------------------------------------------------------- aggregates


def joined(parts: list[pd.DataFrame], features: Mapping[str, Kind] | None) -> pd.DataFrame:
    """Rows of several files, time-ordered (an empty frame of the columns when none)."""
    if not parts:
        return read_empty(features)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("timestamp", kind="stable", ignore_index=True)


def merged_versions(per_file: Iterable[VersionSpans]) -> dict[str, dict[str, Any]]:
    """version -> {rows, first, last} over files."""
    out: dict[str, dict[str, Any]] = {}
    for spans in per_file:
        for version, (rows, first, last) in spans.items():
            cur = out.setdefault(version, {"rows": 0, "first": None, "last": None})
            cur["rows"] += rows
            cur["first"] = first if cur["first"] is None else min(cur["first"], first)
            cur["last"] = last if cur["last"] is None else max(cur["last"], last)
    return out


def day_counts(f: pd.DataFrame) -> pd.DataFrame:
    """Index: UTC day (datetime.date); columns rows, ok, errors."""
    if f.empty:
        return _empty_counts()
    day = f["timestamp"].dt.floor("D").dt.date
    err = (f["error"] != "").astype(np.int64)
    g = pd.DataFrame({"day": day, "rows": 1, "errors": err}).groupby("day", sort=True).sum()
    g["ok"] = g["rows"] - g["errors"]
    g.index.name = "day"
    return g[["rows", "ok", "errors"]].astype(np.int64)


def id_counts(f: pd.DataFrame) -> pd.DataFrame:
    """Index: UTC day (datetime.date); columns ok (successful rows), with_id, no_id."""
    ok = f[f["error"] == ""]
    if ok.empty:
        return _empty_id_counts()
    day = ok["timestamp"].dt.floor("D").dt.date
    has = ok[REQUEST_ID].notna().to_numpy().astype(np.int64)
    g = pd.DataFrame({"day": day, "ok": 1, "with_id": has}).groupby("day", sort=True).sum()
    g["no_id"] = g["ok"] - g["with_id"]
    g.index.name = "day"
    return g[ID_COUNT_COLUMNS].astype(np.int64)


def error_kinds(f: pd.DataFrame) -> dict[str, int]:
    vc = f.loc[f["error"] != "", "error"].value_counts()
    return {str(k): int(v) for k, v in sorted(vc.items())}


def latency_summary(f: pd.DataFrame) -> dict[str, Any]:
    return _summary(f["latency_ms"].to_numpy(), (f["error"] != "").to_numpy())


def windows(f: pd.DataFrame, delta: pd.Timedelta) -> pd.DataFrame:
    """The latency summary of each ``delta``-long window (from the epoch) with rows."""
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
