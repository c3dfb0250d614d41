"""Alerts and their sinks.

Every alert is stored in the ``alerts`` table and appended to ``data/alerts.log`` (JSON
lines) — the log sink is always on. When ``policy.alerts.webhook_url`` is set, it is
also POSTed there as JSON (timeout ``timeout_s``, up to ``retries`` retries after the
first attempt, exponential backoff); 2xx is delivered, anything else is retried.

Delivery is never fatal: every attempt and failure is recorded in the alert's
``delivery_json`` (a list of ``{"sink", "ok", "time", ...}``), so a failed webhook is
visible on the dashboard and can be retried with :func:`redeliver`.

Alerts carry an optional dedupe ``key`` (stored in ``detail_json["key"]``): recording an
alert whose key already exists returns the existing alert instead of a new one, so a
re-run daily check does not alert twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deployready.policy import AlertsPolicy
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace

ALERT_LOG = "alerts.log"
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Alert:
    """An alert to raise."""

    kind: str  # e.g. latency_p99, latency_spike, latency_drift, error_rate, prediction_drift
    severity: Severity
    message: str
    version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # dedupe key: one alert per key, ever


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert with its delivery history."""

    id: int
    created_at: str
    kind: str
    severity: str
    version: str | None
    message: str
    detail: dict[str, Any]
    delivery: list[dict[str, Any]]
    new: bool = False  # created by this call (False: an existing alert with the same key)

    @property
    def key(self) -> str | None:
        k = self.detail.get("key")
        return str(k) if k is not None else None

    @property
    def delivered(self) -> bool:
        """The latest delivery to every sink succeeded."""
        latest = {d.get("sink"): bool(d.get("ok")) for d in self.delivery}
        return bool(latest) and all(latest.values())

    @property
    def failed_sinks(self) -> list[str]:
        latest = {str(d.get("sink")): bool(d.get("ok")) for d in self.delivery}
        return [sink for sink, ok in latest.items() if not ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "kind": self.kind,
            "severity": self.severity,
            "version": self.version,
            "message": self.message,
            "detail": self.detail,
            "delivery": self.delivery,
            "delivered": self.delivered,
            "key": self.key,
        }


def _record(row: sqlite3.Row, new: bool = False) -> AlertRecord:
    return AlertRecord(
        id=int(row["id"]),
        created_at=row["created_at"],
        kind=row["kind"],
        severity=row["severity"],
        version=row["version"],
        message=row["message"],
        detail=json.loads(row["detail_json"] or "{}"),
        delivery=json.loads(row["delivery_json"] or "[]"),
        new=new,
    )


# --------------------------------------------------------------------------- storing


def record_alerts(
    conn: sqlite3.Connection, alerts: Iterable[Alert], created_at: str | None = None
) -> list[AlertRecord]:
    """Insert alerts inside the caller's transaction; an existing key is not re-inserted."""
    created_at = created_at or utcnow()
    out: list[AlertRecord] = []
    for alert in alerts:
        if alert.key is not None:
            row = conn.execute(
                "SELECT * FROM alerts WHERE json_extract(detail_json, '$.key') = ? "
                "ORDER BY id LIMIT 1",
                (alert.key,),
            ).fetchone()
            if row is not None:
                out.append(_record(row, new=False))
                continue
        detail = dict(alert.detail)
        if alert.key is not None:
            detail["key"] = alert.key
        cur = conn.execute(
            "INSERT INTO alerts (created_at, kind, severity, version, message, detail_json, "
            "delivery_json) VALUES (?, ?, ?, ?, ?, ?, '[]')",
            (created_at, alert.kind, alert.severity, alert.version, alert.message, dumps(detail)),
        )
        row = conn.execute("SELECT * FROM alerts WHERE id = ?", (cur.lastrowid,)).fetchone()
        out.append(_record(row, new=True))
    return out


def list_alerts(
    ws: Workspace,
    *,
    version: str | None = None,
    kind: str | None = None,
    since: str | None = None,
    key_prefix: str | None = None,
    limit: int | None = None,
    with_unversioned: bool = False,
) -> list[AlertRecord]:
    """Stored alerts, newest first; with ``version``, that version's (and, with
    ``with_unversioned``, the alerts of no version too)."""
    sql, params = "SELECT * FROM alerts WHERE 1 = 1", []
    if version is not None:
        sql += " AND (version = ? OR version IS NULL)" if with_unversioned else " AND version = ?"
        params.append(version)
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if since is not None:
        sql += " AND created_at >= ?"
        params.append(since)
    if key_prefix is not None:
        sql += " AND json_extract(detail_json, '$.key') LIKE ? ESCAPE '\\'"
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(escaped + "%")
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_record(r) for r in ws.store.query(sql, tuple(params))]


