"""The week's sample of production rows, each day's share kept across processes.

:func:`week_sample` draws at most ``rows`` successful rows of a version from the
:data:`WEEK` days ending on ``last``, spread over the days in proportion to their rows:

- each day ``d`` with ``n_d`` successful rows has its own seeded order of its rows (a
  uniformly random ordered sample of ``min(n_d, rows)`` of them, the generator seeded by
  ``(seed, the day's ordinal)``), which depends on nothing but the day;
- of the week's ``total`` rows, day ``d`` gives the first ``min(n_d, ceil(rows · n_d /
  total))`` rows of its order, put back in time order; the days are joined oldest first
  and cut to ``rows`` (the newest day loses the rounding's few extra rows).

A day never gives more than ``rows`` rows, so whatever week a day falls in, its rows come
from the first ``min(n_d, rows)`` of its order. Those rows (the feature columns) and
``n_d`` are kept in the workspace's cache folder (``week-rows-<key>.parquet``, Parquet:
nothing is unpickled) under a key of the version, its features and their kinds, the day,
the day's revision in the profile store, the seed and ``rows``: after a new day only the
new day's log rows are read, and the sample is the one drawn from every day's rows read
again. A kept file that is missing, unreadable, holds another key or other positions, or
whose rows no longer match the SHA-256 digest kept beside them, is drawn again from the
day's rows and rewritten. The :data:`KEPT_DAYS` most recently used files stay; older ones
are removed when a new one is written. Nothing is kept or read from the cache when
the profile store cannot answer (a raw engine forced, a log file the ingest refuses, a
store without revisions) or for a day it has no revision of.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deployready.memo import cache_path, keep_newest, used, write_atomic
from deployready.monitoring.daily import read_profile
from deployready.monitoring.logs import ProductionLogs, day_bounds, features_of
from deployready.monitoring.logs_schema import Kind
from deployready.monitoring.profiles.reader import ProfileReader
from deployready.workspace import Workspace

__all__ = ["WEEK", "DayRows", "day_positions", "day_rows", "takes", "week_of",
           "week_sample"]

WEEK = 7
#: kept days (the most recently used stay: a day file still growing gets a new revision,
#: so a new kept file, at each ingest; a few weeks of several versions fit)
KEPT_DAYS = 64
#: the Parquet metadata entry holding a kept day's key, row count and positions
_META = b"deployready.week_rows"


@dataclass(frozen=True)
class DayRows:
    """A day's part of any week's sample: its row count and the rows it can give."""

    #: the day's successful rows of the version
    count: int
    #: the first ``min(count, rows)`` positions of the day's seeded order
    positions: np.ndarray
    #: the rows at ``positions`` (in that order), feature columns only, index 0..k-1
    rows: pd.DataFrame


def day_positions(seed: int, day: date, count: int, rows: int) -> np.ndarray:
    """The first ``min(count, rows)`` positions of ``day``'s seeded order of its rows."""
    k = max(0, min(count, rows))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng((seed, day.toordinal()))
    return rng.choice(count, k, replace=False, shuffle=True).astype(np.int64)


def day_rows(frame: pd.DataFrame, features: Sequence[str], seed: int, day: date,
             rows: int) -> DayRows:
    """``day``'s part drawn from its successful rows ``frame`` (time-ordered)."""
    positions = day_positions(seed, day, len(frame), rows)
    columns = [c for c in features if c in frame.columns]
    return DayRows(len(frame), positions,
                   frame.iloc[positions][columns].reset_index(drop=True))


