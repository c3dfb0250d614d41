"""The profile store's SQLite file (:mod:`.store` owns its tables): opening it, how a read
merges counts, and the ``WHERE`` clause of a read — which version, package, time range,
days and measures — with its parameters, never formatted values."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from deployready.errors import StoreError

__all__ = ["MERGED", "REBUILD", "connect", "day_text", "epoch", "identity", "where"]

REBUILD = "derived data: delete it and run `deployready ingest` to rebuild it from the logs"

#: How counts of one key merge: sums, but the earliest/latest timestamps by min/max.
MERGED = ("CASE measure WHEN 'first_us' THEN MIN(value) WHEN 'last_us' THEN MAX(value) "
          "ELSE SUM(value) END")


def connect(path: Path, newest: int) -> sqlite3.Connection:
    """A connection in WAL mode; StoreError when the file is not a profile store or its
    schema is newer than ``newest``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path}: cannot open the profile store: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        # a year of hourly profiles is ~1 GB: a page cache of 256 MiB (only what is
        # touched is allocated) keeps the indexes an ingest updates in memory
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("PRAGMA temp_store=MEMORY")
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path}: not a profile store: {exc} ({REBUILD})") from exc
    if found > newest:
        conn.close()
        raise StoreError(f"{path}: profile store schema {found} is newer than this "
                         f"deployready ({newest}); upgrade deployready ({REBUILD})")
    return conn


def epoch(moment: datetime) -> int:
    """Epoch seconds of ``moment`` (naive: UTC)."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def day_text(day: int) -> str:
    """The ISO date of an epoch day number."""
    return datetime.fromtimestamp(day * 86400, UTC).date().isoformat()


def identity(path: Path) -> tuple[str, int, int, int]:
    """The store file as a file: a store deleted and rebuilt is another one, whatever its
    generation (the main file's change time moves on every checkpoint, too)."""
    st = path.stat()
    return str(path.resolve()), st.st_dev, st.st_ino, st.st_ctime_ns


def where(version: str | None, start: datetime | None, end: datetime | None,
          measures: Sequence[str] | None, grain: str, *, package_sha256: str | None = None,
          days: Sequence[date] | None = None) -> tuple[str, list[Any]]:
    """The clause and its parameters; ``days`` (day grain only) keeps just those UTC days,
    ``package_sha256`` the rows binned against that package."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("version", version), ("package_sha256", package_sha256)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if measures is not None:
        clauses.append(f"measure IN ({', '.join('?' * len(measures))})")
        params.extend(measures)
    if days is not None:
        if grain != "day":
            raise ValueError("a list of days is asked at the day grain")
        clauses.append(f"day IN ({', '.join('?' * len(days))})")
        params.extend(d.isoformat() for d in days)
    for moment, op in ((start, ">="), (end, "<")):
        if moment is None:
            continue
        seconds = epoch(moment)
        if grain == "day":  # a day counts when its start is in [start, end)
            days_from_epoch = -(-seconds // 86400)
            clauses.append(f"day {op} ?")
            params.append(datetime.fromtimestamp(days_from_epoch * 86400, UTC).date().isoformat())
        else:
            clauses.append(f"hour {op} ?")
            params.append(-(-seconds // 3600) * 3600)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params