# --------------------------------------------------------------------------- sinks


def payload_of(record: AlertRecord, workspace: str) -> dict[str, Any]:
    return {
        "source": "deployready",
        "workspace": workspace,
        "id": record.id,
        "created_at": record.created_at,
        "kind": record.kind,
        "severity": record.severity,
        "version": record.version,
        "message": record.message,
        "detail": record.detail,
    }


def write_log(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Append one JSON line; returns the delivery entry (never raises)."""
    entry: dict[str, Any] = {"sink": "log", "path": str(path), "time": utcnow()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(payload, sort_keys=True, default=str) + "\n")
        entry["ok"] = True
    except (OSError, TypeError, ValueError) as exc:
        entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return entry


def send_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float = 5.0,
    retries: int = 3,
    backoff_s: float = 0.5,
) -> dict[str, Any]:
    """POST ``payload`` as JSON; retry on errors and non-2xx. Never raises."""
    entry: dict[str, Any] = {"sink": "webhook", "url": url, "ok": False, "attempts": []}
    try:
        body = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        entry.update(time=utcnow(), error=f"payload not JSON: {exc}")
        return entry
    for attempt in range(max(0, retries) + 1):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), 10.0))
        info: dict[str, Any] = {"attempt": attempt + 1, "time": utcnow()}
        try:
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "deployready"},
            )
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                info["status"] = int(response.status)
        except urllib.error.HTTPError as exc:
            info.update(status=int(exc.code), error=f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            info["error"] = f"{type(exc).__name__}: {reason}"
        entry["attempts"].append(info)
        if 200 <= int(info.get("status", 0)) < 300 and "error" not in info:
            entry.update(ok=True, status=info["status"])
            break
    entry["time"] = utcnow()
    if not entry["ok"]:
        entry["error"] = entry["attempts"][-1].get("error", "not delivered")
    return entry


# --------------------------------------------------------------------------- delivery


def deliver(
    ws: Workspace,
    records: Sequence[AlertRecord],
    policy: AlertsPolicy | None = None,
    *,
    backoff_s: float = 0.5,
) -> list[AlertRecord]:
    """Send stored alerts to every sink and record the outcome. Never raises for a sink."""
    policy = policy or ws.policy().alerts
    out: list[AlertRecord] = []
    for record in records:
        payload = payload_of(record, str(ws.root))
        entries = [write_log(ws.data_dir / ALERT_LOG, payload)]
        if policy.webhook_url:
            entries.append(
                send_webhook(
                    policy.webhook_url,
                    payload,
                    timeout_s=policy.timeout_s,
                    retries=policy.retries,
                    backoff_s=backoff_s,
                )
            )
        delivery = [*record.delivery, *entries]
        try:
            with ws.store.transaction() as conn:
                conn.execute(
                    "UPDATE alerts SET delivery_json = ? WHERE id = ?", (dumps(delivery), record.id)
                )
        except Exception as exc:  # the store itself failed: keep going, report in the result
            delivery.append(
                {
                    "sink": "store",
                    "ok": False,
                    "time": utcnow(),
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
        out.append(
            AlertRecord(
                record.id,
                record.created_at,
                record.kind,
                record.severity,
                record.version,
                record.message,
                record.detail,
                delivery,
                record.new,
            )
        )
    return out


def fire(
    ws: Workspace,
    alerts: Iterable[Alert],
    policy: AlertsPolicy | None = None,
    *,
    backoff_s: float = 0.5,
) -> list[AlertRecord]:
    """Store alerts (deduplicated by key) and deliver the new ones."""
    with ws.store.transaction() as conn:
        records = record_alerts(conn, alerts)
    fresh = deliver(ws, [r for r in records if r.new], policy, backoff_s=backoff_s)
    by_id = {r.id: r for r in fresh}
    return [by_id.get(r.id, r) for r in records]


def redeliver(
    ws: Workspace, policy: AlertsPolicy | None = None, *, backoff_s: float = 0.5
) -> list[AlertRecord]:
    """Retry the alerts that were never delivered or whose last delivery failed."""
    pending = [r for r in list_alerts(ws) if not r.delivery or not r.delivered]
    return deliver(ws, list(reversed(pending)), policy, backoff_s=backoff_s)
