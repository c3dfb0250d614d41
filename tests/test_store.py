"""The SQLite store: migrations, transactions, integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deployready.errors import StoreError
from deployready.store import SCHEMA_VERSION, Store


def test_migrates_and_sets_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "deployready.db")
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO alerts (created_at, kind, severity, message) "
            "VALUES ('t', 'k', 'warn', 'm')"
        )
    assert store.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert len(store.query("SELECT * FROM alerts")) == 1
    assert store.integrity_check() == "ok"


def test_failed_transaction_leaves_previous_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO alerts (created_at, kind, severity, message) VALUES ('t', 'a', 'w', 'm')"
        )
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(
            "INSERT INTO alerts (created_at, kind, severity, message) VALUES ('t', 'b', 'w', 'm')"
        )
        raise RuntimeError("boom")
    kinds = [r["kind"] for r in store.query("SELECT kind FROM alerts")]
    assert kinds == ["a"]


def test_constraint_violation_is_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(StoreError, match="write failed"), store.transaction() as conn:
        conn.execute("INSERT INTO alerts (created_at) VALUES ('t')")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path).query("SELECT 1")


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(path).query("SELECT 1")


def test_reads_of_missing_store_are_empty(tmp_path: Path) -> None:
    assert Store(tmp_path / "none.db").query("SELECT 1") == []
    assert not (tmp_path / "none.db").exists()


def test_a_first_schema_store_is_migrated_in_place(tmp_path: Path) -> None:
    from deployready.store import MIGRATIONS

    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO loadtest_runs (version, package_sha256, mode, target, status, "
                 "started_at, config_json) VALUES ('v1.0', 'a', 'closed', 'serve', "
                 "'completed', 't', '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(path)
    rows = store.query("SELECT version, status, claimant FROM loadtest_runs")
    assert [tuple(r) for r in rows] == [("v1.0", "completed", None)]
    assert store.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_two_handles_opening_a_new_store_at_once(tmp_path: Path) -> None:
    """Switching a new database to WAL is answered "locked" without waiting while the
    other handle holds it: both must open (checked over many fresh stores)."""
    import threading

    failures: list[BaseException] = []
    for i in range(60):
        path = tmp_path / f"s{i}" / "deployready.db"
        barrier = threading.Barrier(2, timeout=30)

        def open_and_write(target: Path = path, gate: threading.Barrier = barrier) -> None:
            try:
                store = Store(target)
                gate.wait()
                with store.transaction() as conn:
                    conn.execute("INSERT INTO alerts (created_at, kind, severity, message) "
                                 "VALUES ('t', 'k', 'warn', 'm')")
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=open_and_write) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert failures == []
