"""The score's latency checks: P99, P95, drift against the baseline, spikes.

Evidence comes from the version's production logs when there are any — the
:data:`~deployready.monitoring.latency.PERIOD_DAYS` UTC days ending with the last day that
has logs of this version (``source_kind = "production"``) — else from the newest
completed load test of this package hash (``source_kind = "load_test"``), whose drift is
measured against the previous version's passing load test (the first measured version
is its own baseline). With neither, every check is ``pending``; a load test of another
package hash makes them ``stale``. The decisions (drift, spike) are those of
:mod:`deployready.monitoring.latency`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from deployready.checks import Category, Check, Evidence, Status, verdict
from deployready.loadtest.runs import StoredRun, completed_runs
from deployready.monitoring.latency import (
    Baseline,
    LatencyReport,
    baseline_from_run,
    drift_of,
    is_spike,
    latency_report,
    latest_period,
    spike_status,
)
from deployready.monitoring.logs import ProductionLogs
from deployready.package.manifest import package_sha256_or_none
from deployready.policy import LatencyPolicy, Policy
from deployready.workspace import Workspace, parse_version

NAMES = ("Latency P99", "Latency P95", "Latency drift vs baseline", "No latency spikes")


def _check(
    name: str, status: Status, value: Any, threshold: str, message: str, evidence: Evidence | None
) -> Check:
    return Check(name, Category.LATENCY, status, value, threshold, message, evidence)


def _thresholds(lp: LatencyPolicy) -> tuple[str, str, str, str]:
    return (
        f"< {lp.p99_ms:g} ms",
        f"< {lp.p95_ms:g} ms",
        f"≤ {lp.max_drift:.0%} slower",
        f"no {lp.window} window with P99 > {lp.spike_ms:g} ms",
    )


def _pending(
    lp: LatencyPolicy, status: Status, message: str, evidence: Evidence | None = None
) -> list[Check]:
    return [
        _check(n, status, None, t, message, evidence)
        for n, t in zip(NAMES, _thresholds(lp), strict=True)
    ]


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} ms"


def _percentile_checks(
    lp: LatencyPolicy, p99: float, p95: float, messages: tuple[str, str], evidence: Evidence
) -> list[Check]:
    """The P99 and P95 checks against the policy's targets."""
    t99, t95, _, _ = _thresholds(lp)
    return [
        _check(NAMES[0], verdict(p99, "<", lp.p99_ms), round(p99, 3), t99, messages[0],
               evidence),
        _check(NAMES[1], verdict(p95, "<", lp.p95_ms), round(p95, 3), t95, messages[1],
               evidence),
    ]


# --------------------------------------------------------------------------- production


def _production_checks(
    ws: Workspace,
    version: str,
    sha: str | None,
    policy: Policy,
    logs: ProductionLogs,
    period: tuple[pd.Timestamp, pd.Timestamp],
) -> list[Check]:
    lp = policy.latency
    start, end = period
    report = latency_report(ws, version, start=start, end=end, policy=policy, logs=logs, sha=sha)
    s = report.summary
    span = f"{start.date()} – {(end - pd.Timedelta(days=1)).date()}"
    evidence = _production_evidence(ws, logs, version, sha, report, period)
    if not s["count"]:
        return _pending(
            lp,
            Status.PENDING,
            f"No successful production requests of {version} in {span}.",
            evidence,
        )
    return [
        *_percentile_checks(
            lp, s["p99"], s["p95"],
            (f"Production P99 {_fmt(s['p99'])} over {s['count']} requests, {span}.",
             f"Production P95 {_fmt(s['p95'])} over {s['count']} requests, {span}."),
            evidence,
        ),
        _production_drift(lp, report, evidence),
        _production_spikes(lp, report, span, evidence),
    ]


def _production_evidence(
    ws: Workspace,
    logs: ProductionLogs,
    version: str,
    sha: str | None,
    report: LatencyReport,
    period: tuple[pd.Timestamp, pd.Timestamp],
) -> Evidence:
    s = report.summary
    start, end = period
    return Evidence(
        source=str(ws.production_dir.relative_to(ws.root))
        if ws.production_dir.is_relative_to(ws.root)
        else str(ws.production_dir),
        time=pd.Timestamp(logs.versions()[version]["last"]).isoformat(),
        package_sha256=sha,
        detail={
            "source_kind": "production",
            "period": [start.isoformat(), end.isoformat()],
            "count": s["count"],
            "requests": s["requests"],
            "errors": s["errors"],
            "baseline": report.baseline.as_dict(),
            "spikes": report.spikes[:20],
            "window": report.window,
        },
    )


def _production_drift(lp: LatencyPolicy, report: LatencyReport, evidence: Evidence) -> Check:
    tdrift = _thresholds(lp)[2]
    drift = report.drift
    if drift.value is None:
        return _check(
            NAMES[2],
            Status.PENDING,
            None,
            tdrift,
            f"No latency baseline: {report.baseline.message}.",
            evidence,
        )
    return _check(
        NAMES[2],
        drift.status(lp.max_drift),
        round(drift.value, 4),
        tdrift,
        f"P95 {drift.p95_change:+.0%}, P99 {drift.p99_change:+.0%} vs "
        f"{report.baseline.kind} baseline ({report.baseline.source}).",
        evidence,
    )


