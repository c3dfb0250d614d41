"""The workspace's SQLite store (``data/deployready.db``).

Load-test runs, daily checks, alerts, rollout events, sign-offs and the access log live
here. The database runs in WAL mode; the schema version is ``PRAGMA user_version`` and is
moved forward by the numbered migrations below, each in its own transaction. Every write
goes through :meth:`Store.transaction`, so an interrupted write leaves the previous state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployready.errors import StoreError

STORE_FILE = "deployready.db"

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE loadtest_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        version TEXT NOT NULL,
        package_sha256 TEXT NOT NULL,
        mode TEXT NOT NULL,
        target TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
        started_at TEXT NOT NULL,
        finished_at TEXT,
        config_json TEXT NOT NULL,
        result_json TEXT,
        passed INTEGER,
        samples_path TEXT,
        pid INTEGER,
        error TEXT
    );
    CREATE INDEX loadtest_runs_version ON loadtest_runs (version, package_sha256);

    CREATE TABLE daily_checks (
        date TEXT NOT NULL,
        version TEXT NOT NULL,
        package_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        record_json TEXT NOT NULL,
        PRIMARY KEY (date, version)
    );

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        version TEXT,
        message TEXT NOT NULL,
        detail_json TEXT NOT NULL DEFAULT '{}',
        delivery_json TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX alerts_created ON alerts (created_at);

    CREATE TABLE rollout_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        version TEXT NOT NULL,
        action TEXT NOT NULL,
        from_pct INTEGER,
        to_pct INTEGER,
        allowed INTEGER NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        evidence_json TEXT NOT NULL DEFAULT '{}'
    );

    CREATE TABLE signoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        version TEXT,
        name TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        items_json TEXT NOT NULL DEFAULT '[]'
    );
    """,
    # 2: the process that claimed a load-test run ("pid:create_time"), so a run whose
    # claimant died before its worker started is not waited for
    """
    ALTER TABLE loadtest_runs ADD COLUMN claimant TEXT;
    """,
    # 3: who acted: the identity (channel, subject, email, issuer, the rule that allowed
    # it) of rollout events and sign-offs (NULL on older rows: the actor as typed), and
    # the access log of every decision on an action, refusals included
    """
    ALTER TABLE rollout_events ADD COLUMN identity_json TEXT;
    ALTER TABLE signoffs ADD COLUMN identity_json TEXT;
    CREATE TABLE access_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        allowed INTEGER NOT NULL,
        actor TEXT NOT NULL,
        channel TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        identity_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX access_log_action ON access_log (action, id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


#: A read: SQL and parameters in, rows out. ``Store.query`` is one; :func:`reader` of an
#: open transaction is another, so a decision can read inside the transaction that
#: records it.
Rows = Callable[[str, tuple[Any, ...]], list[sqlite3.Row]]


def reader(conn: sqlite3.Connection) -> Rows:
    """Reads on an open connection (inside its transaction)."""

    def rows(sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        return list(conn.execute(sql, params).fetchall())

    return rows


def utcnow() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, allow_nan=False)


def _use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch to WAL unless already there. Switching needs the database to itself and
    SQLite answers "locked" without waiting when another connection holds it (two
    processes opening a new store at once): retry for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    """A thin, thread-safe handle on the workspace database."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._migrated = False

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.path}: not a deployready store: {exc}") from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._migrated:
            return
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this deployready "
                f"({SCHEMA_VERSION}); upgrade deployready"
            )
        for number in range(version, SCHEMA_VERSION):
            try:
                conn.execute("BEGIN IMMEDIATE")
                # re-read inside the write lock: another process may have migrated
                current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if current > number:
                    conn.execute("COMMIT")
                    continue
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: migration {number + 1} failed: {exc}") from exc
        self._migrated = True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._lock:
            conn = self._connect()
            try:
                self._migrate(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: write failed: {exc}") from exc
            finally:
                conn.close()

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query and return all rows."""
        if not self.path.exists():
            return []
        with self._lock:
            conn = self._connect()
            try:
                self._migrate(conn)
                return list(conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: read failed: {exc}") from exc
            finally:
                conn.close()

    def integrity_check(self) -> str:
        rows = self.query("PRAGMA integrity_check")
        return str(rows[0][0]) if rows else "ok"
