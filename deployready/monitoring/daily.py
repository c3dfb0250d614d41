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
``no_data`` warning alert). ``green`` (what rollout gates, reviews and the CLI's exit
code read) is :func:`deployready.monitoring.daily_store.is_green`: ``status == "ok"``;
amber features do not turn a day red. The items are built in
:mod:`deployready.monitoring.daily_items`.

**Production performance** (``extra``, given by :mod:`deployready.performance.daily`,
which the CLI, the demo and ``deployready.run_daily`` use): ``realized_performance``
(``pass``/``fail``/``pending``: a realized failure turns the day red and alerts; pending
— labels not in yet — does not) and ``estimated_performance`` (``pass``/``warn``/
``pending``: an estimate below a threshold is a ``warn`` item with a warning alert and
leaves the day green). Alerts: :mod:`deployready.monitoring.daily_alerts`.

**Ingest first.** The check profiles the logs' new rows into ``data/profiles.db``
before it reads them (:func:`ingest_first`); a log file the ingest cannot read is the
check's error.

**Defaults.** ``version=None``: with no date, the newest package version with logs on
the last logged day (the deployed one); with a date, the newest package version with log
rows on it; else the newest package. ``date=None``: the last day with logs of that version that is
before today (UTC) — normally yesterday for a cron job, and the last logged day for a
static workspace; yesterday (UTC) when the version has no logs.

**Storage.** The record (every number, the PSI bin edges and proportions, the baseline)
goes to ``daily_checks`` (owned by :mod:`deployready.monitoring.daily_store`) with
``INSERT OR REPLACE`` in the same transaction as its alerts; re-running a day replaces
the record. Alerts are keyed
``daily/<version>/<date>/<check>``: a re-run finds the existing alert and neither
stores nor sends it again.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd

from deployready.checks import Check
from deployready.errors import DeployReadyError, PackageError, read_file
from deployready.monitoring import alerts as alerts_mod
from deployready.monitoring.daily_alerts import alert_key, alerts_of
from deployready.monitoring.daily_items import CHECK_NAMES, DayMeasures, as_number, daily_items
from deployready.monitoring.daily_store import (
    DailyRecord,
    DailyStatus,
    daily_status,
    day_status,
    list_daily,
    write_record,
)
from deployready.monitoring.drift import DriftResult, drift_from_counts
from deployready.monitoring.latency import (
    Baseline,
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
from deployready.monitoring.profiles.ingest import ingest
from deployready.package.manifest import package_sha256_or_none
from deployready.package.profile import PROFILE_FILE, check_profile
from deployready.policy import Policy
from deployready.store import utcnow
from deployready.workspace import Workspace, parse_version

__all__ = [
    "CHECK_NAMES",
    "RAW_ROWS_SHOWN",
    "TRAILING_DAYS",
    "DailyRecord",
    "DailyStatus",
    "alert_key",
    "alerts_of",
    "daily_status",
    "drift_by_day",
    "ingest_first",
    "list_daily",
    "measure_day",
    "raw_day_rows",
    "read_profile",
    "resolve_version_and_date",
    "run_daily",
    "run_daily_range",
    "store_record",
]

TRAILING_DAYS = 7

#: More items of a day (version, day) → checks: production performance, which is
#: computed a layer above (:mod:`deployready.performance.daily`).
DayItems = Callable[[str, date], Sequence[Check]]


# --------------------------------------------------------------------------- helpers


def read_profile(ws: Workspace, version: str) -> dict[str, Any]:
    path = ws.package_path(version) / PROFILE_FILE
    try:
        profile = json.loads(read_file(path, PackageError, expected="a JSON file").decode("utf-8"))
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


def ingest_first(ws: Workspace) -> None:
    """Profile the logs' new rows first (:mod:`~deployready.monitoring.profiles.ingest`);
    a log file it cannot read is the check's error, as when the logs are read."""
    error = ingest(ws).first_log_error()
    if error is not None:
        raise error


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
    logs = logs if logs is not None else ProductionLogs.for_workspace(ws)
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
    extra: DayItems | None = None,
) -> DailyRecord:
    """Compute (not store) the record of one day; ``extra`` adds items (performance)."""
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
    items = daily_items(
        policy, DayMeasures(rows, errors, trailing, latency, spikes, baseline, drift)
    ) + (list(extra(version, day)) if extra is not None and rows else [])
    return DailyRecord(
        date=day.isoformat(),
        version=version,
        package_sha256=sha,
        status=day_status(rows, items),
        created_at=utcnow(),
        rows=rows,
        errors=errors,
        error_rate=errors / rows if rows else None,
        trailing_error_rate=trailing,
        error_kinds=logs.error_kinds(version, lo, hi) if errors else {},
        latency={
            k: v if k in ("requests", "errors", "count") else as_number(v)
            for k, v in latency.items()
        },
        baseline=baseline.as_dict(),
        spikes=spikes,
        checks=items,
        drift=drift,
        engine=logs.answered_by,
    )


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
        write_record(conn, final)
    if deliver:
        delivered = alerts_mod.deliver(
            ws, [a for a in stored if a.new], (policy or ws.policy()).alerts, backoff_s=backoff_s
        )
        ok: dict[Any, bool] = {a.id: a.delivered for a in delivered}
        refs = [{**r, "delivered": ok.get(r["id"])} for r in refs]
        final = DailyRecord(**{**final.__dict__, "alerts": refs})
    return final


def run_daily(
    ws: Workspace,
    version: str | None = None,
    date: str | date | None = None,
    *,
    policy: Policy | None = None,
    logs: ProductionLogs | None = None,
    deliver: bool = True,
    backoff_s: float = 0.5,
    extra: DayItems | None = None,
) -> DailyRecord:
    """Run, store and alert the daily check of one day (defaults in the module doc)."""
    policy = policy or ws.policy()
    ingest_first(ws)
    version, day = resolve_version_and_date(ws, version, date, logs)
    profile, sha, logs, baseline = _context(ws, version, policy, logs)
    record = measure_day(
        ws, version, day, policy=policy, profile=profile, sha=sha, logs=logs, baseline=baseline,
        extra=extra,
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
    extra: DayItems | None = None,
) -> list[DailyRecord]:
    """Backfill: the daily check of every day in [start, end] (default: every logged day)."""
    policy = policy or ws.policy()
    ingest_first(ws)
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
                extra=extra,
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


#: How many raw rows a drill-down shows (the count says how many there are).
RAW_ROWS_SHOWN = 1000


def raw_day_rows(ws: Workspace, version: str, day: str | date) -> pd.DataFrame:
    """The validated raw log rows of ``version`` on one UTC day, read from the files (the
    drill-down behind a day's profile: raw logs stay the source of truth)."""
    profile = read_profile(ws, version)
    logs = ProductionLogs.for_workspace(ws, profile, version=version, engine="pandas")
    return logs.frame(version, *day_bounds(as_date(day)))