def _production_spikes(
    lp: LatencyPolicy, report: LatencyReport, span: str, evidence: Evidence
) -> Check:
    n = len(report.spikes)
    if n:
        first = report.spikes[0]
        msg = f"{n} window(s) with P99 > {lp.spike_ms:g} ms in {span}, first {first['start']}."
    else:
        msg = f"No {lp.window} window with P99 > {lp.spike_ms:g} ms in {span}."
    return _check(NAMES[3], spike_status(n), n, _thresholds(lp)[3], msg, evidence)


# --------------------------------------------------------------------------- load test


def _previous_loadtest(ws: Workspace, version: str) -> tuple[str, Baseline] | None:
    """The newest earlier version with a passing load test of its current package."""
    parsed = parse_version(version)
    earlier = [v for v in ws.versions() if parsed and (p := parse_version(v)) and p < parsed]
    for v in reversed(earlier):
        rows = completed_runs(ws, v, package_sha256_or_none(ws.package_path(v)), passed_only=True)
        if rows:
            b = baseline_from_run(rows[0], f"passing load test #{rows[0].id} of {v}")
            if b.available:
                return v, b
    return None


def _loadtest_checks(
    ws: Workspace, version: str, sha: str, policy: Policy, row: StoredRun
) -> list[Check]:
    lp = policy.latency
    current = baseline_from_run(row, "")
    evidence = Evidence(
        source=current.source,
        time=current.time,
        package_sha256=sha,
        detail={"source_kind": "load_test", "count": current.count, "loadtest_id": row.id},
    )
    if not current.available:
        return _pending(lp, Status.PENDING, f"{current.message}.", evidence)
    p95, p99 = current.p95, current.p99
    assert p95 is not None and p99 is not None
    where = f"load test #{row.id} (no production traffic of {version} yet)"
    return [
        *_percentile_checks(
            lp, p99, p95, (f"P99 {_fmt(p99)} in {where}.", f"P95 {_fmt(p95)} in {where}."),
            evidence,
        ),
        _loadtest_drift(ws, version, sha, lp, row, (p95, p99), evidence),
        _loadtest_spike(lp, p99, evidence),
    ]


def _loadtest_drift(
    ws: Workspace,
    version: str,
    sha: str,
    lp: LatencyPolicy,
    row: StoredRun,
    p95_p99: tuple[float, float],
    evidence: Evidence,
) -> Check:
    """Drift against the previous version's passing load test (none: its own baseline)."""
    tdrift = _thresholds(lp)[2]
    previous = _previous_loadtest(ws, version)
    if previous is None:
        return _check(
            NAMES[2],
            Status.PASS,
            0.0,
            tdrift,
            f"First measured version: load test #{row.id} is its own latency baseline.",
            evidence,
        )
    pv, base = previous
    p95, p99 = p95_p99
    drift = drift_of({"p95": p95, "p99": p99}, base)
    value = drift.value
    ev = Evidence(
        evidence.source,
        evidence.time,
        sha,
        {**evidence.detail, "baseline": base.as_dict(), "baseline_version": pv},
    )
    return _check(
        NAMES[2],
        drift.status(lp.max_drift),
        None if value is None else round(value, 4),
        tdrift,
        f"P95 {drift.p95_change or 0:+.0%}, P99 {drift.p99_change or 0:+.0%} vs {pv}'s "
        f"passing load test ({base.source}).",
        ev,
    )


def _loadtest_spike(lp: LatencyPolicy, p99: float, evidence: Evidence) -> Check:
    """The whole load test is one window: a spike when its P99 is above the threshold."""
    spike = is_spike(p99, lp.spike_ms)
    return _check(
        NAMES[3],
        spike_status(int(spike)),
        int(spike),
        _thresholds(lp)[3],
        f"Load test P99 {_fmt(p99)} {'above' if spike else 'within'} the {lp.spike_ms:g} ms "
        "spike threshold (the whole test is one window).",
        evidence,
    )


# --------------------------------------------------------------------------- the score


def latency_checks(
    ws: Workspace, version: str, package_sha256: str | None, policy: Policy
) -> list[Check]:
    """The score's latency evidence: production logs first, else the load test."""
    lp = policy.latency
    logs = ProductionLogs.for_workspace(ws)
    try:
        period = latest_period(logs, version) if logs else None
        if period is not None:
            return _production_checks(ws, version, package_sha256, policy, logs, period)
    finally:
        logs.close()
    if package_sha256 is None:
        return _pending(
            lp, Status.PENDING, f"No production logs of {version}, and the package hash is unknown."
        )
    rows = completed_runs(ws, version, package_sha256, passed_only=False)
    if rows:
        return _loadtest_checks(ws, version, package_sha256, policy, rows[0])
    other = completed_runs(ws, version, None, passed_only=False)
    if other:
        ev = other[0].evidence(source_kind="load_test")
        return _pending(
            lp,
            Status.STALE,
            f"The load tests of {version} were measured on another package "
            f"({other[0].package_sha256[:12]}), not {package_sha256[:12]}.",
            ev,
        )
    return _pending(
        lp,
        Status.PENDING,
        f"No latency evidence for {version}: no production logs and no completed "
        "load test of this package.",
    )
