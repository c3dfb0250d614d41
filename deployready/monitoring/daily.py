"""The daily check: one stored record per (date, version), alerts fired once.

``run_daily(ws, version, date)`` measures one UTC day of a version's production logs:

- ``p99``: the day's P99 latency (successful requests) < ``latency.p99_ms``;
- ``error_spike``: error rate ≤ ``daily.max_error_rate``, and not above
  ``daily.error_spike_factor`` × the median rate of the 7 previous days (when > 0);
- ``prediction_psi``: PSI of the prediction distribution < ``daily.prediction_psi_alert``;
- ``feature_psi``: no feature with PSI ≥ ``drift.psi_alert`` (amber ≥ ``psi_warn`` noted);
- ``latency_spike``: no ``latency.window`` whose P99 > ``latency.spike_ms`` (times reported);
- ``latency_drift``: P95/P99 at most ``latency.max_drift`` slower than the baseline
  (pending without a baseline).

A check is ``pass``, ``fail`` or ``pending`` (no evidence — e.g. no baseline, no
successful requests). The record's ``status`` is ``alert`` when any check fails, else
``ok``; ``no_data`` when the version has no log rows that day (which raises a
``no_data`` warning alert). ``green`` (what rollout gates read) is ``status == "ok"``;
amber features do not turn a day red.

**Defaults.** ``version=None``: with no date, the newest package version with logs on
the last logged day (the deployed one); with a date, the newest package version with log
rows on it; else the newest package. ``date=None``: the last day with logs of that version that is
before today (UTC) — normally yesterday for a cron job, and the last logged day for a
static workspace; yesterday (UTC) when the version has no logs.

**Storage.** The record (every number, the PSI bin edges and proportions, the baseline)
goes to ``daily_checks`` with ``INSERT OR REPLACE`` in the same transaction as its
alerts; re-running a day replaces the record. Alerts are keyed
``daily/<version>/<date>/<check>``: a re-run finds the existing alert and neither
stores nor sends it again.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.errors import DeployReadyError, PackageError
from deployready.monitoring import alerts as alerts_mod
from deployready.monitoring.alerts import Alert
from deployready.monitoring.drift import DriftResult, drift_from_counts
from deployready.monitoring.latency import (
    Baseline,
    drift_of,
    find_spikes,
    resolve_baseline,
)
from deployready.monitoring.logs import (
    ProductionLogs,
    as_date,
    day_bounds,
    features_of,
    utc_today,
    window_delta,
)
from deployready.package.manifest import package_sha256_or_none
from deployready.package.profile import PROFILE_FILE, check_profile
from deployready.policy import Policy
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace, parse_version

TRAILING_DAYS = 7
CHECK_NAMES = (
    "p99",
    "error_spike",
    "prediction_psi",
    "feature_psi",
    "latency_spike",
    "latency_drift",
)
DailyStatus = Literal["ok", "alert", "no_data"]
ItemStatus = Literal["pass", "fail", "pending"]


@dataclass(frozen=True)
class DailyItem:
    name: str
    status: ItemStatus
    value: Any
    threshold: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


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
    checks: list[DailyItem]
    drift: DriftResult | None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    engine: str = "pandas"

    @property
    def green(self) -> bool:
        return self.status == "ok"

    def check(self, name: str) -> DailyItem | None:
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
            "checks": [c.as_dict() for c in self.checks],
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
            checks=[DailyItem(**c) for c in data.get("checks") or []],
            drift=DriftResult.from_dict(drift) if drift else None,
            alerts=list(data.get("alerts") or []),
            engine=data.get("engine", "pandas"),
        )


# --------------------------------------------------------------------------- reading


def _from_row(row: Any) -> DailyRecord:
    return DailyRecord.from_dict(json.loads(row["record_json"]))


def daily_status(ws: Workspace, version: str, day: str | date) -> DailyRecord | None:
    """The stored record of one (date, version), or None."""
    rows = ws.store.query(
        "SELECT record_json FROM daily_checks WHERE date = ? AND version = ?",
        (as_date(day).isoformat(), version),
    )
    return _from_row(rows[0]) if rows else None


def list_daily(
    ws: Workspace,
    version: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
) -> list[DailyRecord]:
    """Stored records, oldest first, optionally of one version and within [start, end]."""
    sql, params = "SELECT record_json FROM daily_checks WHERE 1 = 1", []
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    if start is not None:
        sql += " AND date >= ?"
        params.append(as_date(start).isoformat())
    if end is not None:
        sql += " AND date <= ?"
        params.append(as_date(end).isoformat())
    sql += " ORDER BY date, version"
    return [_from_row(r) for r in ws.store.query(sql, tuple(params))]


# --------------------------------------------------------------------------- helpers


def read_profile(ws: Workspace, version: str) -> dict[str, Any]:
    path = ws.package_path(version) / PROFILE_FILE
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PackageError(
            "missing reference profile",
            source=path,
            expected="the package's reference_profile.json",
        ) from exc
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise PackageError(
            f"unreadable reference profile: {exc}", source=path, expected="UTF-8 JSON"
        ) from exc
    return check_profile(profile, path)


def _newest(versions: Sequence[str]) -> str | None:
    parsed = [(p, v) for v in versions if (p := parse_version(v)) is not None]
    return max(parsed)[1] if parsed else None


def resolve_version_and_date(
    ws: Workspace, version: str | None, day: str | date | None, logs: ProductionLogs | None = None
) -> tuple[str, date]:
    """Apply the documented defaults for ``version`` and ``date``."""
    packages = ws.versions()
    if version is not None and version not in packages:
        raise DeployReadyError(
            f"{ws.models_dir}: no package {version} (packages: {', '.join(packages) or 'none'})"
        )
    logs = logs if logs is not None else ProductionLogs(ws.production_dir, {})
    info = {v: i for v, i in (logs.versions() if logs else {}).items() if v in packages}
    the_day = as_date(day) if day is not None else None
    if version is None:
        if the_day is None and info:
            last_day = max(pd.Timestamp(i["last"]).date() for i in info.values())
            version = _newest([v for v in info if pd.Timestamp(info[v]["last"]).date() == last_day])
        elif the_day is not None and info:
            lo, hi = day_bounds(the_day)
            on_day = [
                v
                for v in info
                if info[v]["first"] < hi
                and info[v]["last"] >= lo
                and logs.day_counts(v, lo, hi)["rows"].sum() > 0
            ]
            version = _newest(on_day)
        version = version or _newest(packages)
        if version is None:
            raise DeployReadyError(f"{ws.models_dir}: no model packages to check")
    if the_day is None:
        today = utc_today()
        days = [d for d in logs.days(version) if d < today] if version in info else []
        the_day = days[-1] if days else today - timedelta(days=1)
    return version, the_day


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if v != v else v


# --------------------------------------------------------------------------- the check


def _items(
    policy: Policy,
    rows: int,
    errors: int,
    trailing: float | None,
    latency: Mapping[str, Any],
    spikes: list[dict[str, Any]],
    baseline: Baseline,
    drift: DriftResult | None,
) -> list[DailyItem]:
    lp, dp, daily = policy.latency, policy.drift, policy.daily
    items: list[DailyItem] = []
    p99 = _f(latency.get("p99"))
    if p99 is None:
        items.append(
            DailyItem(
                "p99", "pending", None, f"< {lp.p99_ms:g} ms", "No successful requests: no P99."
            )
        )
    else:
        items.append(
            DailyItem(
                "p99",
                "pass" if p99 < lp.p99_ms else "fail",
                round(p99, 3),
                f"< {lp.p99_ms:g} ms",
                f"P99 {p99:.1f} ms over {latency.get('count')} requests.",
            )
        )
    rate = errors / rows if rows else None
    limit = f"≤ {daily.max_error_rate:.2%} and ≤ {daily.error_spike_factor:g}× the 7-day median"
    if rate is None:
        items.append(DailyItem("error_spike", "pending", None, limit, "No requests."))
    else:
        spike_abs = rate > daily.max_error_rate
        spike_rel = bool(trailing) and rate > daily.error_spike_factor * float(trailing or 0)
        med = "n/a" if trailing is None else f"{trailing:.2%}"
        items.append(
            DailyItem(
                "error_spike",
                "fail" if spike_abs or spike_rel else "pass",
                round(rate, 6),
                limit,
                f"{errors} errors in {rows} requests ({rate:.2%}); 7-day median {med}.",
            )
        )
    pred = drift.prediction if drift else None
    if pred is None or pred.psi is None:
        items.append(
            DailyItem(
                "prediction_psi",
                "pending",
                None,
                f"< {daily.prediction_psi_alert:g}",
                "No predictions to compare.",
            )
        )
    else:
        items.append(
            DailyItem(
                "prediction_psi",
                "fail" if pred.psi >= daily.prediction_psi_alert else "pass",
                round(pred.psi, 6),
                f"< {daily.prediction_psi_alert:g}",
                f"Prediction PSI {pred.psi:.3f} over {pred.count} predictions.",
            )
        )
    if drift is None or drift.max_psi is None:
        items.append(
            DailyItem(
                "feature_psi",
                "pending",
                None,
                f"< {dp.psi_alert:g}",
                "No feature values to compare.",
            )
        )
    else:
        alert, warn = drift.alerting, drift.warning
        parts = []
        if alert:
            parts.append("alert: " + ", ".join(f"{n} {drift.features[n].psi:.3f}" for n in alert))
        if warn:
            parts.append("amber: " + ", ".join(f"{n} {drift.features[n].psi:.3f}" for n in warn))
        items.append(
            DailyItem(
                "feature_psi",
                "fail" if alert else "pass",
                round(drift.max_psi, 6),
                f"< {dp.psi_alert:g} per feature",
                (
                    "; ".join(parts)
                    if parts
                    else f"All {len(drift.features)} features below {dp.psi_warn:g}"
                )
                + f" (max PSI {drift.max_psi:.3f}).",
            )
        )
    if not latency.get("count"):
        items.append(
            DailyItem(
                "latency_spike",
                "pending",
                0,
                f"P99 ≤ {lp.spike_ms:g} ms per {lp.window}",
                "No successful requests.",
            )
        )
    else:
        times = ", ".join(
            f"{s['start'][11:16]}–{s['end'][11:16]} UTC (P99 {s['p99']:.0f} ms)"
            for s in spikes[:12]
        )
        items.append(
            DailyItem(
                "latency_spike",
                "fail" if spikes else "pass",
                len(spikes),
                f"P99 ≤ {lp.spike_ms:g} ms per {lp.window}",
                f"{len(spikes)} window(s) above {lp.spike_ms:g} ms: {times}."
                if spikes
                else f"No {lp.window} window with P99 above {lp.spike_ms:g} ms.",
            )
        )
    d = drift_of(latency, baseline)
    if d.value is None:
        items.append(
            DailyItem(
                "latency_drift",
                "pending",
                None,
                f"≤ {lp.max_drift:.0%} slower",
                f"No latency baseline: {baseline.message}.",
            )
        )
    else:
        items.append(
            DailyItem(
                "latency_drift",
                "fail" if d.exceeds(lp.max_drift) else "pass",
                round(d.value, 4),
                f"≤ {lp.max_drift:.0%} slower",
                f"P95 {d.p95_change:+.0%}, P99 {d.p99_change:+.0%} vs the {baseline.kind} baseline "
                f"({baseline.source}).",
            )
        )
    return items


_SEVERITY: dict[str, alerts_mod.Severity] = {
    "p99": "critical",
    "error_spike": "critical",
    "prediction_psi": "warning",
    "feature_psi": "warning",
    "latency_spike": "critical",
    "latency_drift": "warning",
}
_KIND = {
    "p99": "latency_p99",
    "error_spike": "error_rate",
    "prediction_psi": "prediction_drift",
    "feature_psi": "feature_drift",
    "latency_spike": "latency_spike",
    "latency_drift": "latency_drift",
}


def alert_key(version: str, day: str, check: str) -> str:
    return f"daily/{version}/{day}/{check}"


def _context(
    ws: Workspace, version: str, policy: Policy, logs: ProductionLogs | None
) -> tuple[dict[str, Any], str, ProductionLogs, Baseline]:
    profile = read_profile(ws, version)
    sha = package_sha256_or_none(ws.package_path(version))
    if sha is None:
        raise PackageError(
            "missing MANIFEST.json",
            source=ws.package_path(version),
            expected="a deployready package",
        )
    if logs is None or logs.features != features_of(profile) or logs.version != version:
        logs = ProductionLogs.for_workspace(ws, profile, version=version)
    baseline = resolve_baseline(ws, version, sha, policy, logs)
    return profile, sha, logs, baseline


def measure_day(
    ws: Workspace,
    version: str,
    day: date,
    *,
    policy: Policy,
    profile: Mapping[str, Any],
    sha: str,
    logs: ProductionLogs,
    baseline: Baseline,
) -> DailyRecord:
    """Compute (not store) the record of one day."""
    lo, hi = day_bounds(day)
    counts = logs.day_counts(version, lo - pd.Timedelta(days=TRAILING_DAYS), hi)
    today = counts.loc[[day]] if day in counts.index else None
    rows = int(today["rows"].iloc[0]) if today is not None else 0
    errors = int(today["errors"].iloc[0]) if today is not None else 0
    before = counts[[d != day for d in counts.index]]
    rates = (before["errors"] / before["rows"]).tolist() if len(before) else []
    trailing = float(statistics.median(rates)) if rates else None
    latency = logs.latency_summary(version, lo, hi)
    windows = logs.latency_windows(version, policy.latency.window, lo, hi)
    spikes = find_spikes(windows, policy.latency.spike_ms, window_delta(policy.latency.window))
    bins = logs.bin_counts(profile, version, lo, hi).get(day)
    drift = (
        drift_from_counts(profile, bins.features, bins.prediction, bins.rows, policy.drift)
        if bins is not None and bins.rows
        else None
    )
    items = _items(policy, rows, errors, trailing, latency, spikes, baseline, drift)
    status: DailyStatus = (
        "no_data" if rows == 0 else "alert" if any(i.status == "fail" for i in items) else "ok"
    )
    return DailyRecord(
        date=day.isoformat(),
        version=version,
        package_sha256=sha,
        status=status,
        created_at=utcnow(),
        rows=rows,
        errors=errors,
        error_rate=errors / rows if rows else None,
        trailing_error_rate=trailing,
        error_kinds=logs.error_kinds(version, lo, hi) if errors else {},
        latency={
            k: _f(v) if k not in ("requests", "errors", "count") else v for k, v in latency.items()
        },
        baseline=baseline.as_dict(),
        spikes=spikes,
        checks=items,
        drift=drift,
        engine=logs.chosen,
    )


def alerts_of(record: DailyRecord) -> list[Alert]:
    if record.status == "no_data":
        return [
            Alert(
                "no_data",
                "warning",
                f"{record.version}: no production logs on {record.date}",
                record.version,
                {"date": record.date},
                alert_key(record.version, record.date, "no_data"),
            )
        ]
    return [
        Alert(
            _KIND[i.name],
            _SEVERITY[i.name],
            f"{record.version} {record.date}: {i.name} failed — {i.message}",
            record.version,
            {"date": record.date, "check": i.name, "value": i.value, "threshold": i.threshold},
            alert_key(record.version, record.date, i.name),
        )
        for i in record.checks
        if i.status == "fail"
    ]


def store_record(
    ws: Workspace,
    record: DailyRecord,
    *,
    deliver: bool = True,
    policy: Policy | None = None,
    backoff_s: float = 0.5,
) -> DailyRecord:
    """Replace the (date, version) record and record its alerts in one transaction,
    then deliver the alerts that are new."""
    wanted = alerts_of(record)
    with ws.store.transaction() as conn:
        stored = alerts_mod.record_alerts(conn, wanted, record.created_at)
        refs = [
            {"id": a.id, "kind": a.kind, "severity": a.severity, "message": a.message, "new": a.new}
            for a in stored
        ]
        final = DailyRecord(**{**record.__dict__, "alerts": refs})
        conn.execute(
            "INSERT OR REPLACE INTO daily_checks (date, version, package_sha256, created_at, "
            "status, record_json) VALUES (?, ?, ?, ?, ?, ?)",
            (
                final.date,
                final.version,
                final.package_sha256,
                final.created_at,
                final.status,
                dumps(_clean(final.as_dict())),
            ),
        )
    if deliver:
        delivered = alerts_mod.deliver(
            ws, [a for a in stored if a.new], (policy or ws.policy()).alerts, backoff_s=backoff_s
        )
        ok: dict[Any, bool] = {a.id: a.delivered for a in delivered}
        refs = [{**r, "delivered": ok.get(r["id"])} for r in refs]
        final = DailyRecord(**{**final.__dict__, "alerts": refs})
    return final


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


def run_daily(
    ws: Workspace,
    version: str | None = None,
    date: str | date | None = None,
    *,
    policy: Policy | None = None,
    logs: ProductionLogs | None = None,
    deliver: bool = True,
    backoff_s: float = 0.5,
) -> DailyRecord:
    """Run, store and alert the daily check of one day (defaults in the module doc)."""
    policy = policy or ws.policy()
    version, day = resolve_version_and_date(ws, version, date, logs)
    profile, sha, logs, baseline = _context(ws, version, policy, logs)
    record = measure_day(
        ws, version, day, policy=policy, profile=profile, sha=sha, logs=logs, baseline=baseline
    )
    return store_record(ws, record, deliver=deliver, policy=policy, backoff_s=backoff_s)


def run_daily_range(
    ws: Workspace,
    start: str | date | None = None,
    end: str | date | None = None,
    version: str | None = None,
    *,
    policy: Policy | None = None,
    skip_empty: bool = True,
    deliver: bool = True,
    backoff_s: float = 0.5,
) -> list[DailyRecord]:
    """Backfill: the daily check of every day in [start, end] (default: every logged day)."""
    policy = policy or ws.policy()
    version, _ = resolve_version_and_date(ws, version, end, None)
    profile, sha, logs, baseline = _context(ws, version, policy, None)
    logged = logs.days(version)
    first = as_date(start) if start is not None else (logged[0] if logged else None)
    last = as_date(end) if end is not None else (logged[-1] if logged else None)
    if first is None or last is None:
        return []
    have = set(logged)
    out = []
    day = first
    while day <= last:
        if day in have or not skip_empty:
            record = measure_day(
                ws,
                version,
                day,
                policy=policy,
                profile=profile,
                sha=sha,
                logs=logs,
                baseline=baseline,
            )
            out.append(
                store_record(ws, record, deliver=deliver, policy=policy, backoff_s=backoff_s)
            )
        day += timedelta(days=1)
    logs.close()
    return out


def drift_by_day(
    ws: Workspace,
    version: str,
    start: str | date | None = None,
    end: str | date | None = None,
    *,
    policy: Policy | None = None,
    logs: ProductionLogs | None = None,
) -> dict[date, DriftResult]:
    """PSI of every logged day in [start, end] computed from the logs (nothing stored)."""
    policy = policy or ws.policy()
    profile = read_profile(ws, version)
    if logs is None or logs.features != features_of(profile) or logs.version != version:
        logs = ProductionLogs.for_workspace(ws, profile, version=version)
    lo = day_bounds(as_date(start))[0] if start is not None else None
    hi = day_bounds(as_date(end))[1] if end is not None else None
    return {
        day: drift_from_counts(profile, b.features, b.prediction, b.rows, policy.drift)
        for day, b in logs.bin_counts(profile, version, lo, hi).items()
        if b.rows
    }
