"""The ``daily_checks`` table and the daily record: the only module that reads or writes it.

One row per (date, version): the key columns (package hash, creation time, status) and
the whole :class:`DailyRecord` as JSON (``record_json``). Re-storing a day replaces its
row. Records written by older versions load unchanged: their items carry no category
(they are ``daily`` checks) and no evidence.

**Green.** A day is green when its record's status is ``ok``: it had log rows and no
check failed (a pending check — no baseline, no predictions, too few labels yet — does
not turn a day red; nor does a ``warn`` item, an estimate below a threshold; a realized
performance failure does).
:func:`is_green` is that rule; the record, the review checklist, the CLI's exit code and
the rollout gate's bake time all ask it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from deployready.checks import Category, Check, Status
from deployready.errors import StoreError
from deployready.monitoring.drift import DriftResult
from deployready.monitoring.logs import as_date
from deployready.store import Rows, dumps
from deployready.workspace import Workspace

DailyStatus = Literal["ok", "alert", "no_data"]

#: Daily-record statuses that count as green; ``alert`` and ``no_data`` are red.
GREEN_STATUSES = frozenset({"ok"})

#: The serialized form of a daily item (stored JSON and ``daily --json``).
ITEM_KEYS = ("name", "status", "value", "threshold", "message")


def is_green(status: str) -> bool:
    """Whether a day with this daily-record status is green (see the module doc)."""
    return str(status).lower() in GREEN_STATUSES


def day_status(rows: int, checks: Iterable[Check]) -> DailyStatus:
    """``no_data`` without log rows, ``alert`` when a check fails, else ``ok``."""
    if rows == 0:
        return "no_data"
    return "alert" if any(c.status is Status.FAIL for c in checks) else "ok"


@dataclass(frozen=True)
class DailyRecord:
    """One day of one version: what was measured, what was decided, what was sent."""

    date: str
    version: str
    package_sha256: str
    status: DailyStatus
    created_at: str
    rows: int
    errors: int
    error_rate: float | None
    trailing_error_rate: float | None
    error_kinds: dict[str, int]
    latency: dict[str, Any]
    baseline: dict[str, Any]
    spikes: list[dict[str, Any]]
    checks: list[Check]
    drift: DriftResult | None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    engine: str = "pandas"

    @property
    def green(self) -> bool:
        return is_green(self.status)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "version": self.version,
            "package_sha256": self.package_sha256,
            "status": self.status,
            "green": self.green,
            "created_at": self.created_at,
            "rows": self.rows,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "trailing_error_rate": self.trailing_error_rate,
            "error_kinds": self.error_kinds,
            "latency": self.latency,
            "baseline": self.baseline,
            "spikes": self.spikes,
            "checks": [c.as_dict(ITEM_KEYS) for c in self.checks],
            "drift": self.drift.as_dict() if self.drift else None,
            "alerts": self.alerts,
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DailyRecord:
        drift = data.get("drift")
        return cls(
            date=data["date"],
            version=data["version"],
            package_sha256=data["package_sha256"],
            status=data["status"],
            created_at=data["created_at"],
            rows=data["rows"],
            errors=data["errors"],
            error_rate=data.get("error_rate"),
            trailing_error_rate=data.get("trailing_error_rate"),
            error_kinds=dict(data.get("error_kinds") or {}),
            latency=dict(data.get("latency") or {}),
            baseline=dict(data.get("baseline") or {}),
            spikes=list(data.get("spikes") or []),
            checks=[Check.from_dict(c, category=Category.DAILY) for c in data.get("checks") or []],
            drift=DriftResult.from_dict(drift) if drift else None,
            alerts=list(data.get("alerts") or []),
            engine=data.get("engine", "pandas"),
        )


@dataclass(frozen=True)
class StoredDay:
    """The key columns of one stored record, read without parsing its JSON."""

    date: str
    version: str
    package_sha256: str
    status: str
    created_at: str

    @property
    def green(self) -> bool:
        return is_green(self.status)


# --------------------------------------------------------------------------- writing


def _clean(value: Any) -> Any:
    """NaN/inf → None, numpy scalars → Python (the store writes strict JSON)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def write_record(conn: sqlite3.Connection, record: DailyRecord) -> None:
    """Store (replace) the record of its (date, version), inside the caller's transaction."""
    conn.execute(
        "INSERT OR REPLACE INTO daily_checks (date, version, package_sha256, created_at, "
        "status, record_json) VALUES (?, ?, ?, ?, ?, ?)",
        (
            record.date,
            record.version,
            record.package_sha256,
            record.created_at,
            record.status,
            dumps(_clean(record.as_dict())),
        ),
    )


# --------------------------------------------------------------------------- reading