def takes(counts: Sequence[int], rows: int) -> list[int]:
    """How many rows each day gives: ``min(n_d, ceil(rows · n_d / total))``."""
    total = sum(counts)
    return [min(n, -(-rows * n // total)) if total and rows > 0 else 0 for n in counts]


def week_of(days: Sequence[DayRows], features: Sequence[str], rows: int) -> pd.DataFrame:
    """The week's sample from its days' parts (oldest first); see the module doc."""
    parts = []
    for part, take in zip(days, takes([d.count for d in days], rows), strict=True):
        if take > 0:
            order = np.argsort(part.positions[:take], kind="stable")
            parts.append(part.rows.iloc[order])
    if not parts:
        return pd.DataFrame(columns=list(features))
    sample = pd.concat(parts, ignore_index=True)
    return sample.iloc[:rows][[c for c in features if c in sample.columns]]


def week_sample(
    ws: Workspace, version: str, last: date, rows: int, *, seed: int = 0,
    reader: ProfileReader | None = None,
) -> pd.DataFrame:
    """At most ``rows`` successful logged requests of ``version`` in the week ending on
    ``last`` (see the module doc); the serving schema's feature columns. ``reader``: the
    caller's ``ProfileReader.unless_raw(ws)`` when it has one (else opened here)."""
    features = features_of(read_profile(ws, version))
    reader = reader if reader is not None else ProfileReader.unless_raw(ws)
    # the revisions are read before any row: rows of a day re-profiled meanwhile are kept
    # under a revision the store has moved past, so drawn again next time (never older
    # rows under a newer revision)
    revisions = reader.store.day_revisions() if reader is not None else None
    days = [last - timedelta(days=back) for back in range(WEEK - 1, -1, -1)]
    paths = {d: _kept_file(ws.root, _day_key(version, features, d, revisions[d], seed, rows))
             for d in days if revisions and d in revisions}
    found = {d: kept for d, (path, key) in paths.items()
             if (kept := _read_kept(path, key, seed, d, rows, features)) is not None}
    missing = [d for d in days if d not in found]
    if missing:
        logs = ProductionLogs(ws.production_dir, features, "auto", None, version, reader)
        try:
            for d in missing:
                frame = logs.frame(version, *day_bounds(d), ok_only=True)
                found[d] = day_rows(frame, list(features), seed, d, rows)
                if d in paths:
                    _keep(*paths[d], found[d])
        finally:
            logs.close()
    return week_of([found[d] for d in days], list(features), rows)


def _day_key(version: str, features: Mapping[str, Kind], day: date, revision: str,
             seed: int, rows: int) -> str:
    """A hash of what a day's part is drawn from: the version and its features (what a
    read of the day's rows returns), the day and its revision, the seed and ``rows``."""
    text = json.dumps(["week-rows-1", version, [[f, k] for f, k in features.items()],
                       day.isoformat(), revision, seed, rows])
    return hashlib.sha256(text.encode()).hexdigest()


def _kept_file(root: Path, key: str) -> tuple[Path, str]:
    return cache_path(root, f"week-rows-{key[:32]}.parquet"), key


def _read_kept(path: Path, key: str, seed: int, day: date, rows: int,
               features: Mapping[str, Kind]) -> DayRows | None:
    """The day's part kept under ``key``; None when absent or unusable."""
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_META])
        count, positions = meta["count"], meta["positions"]
        if meta["key"] != key or type(count) is not int or count < 0:
            return None
        want = day_positions(seed, day, count, rows)
        if positions != want.tolist() or table.num_rows != want.size or not set(
                table.column_names) <= set(features):
            return None
        frame = table.to_pandas()
        if meta["digest"] != _digest(frame):  # a value edited or damaged since
            return None
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException):
        return None
    used(path)
    return DayRows(count, want, frame)


def _digest(rows: pd.DataFrame) -> str:
    """SHA-256 of the rows' columns, dtypes and values (pandas' row hashes, in order)."""
    head = json.dumps([[str(c), str(t)] for c, t in rows.dtypes.items()]).encode()
    values = pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()
    return hashlib.sha256(head + values).hexdigest()


def _keep(path: Path, key: str, part: DayRows) -> None:
    """Keep ``part`` under ``key`` (nothing kept when its rows cannot be Parquet)."""
    try:
        table = pa.Table.from_pandas(part.rows, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError):
        return
    try:  # the digest of the rows as they read back: what a reader checks
        digest = _digest(table.to_pandas())
    except (pa.ArrowException, ValueError, TypeError):
        return
    meta = json.dumps({"key": key, "count": part.count, "digest": digest,
                       "positions": part.positions.tolist()}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META: meta})

    def write(out: IO[bytes]) -> None:
        pq.write_table(table, out)

    if write_atomic(path, write):
        keep_newest(path.parent, "week-rows-*.parquet", KEPT_DAYS)
