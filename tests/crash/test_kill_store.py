"""kill -9 during store transactions and history appends: old or new state, never half.

One child alternates a daily record (and its two alerts, one transaction) with a
certification-history append, so a random kill lands in either kind of write.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

from crash.support import VERSION, child, daily_record, day, history_row
from deployready.certification.history import append_run, load_history
from deployready.monitoring.daily import alert_key, list_daily, store_record
from deployready.store import dumps
from deployready.workspace import Workspace

ATTEMPTS = 3
WRITES_PER_CHILD = 300


def _expected_record(i: int) -> dict[str, object]:
    """What the child stored for day ``i`` (before alerts were attached)."""
    data = json.loads(dumps(daily_record(i).as_dict()))
    data.pop("alerts")
    return data


def _assert_store_consistent(ws: Workspace, committed: list[str]) -> int:
    """Integrity ok; every committed day intact; every record with exactly its alerts."""
    assert ws.store.integrity_check() == "ok"
    with sqlite3.connect(ws.store_path) as conn:  # a second, independent reader
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    rows = {r["date"]: r for r in ws.store.query("SELECT * FROM daily_checks")}
    alerts = {json.loads(r["detail_json"])["key"]: r
              for r in ws.store.query("SELECT * FROM alerts")}
    assert set(committed) <= set(rows), sorted(set(committed) - set(rows))[:5]
    assert len(rows) - len(committed) in (0, 1)  # committed, killed before it said so
    index = {day(i): i for i in range(len(rows) + 1)}
    for date, row in rows.items():
        record = json.loads(row["record_json"])
        refs = record.pop("alerts")
        assert record == _expected_record(index[date]), date
        assert row["status"] == "alert" and row["version"] == VERSION
        keys = {alert_key(VERSION, date, name) for name in ("p99", "error_spike")}
        assert keys <= set(alerts), f"{date}: a record without its alerts"
        assert {ref["id"] for ref in refs} == {int(alerts[k]["id"]) for k in keys}
    dates_with_alerts = {json.loads(r["detail_json"])["date"] for r in alerts.values()}
    assert dates_with_alerts == set(rows), "alerts without their daily record"
    assert len(alerts) == 2 * len(rows)
    return len(rows)


def _assert_history_consistent(path: Path, committed: list[str]) -> int:
    """The history loads (old or new content, never truncated) and is a prefix of runs."""
    history = load_history(path)
    run_ids = list(history["run_id"])
    assert set(committed) <= set(run_ids)
    assert len(run_ids) - len(committed) in (0, 1)  # renamed, killed before it said so
    assert run_ids == [f"run-{i}" for i in range(1, len(run_ids) + 1)], "not a prefix"
    return len(run_ids)


def test_kill_during_store_transactions_and_history_appends(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    path = ws.certification_dir / "history.csv"
    rng = random.Random(7)
    days: list[str] = []
    run_ids: list[str] = []
    first = 0
    for _attempt in range(ATTEMPTS):
        with child("writes", str(ws.root), str(path), str(first), str(WRITES_PER_CHILD)) as proc:
            proc.wait_for("committed run", count=3, timeout=90)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.kill9()
            days += proc.reported("committed day")
            run_ids += proc.reported("committed run")
        assert len(days) < first + WRITES_PER_CHILD, "the child finished before the kill"
        stored = _assert_store_consistent(ws, days)
        appended = _assert_history_consistent(path, run_ids)
        assert appended in (stored - 1, stored)
        # the next child continues after the last stored day (and appends its run first)
        if appended < stored:
            append_run(path, history_row(stored))
        first = stored
        days = [day(i) for i in range(stored)]  # what is committed now, reported or not
        run_ids = [f"run-{i}" for i in range(1, stored + 1)]

    # the store is still writable and readable through the engine
    final = store_record(ws, daily_record(first), deliver=False)
    assert {a["id"] for a in final.alerts}
    assert _assert_store_consistent(ws, [*days, day(first)]) == first + 1
    assert list_daily(ws, VERSION)

    # a history writer killed between its temporary file and the rename leaves at most a
    # hidden temporary file, which the next append removes
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    assert all(name.startswith(f".{path.name}.") and name.endswith(".tmp")
               for name in leftovers), leftovers
    (path.parent / f".{path.name}.k1ll3d.tmp").write_text("run_id,trained_at\nrun-x,")
    append_run(path, history_row(first + 1))
    assert list(load_history(path)["run_id"])[-1] == f"run-{first + 1}"
    assert [p.name for p in path.parent.iterdir()] == [path.name]