def _from_row(row: sqlite3.Row) -> DailyRecord:
    try:
        return DailyRecord.from_dict(json.loads(row["record_json"]))
    except (ValueError, KeyError, TypeError) as exc:  # bad JSON, a missing key, a bad status
        raise StoreError(
            f"daily_checks/{row['date']}/{row['version']}: unreadable daily record: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def daily_status(ws: Workspace, version: str, day: str | date) -> DailyRecord | None:
    """The stored record of one (date, version), or None."""
    rows = ws.store.query(
        "SELECT date, version, record_json FROM daily_checks WHERE date = ? AND version = ?",
        (_day(day), version),
    )
    return _from_row(rows[0]) if rows else None


def list_daily(
    ws: Workspace,
    version: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
) -> list[DailyRecord]:
    """Stored records, oldest first, optionally of one version and within [start, end]."""
    sql, params = "SELECT date, version, record_json FROM daily_checks WHERE 1 = 1", []
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    if start is not None:
        sql += " AND date >= ?"
        params.append(_day(start))
    if end is not None:
        sql += " AND date <= ?"
        params.append(_day(end))
    sql += " ORDER BY date, version"
    return [_from_row(r) for r in ws.store.query(sql, tuple(params))]


@dataclass(frozen=True)
class DailySummary:
    """What a table of stored daily checks shows of one record, read without parsing the
    record (a year of records, each with every feature's bins, takes seconds to build)."""

    date: str
    status: str
    rows: int
    errors: int
    p99: float | None
    prediction_psi: float | None
    max_psi: float | None  # the highest feature PSI (DriftResult.max_psi)
    alert_kinds: list[str]


#: the fields as JSON text, picked out by SQLite (numbers exactly as stored): the record
#: parsed once for the scalars and the alerts, once for every feature's PSI
_SUMMARY_SQL = (
    "SELECT date, version, json_extract(record_json, '$.status', '$.rows', '$.errors', "
    "'$.latency.p99', '$.drift.prediction.psi', '$.alerts'), "
    "(SELECT group_concat(f.value -> '$.psi', ',') "
    "FROM json_each(record_json, '$.drift.features') AS f) "
    "FROM daily_checks WHERE version = ? ORDER BY date"
)


def daily_summaries(ws: Workspace, version: str) -> list[DailySummary]:
    """The stored records of ``version``, oldest first, as :class:`DailySummary`: the
    fields :func:`list_daily` would give, without building the records."""
    try:
        found = ws.store.query(_SUMMARY_SQL, (version,))
    except StoreError:
        for row in ws.store.query("SELECT date, version FROM daily_checks WHERE version = ? "
                                  "AND NOT json_valid(record_json) ORDER BY date", (version,)):
            raise StoreError(f"daily_checks/{row['date']}/{row['version']}: unreadable daily "
                             "record: not JSON") from None
        raise
    return [_summary(*row) for row in found]


def _summary(day: str, version: str, fields: str, psis: str | None) -> DailySummary:
    try:
        status, rows, errors, p99, pred, alerts = json.loads(fields)
        if not isinstance(status, str):
            raise TypeError(f"status {status!r}")
        psi = [float(v) for v in json.loads(f"[{psis or ''}]") if v is not None]
        return DailySummary(
            date=str(day), status=str(status), rows=int(rows), errors=int(errors),
            p99=None if p99 is None else float(p99),
            prediction_psi=None if pred is None else float(pred),
            max_psi=max(psi) if psi else None,
            alert_kinds=[str(a["kind"]) for a in alerts or []],
        )
    except (ValueError, TypeError, KeyError) as exc:  # a field missing or of another type
        raise StoreError(f"daily_checks/{day}/{version}: unreadable daily record: "
                         f"{type(exc).__name__}: {exc}") from exc


def newest_daily(
    ws: Workspace, version: str | None = None, count: int | None = 30
) -> list[DailyRecord]:
    """The ``count`` newest stored records (every one for None), newest first, optionally
    of one version. Only the records that can be among them are parsed: from the date of
    the ``count``-th newest on.
    """
    if count is None:
        return list(reversed(list_daily(ws, version)))
    if count <= 0:
        return []
    sql, params = "SELECT date FROM daily_checks", list[Any]()
    if version is not None:
        sql += " WHERE version = ?"
        params.append(version)
    sql += " ORDER BY date DESC, version DESC LIMIT 1 OFFSET ?"
    params.append(count - 1)
    boundary = ws.store.query(sql, tuple(params))
    start = boundary[0]["date"] if boundary else None
    return list(reversed(list_daily(ws, version, start=start)))[:count]


def first_daily_date(ws: Workspace) -> date | None:
    """The date of the oldest stored record, or None."""
    for row in ws.store.query("SELECT MIN(date) AS d FROM daily_checks"):
        if row["d"]:
            return date.fromisoformat(str(row["d"])[:10])
    return None


def days_after(rows: Rows, version: str, after: date) -> list[StoredDay]:
    """The stored days of ``version`` strictly after ``after``, oldest first.

    ``rows`` is the read to use: ``ws.store.query``, or a transaction's
    (:func:`deployready.store.reader`) so a decision sees what it records against.
    """
    found = rows(
        "SELECT date, version, package_sha256, status, created_at FROM daily_checks "
        "WHERE version = ? AND date > ? ORDER BY date",
        (version, after.isoformat()),
    )
    return [
        StoredDay(
            date=str(r["date"]),
            version=str(r["version"]),
            package_sha256=str(r["package_sha256"]),
            status=str(r["status"]),
            created_at=str(r["created_at"]),
        )
        for r in found
    ]


def _day(day: str | date) -> str:
    return as_date(day).isoformat()
