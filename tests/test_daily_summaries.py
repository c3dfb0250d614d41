"""The stored daily checks' summary (the Drift page's table): the fields ``list_daily``
gives, read without building the records; an unreadable record is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployready.errors import StoreError
from deployready.monitoring.daily_store import daily_summaries, list_daily
from deployready.workspace import Workspace


def test_summaries_equal_the_records(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    records = list_daily(ws, "v1.0")
    summaries = daily_summaries(ws, "v1.0")
    assert len(records) == len(summaries) >= 30
    assert any(r.alerts for r in records) and any(r.drift for r in records)
    for r, s in zip(records, summaries, strict=True):
        assert (s.date, s.status, s.rows, s.errors) == (r.date, r.status, r.rows, r.errors)
        assert s.p99 == r.latency.get("p99")
        assert s.prediction_psi == (r.drift.prediction.psi
                                    if r.drift and r.drift.prediction else None)
        assert s.max_psi == (r.drift.max_psi if r.drift else None)
        assert s.alert_kinds == [a["kind"] for a in r.alerts]
    assert daily_summaries(ws, "v9.9") == []


def test_an_unreadable_record_is_named(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    day = list_daily(ws, "v1.0")[3].date
    with ws.store.transaction() as conn:
        conn.execute("UPDATE daily_checks SET record_json = ? WHERE date = ? AND version = ?",
                     ('{"status": "ok", "rows": "many"', day, "v1.0"))
    with pytest.raises(StoreError, match=f"daily_checks/{day}/v1.0: unreadable daily record"):
        daily_summaries(ws, "v1.0")
    with ws.store.transaction() as conn:
        conn.execute("UPDATE daily_checks SET record_json = ? WHERE date = ? AND version = ?",
                     ('{"status": "ok", "rows": "many"}', day, "v1.0"))
    with pytest.raises(StoreError, match=f"daily_checks/{day}/v1.0: unreadable daily record"):
        daily_summaries(ws, "v1.0")
