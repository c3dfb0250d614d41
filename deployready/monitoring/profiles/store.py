"""The profile store ``data/profiles.db``: the merged monitoring evidence, and how far
each log file has been ingested.

A SQLite file of its own beside ``deployready.db``: profiles are derived data — delete it
and ``deployready ingest`` rebuilds it from the raw logs, the source of truth — so the
record store stays small and a rebuild never touches a decision. WAL mode; one
transaction per ingested file (its segment, hourly counts, bookkeeping row and the daily
roll-up of the days it touched): a process killed at any point leaves each file fully
ingested or not at all. This module owns every table:

- ``profile_sources`` — per log file (path relative to the workspace): size and mtime,
  bytes and rows profiled, the fingerprint of that prefix (sha256 of its length, first
  and last 64 KiB), the package hash of each version it holds (``layouts_json``);
- ``profile_segments`` — the row and byte ranges each stored profile came from;
- ``profile_hours`` — each segment's long form (:mod:`.frame`), per UTC hour;
- ``profile_days`` — the merged long form per UTC day, recomputed exactly from
  ``profile_hours`` for the days a write touched (24× fewer rows to read per day);
- ``profile_day_revisions`` — per UTC day, a random token replaced in the transaction of
  every write that touches the day (what a cache of per-day results is keyed on: a day
  re-profiled with the same row count but other values has a new revision). A store
  written before revisions existed gets one for every day when first opened;
- ``profile_state`` — the generation, moved on by every committed write (for caches).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from deployready.errors import StoreError
from deployready.monitoring.profiles.bookkeeping import FileWrite, Segment, SourceRow
from deployready.monitoring.profiles.day_rows import by_day, rows_by_day
from deployready.monitoring.profiles.db import MERGED, REBUILD, connect, day_text, identity, where
from deployready.monitoring.profiles.fetched import empty_counts, remembered
from deployready.monitoring.profiles.frame import KEYS

__all__ = ["PROFILES_FILE", "FileWrite", "ProfileStore", "Segment", "SourceRow"]

PROFILES_FILE = "profiles.db"
SCHEMA_VERSION = 3  # 2: profile_day_revisions; 3: profile_days_measure

SCHEMA = """
CREATE TABLE IF NOT EXISTS profile_sources (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    bytes INTEGER NOT NULL, rows INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    layouts_json TEXT NOT NULL, engine TEXT NOT NULL, ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profile_segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL,
    row_start INTEGER NOT NULL, row_end INTEGER NOT NULL,
    byte_start INTEGER NOT NULL, byte_end INTEGER NOT NULL,
    engine TEXT NOT NULL, ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_segments_path ON profile_segments (path);
CREATE TABLE IF NOT EXISTS profile_hours (
    segment INTEGER NOT NULL, version TEXT NOT NULL, package_sha256 TEXT NOT NULL,
    hour INTEGER NOT NULL, measure TEXT NOT NULL, key TEXT NOT NULL,
    bucket INTEGER NOT NULL, value INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_hours_read ON profile_hours (version, measure, hour);
CREATE INDEX IF NOT EXISTS profile_hours_hour ON profile_hours (hour);
CREATE INDEX IF NOT EXISTS profile_hours_segment ON profile_hours (segment);
CREATE TABLE IF NOT EXISTS profile_days (
    version TEXT NOT NULL, package_sha256 TEXT NOT NULL, day TEXT NOT NULL,
    measure TEXT NOT NULL, key TEXT NOT NULL, bucket INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (version, package_sha256, day, measure, key, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profile_days_measure ON profile_days (measure, version, day);
CREATE TABLE IF NOT EXISTS profile_day_revisions (
    day TEXT PRIMARY KEY, revision TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO profile_state (id, generation) VALUES (1, 0);
INSERT OR IGNORE INTO profile_day_revisions (day, revision)
    SELECT day, lower(hex(randomblob(16))) FROM (SELECT DISTINCT day FROM profile_days);
"""


class ProfileStore:
    """A handle on ``data/profiles.db`` (nothing is created until the first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: sqlite3.Connection | None = None

    @classmethod
    def open(cls, path: str | Path) -> ProfileStore:
        return cls(path)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, SCHEMA_VERSION)

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to read (None: nothing written yet). A store an older deployready
        wrote is brought to this schema first; one that cannot be written stays readable
        as it is, without what the newer schema adds (:meth:`day_revisions` is None)."""
        if not self.path.exists():
            yield None
            return
        conn = self._connect()
        try:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if 0 < found < SCHEMA_VERSION:
                conn.close()
                self._migrate()
                conn = self._connect()
                found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            yield conn if found > 0 else None  # 0: created, not written yet
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc} ({REBUILD})") from exc
        finally:
            conn.close()

    def _migrate(self) -> None:
        """Bring an older store to this schema (:meth:`transaction` does); a store that
        cannot be written is left as it is."""
        try:
            with self.transaction():
                pass
        except StoreError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection writes keep open between transactions."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (schema created on first use, generation moved on):
        committed on success, rolled back on any error. The connection stays open for
        the next one until :meth:`close`."""
        if self._writer is None:
            self._writer = self._connect()
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                yield conn
                conn.execute("UPDATE profile_state SET generation = generation + 1")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"{self.path}: write failed: {exc} ({REBUILD})") from exc

    def generation(self) -> int:
        """Changes on every committed write (0: nothing ingested yet)."""
        with self._reading() as conn:
            if conn is None:
                return 0
            return int(conn.execute("SELECT generation FROM profile_state").fetchone()[0])

    def sources(self) -> dict[str, SourceRow]:
        """Every ingested log file's bookkeeping row, by path (relative to the workspace)."""
        with self._reading() as conn:
            if conn is None:
                return {}
            rows = conn.execute("SELECT * FROM profile_sources ORDER BY path").fetchall()
        return {row["path"]: SourceRow.of_row(row) for row in rows}

    def segments(self, path: str | None = None) -> list[Segment]:
        """The stored segments (of one file), oldest first."""
        with self._reading() as conn:
            if conn is None:
                return []
            sql = "SELECT * FROM profile_segments"
            params: tuple[Any, ...] = ()
            if path is not None:
                sql, params = sql + " WHERE path = ?", (path,)
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [Segment(*row) for row in rows]

    def spans(self) -> dict[str, dict[str, tuple[int, int]]]:
        """Per log file (path relative to the workspace), per version: the epoch µs of
        its first and last profiled row (the hours' ``first_us``/``last_us`` merged)."""
        out: dict[str, dict[str, tuple[int, int]]] = {}
        with self._reading() as conn:
            if conn is None:
                return out
            versions = {v for row in conn.execute("SELECT layouts_json FROM profile_sources")
                        for v in json.loads(row[0])}
            for version in sorted(versions):  # the (version, measure, hour) index answers
                for path, first, last in conn.execute(
                        "SELECT s.path, MIN(CASE WHEN h.measure = 'first_us' THEN h.value END), "
                        "MAX(CASE WHEN h.measure = 'last_us' THEN h.value END) "
                        "FROM profile_hours h INDEXED BY profile_hours_read "
                        "JOIN profile_segments s ON s.id = h.segment WHERE h.version = ? "
                        "AND h.measure IN ('first_us', 'last_us') GROUP BY s.path",
                        (version,)):
                    if first is not None and last is not None:
                        out.setdefault(str(path), {})[version] = (int(first), int(last))
        return out

    def day_revisions(self) -> dict[date, str] | None:
        """Each profiled UTC day's revision (see the module); None when the store predates
        revisions and could not be brought up to date (nothing may be keyed on it)."""
        with self._reading() as conn:
            return {} if conn is None else _revisions(conn)

    def counts(
        self,
        version: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        measures: Sequence[str] | None = None,
        grain: Literal["hour", "day"] = "hour",
        package_sha256: str | None = None,
        days: Sequence[date] | None = None,
    ) -> pd.DataFrame:
        """The long form merged over segments, of the hours (or UTC days) starting in
        ``[start, end)``: columns version, package_sha256, ``hour`` (epoch s of the hour's
        start) or ``day`` (datetime.date), measure, key, bucket, value — in key order.
        ``package_sha256`` and ``days`` (day grain) narrow it to that package, those days."""
        if grain not in ("hour", "day"):
            raise ValueError(f"grain {grain!r}: expected 'hour' or 'day'")
        def query(lo: datetime | None, hi: datetime | None) -> tuple[str, list[Any]]:
            clause, params = where(version, lo, hi, measures, grain,
                                   package_sha256=package_sha256, days=days)
            return _read_sql(grain, clause, measures, (lo, hi) != (None, None)), params
        sql, params = query(start, end)
        with self._reading() as conn:
            if conn is None:
                return empty_counts(grain)
            conn.row_factory = None
            conn.execute("BEGIN")  # the generation, revisions and rows of one snapshot
            key = (identity(self.path), conn.execute(
                "SELECT generation FROM profile_state").fetchone()[0], sql, tuple(params))
            question = (str(self.path.resolve()), version, package_sha256, grain,
                        tuple(measures or ()))
            return remembered(key, grain, lambda: rows_by_day(
                question, _revisions(conn) if by_day(measures) else None, start, end, days,
                lambda lo, hi: conn.execute(*query(lo, hi)).fetchall()))

    def write_file(self, write: FileWrite,
                   before_commit: Callable[[], None] | None = None) -> bool:
        """Store one ingested file in one transaction; False (nothing written) when its
        bookkeeping row is no longer ``write.expected``."""
        path = write.source.path
        with self.transaction() as conn:
            if _current(conn, path) != write.expected:
                return False
            dropped = _drop_segments(conn, path) if write.replace else set()
            segment = None
            if len(write.profile) or write.span[1] > write.span[0]:
                segment = _insert_segment(conn, write)
            _put_source(conn, write.source)
            _roll_up(conn, dropped)
            if segment is not None:
                _add_days(conn, segment, dropped)
            _revise(conn, dropped | (_days_of(conn, segment) if segment is not None else set()))
            if before_commit is not None:
                before_commit()
        return True

    def remove_file(self, path: str, expected: SourceRow | None,
                    before_commit: Callable[[], None] | None = None) -> bool:
        """Forget a log file that is gone: its segments, counts and bookkeeping row."""
        with self.transaction() as conn:
            if _current(conn, path) != expected:
                return False
            days = _drop_segments(conn, path)
            conn.execute("DELETE FROM profile_sources WHERE path = ?", (path,))
            _roll_up(conn, days)
            _revise(conn, days)
            if before_commit is not None:
                before_commit()
        return True


def _read_sql(grain: str, clause: str, measures: Sequence[str] | None, timed: bool) -> str:
    """The merged read of ``clause`` (:func:`where`), in key order; a few days of a few
    measures found by the measure index (by version, all days are scanned)."""
    if grain == "day":
        days = " INDEXED BY profile_days_measure" if by_day(measures) else ""
        return ("SELECT version, package_sha256, day, measure, key, bucket, value FROM "
                f"profile_days{days}{clause} ORDER BY {', '.join(KEYS).replace('hour', 'day')}")
    index = "read" if measures is not None else "hour" if timed else None
    table = f"profile_hours INDEXED BY profile_hours_{index}" if index else "profile_hours"
    return (f"SELECT version, package_sha256, hour, measure, key, bucket, {MERGED} "
            f"FROM {table}{clause} GROUP BY {', '.join(KEYS)}")


def _revisions(conn: sqlite3.Connection) -> dict[date, str] | None:
    """Each day's revision; None when the store predates them (:meth:`day_revisions`)."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
        return None
    return {date.fromisoformat(str(d)): str(r) for d, r in
            conn.execute("SELECT day, revision FROM profile_day_revisions")}


def _current(conn: sqlite3.Connection, path: str) -> SourceRow | None:
    row = conn.execute("SELECT * FROM profile_sources WHERE path = ?", (path,)).fetchone()
    return SourceRow.of_row(row) if row is not None else None


def _drop_segments(conn: sqlite3.Connection, path: str) -> set[int]:
    """Delete a file's segments and counts; the days (epoch day numbers) they touched."""
    ids = [r[0] for r in conn.execute("SELECT id FROM profile_segments WHERE path = ?", (path,))]
    days: set[int] = set()
    for seg in ids:
        days |= _days_of(conn, seg)
        conn.execute("DELETE FROM profile_hours WHERE segment = ?", (seg,))
    conn.execute("DELETE FROM profile_segments WHERE path = ?", (path,))
    return days


def _days_of(conn: sqlite3.Connection, segment: int) -> set[int]:
    """The days (epoch day numbers) a segment has counts in."""
    return {int(r[0]) for r in conn.execute(
        "SELECT DISTINCT hour / 86400 FROM profile_hours WHERE segment = ?", (segment,))}


def _revise(conn: sqlite3.Connection, days: set[int]) -> None:
    """A new revision for each of ``days`` (epoch day numbers), in the write's transaction."""
    conn.executemany(
        "INSERT OR REPLACE INTO profile_day_revisions (day, revision) VALUES (?, ?)",
        [(day_text(day), secrets.token_hex(16)) for day in sorted(days)])


def _insert_segment(conn: sqlite3.Connection, write: FileWrite) -> int:
    src = write.source
    cur = conn.execute(
        "INSERT INTO profile_segments (path, row_start, row_end, byte_start, byte_end, "
        "engine, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (src.path, *write.span, src.engine, src.ingested_at),
    )
    seg = int(cur.lastrowid or 0)
    p = write.profile
    conn.executemany(
        "INSERT INTO profile_hours (segment, version, package_sha256, hour, measure, key, "
        "bucket, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        zip([seg] * len(p), p["version"].tolist(), p["package_sha256"].tolist(),
            p["hour"].tolist(), p["measure"].tolist(), p["key"].tolist(),
            p["bucket"].tolist(), p["value"].tolist(), strict=True),
    )
    return seg


def _add_days(conn: sqlite3.Connection, segment: int, skip: set[int]) -> None:
    """Add a new segment's counts to ``profile_days`` (days in ``skip`` were recomputed
    from ``profile_hours`` already)."""
    skipped = ", ".join(str(int(d)) for d in sorted(skip))
    conn.execute(
        "INSERT INTO profile_days (version, package_sha256, day, measure, key, bucket, value) "
        "SELECT version, package_sha256, date(hour / 86400 * 86400, 'unixepoch'), measure, "
        f"key, bucket, {MERGED} FROM profile_hours WHERE segment = ? "
        f"AND hour / 86400 NOT IN ({skipped}) "
        "GROUP BY version, package_sha256, hour / 86400, measure, key, bucket "
        "ON CONFLICT (version, package_sha256, day, measure, key, bucket) DO UPDATE SET "
        "value = CASE measure WHEN 'first_us' THEN MIN(value, excluded.value) "
        "WHEN 'last_us' THEN MAX(value, excluded.value) ELSE value + excluded.value END",
        (segment,),
    )


def _put_source(conn: sqlite3.Connection, src: SourceRow) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO profile_sources (path, size, mtime_ns, bytes, rows, "
        "fingerprint, layouts_json, engine, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (src.path, src.size, src.mtime_ns, src.bytes, src.rows, src.fingerprint,
         json.dumps(src.layouts, sort_keys=True), src.engine, src.ingested_at),
    )


def _roll_up(conn: sqlite3.Connection, days: set[int]) -> None:
    """Recompute ``profile_days`` of the given epoch days from ``profile_hours``."""
    for day in sorted(days):
        text = day_text(day)
        conn.execute("DELETE FROM profile_days WHERE day = ?", (text,))
        conn.execute(
            "INSERT INTO profile_days (version, package_sha256, day, measure, key, bucket, "
            f"value) SELECT version, package_sha256, ?, measure, key, bucket, {MERGED} "
            "FROM profile_hours WHERE hour >= ? AND hour < ? "
            "GROUP BY version, package_sha256, measure, key, bucket",
            (text, day * 86400, (day + 1) * 86400),
        )
