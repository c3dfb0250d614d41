"""``deployready daily``, ``deployready latency`` and ``deployready drift``."""

from __future__ import annotations

import argparse
from typing import Any

from deployready.checks import status_mark
from deployready.cli.common import (
    add_actor_arg,
    add_json_arg,
    add_workspace_arg,
    authorized,
    parse_now,
    print_json,
    workspace_of,
)
from deployready.errors import DeployReadyError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "daily",
        help="run the daily check (P99, error spike, PSI, realized and estimated "
        "performance) and alert",
        description="Run the daily check of one UTC day and store it (re-running a day "
        "replaces its record; alerts are sent once). Exit 0 clean, 1 alerts raised, 2 error.",
    )
    add_workspace_arg(p)
    p.add_argument("--version", help="package version (default: the deployed one in the logs)")
    p.add_argument("--date", help="UTC day YYYY-MM-DD (default: the last logged day before today)")
    p.add_argument("--start", help="backfill from this day (YYYY-MM-DD) up to --date or the "
                   "last logged day")
    p.add_argument("--now", help="the performance items as of this time, ISO 8601 (UTC "
                   "without an offset): only labels with labeled_at up to it count "
                   "(default: the current time, every label)")
    add_actor_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_daily)

    p = sub.add_parser("latency", help="latency percentiles per window, baseline, drift, spikes")
    add_workspace_arg(p)
    p.add_argument("--version", help="package version (default: the newest)")
    p.add_argument("--start", help="from (ISO date/time, UTC)")
    p.add_argument("--end", help="until, exclusive (ISO date/time, UTC)")
    p.add_argument("--window", help="window, e.g. 1h, 15min, 1D (default: policy latency.window)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_latency)

    p = sub.add_parser("drift", help="PSI per feature and of the predictions for one day")
    add_workspace_arg(p)
    p.add_argument("--version", help="package version (default: the deployed one in the logs)")
    p.add_argument("--date", help="UTC day YYYY-MM-DD (default: the last logged day)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_drift)


def _print_record(r: Any) -> None:
    print(f"{r.date}  {r.version}  {r.status.upper()}  {r.rows} requests, {r.errors} errors")
    for c in r.checks:
        print(f"  {status_mark(c.status):<7} {c.name:<15} {c.message}")
    for a in r.alerts:
        state = "existing" if not a.get("new") else (
            "sent" if a.get("delivered") else "delivery failed")
        print(f"  alert #{a['id']} {a['kind']} ({a['severity']}, {state})")


def cmd_daily(args: argparse.Namespace) -> int:
    from deployready.performance.daily import run_daily, run_daily_range

    ws = workspace_of(args)
    authorized(ws, args, "daily", args.version or "")
    now = parse_now(args.now)
    if args.start:
        records = run_daily_range(ws, args.start, args.date, args.version, now=now)
        if not records:
            raise DeployReadyError(f"{ws.production_dir}: no production logs to check")
    else:
        records = [run_daily(ws, args.version, args.date, now=now)]
    if args.json:
        data = [r.as_dict() for r in records]
        print_json(data[0] if len(data) == 1 and not args.start else data)
    else:
        for r in records:
            _print_record(r)
    return 0 if all(r.green for r in records) else 1


def cmd_latency(args: argparse.Namespace) -> int:
    from deployready.cli.common import resolve_version
    from deployready.monitoring.latency import latency_report

    ws = workspace_of(args)
    version = resolve_version(ws, args.version)
    report = latency_report(ws, version, start=args.start, end=args.end, window=args.window)
    if args.json:
        print_json(report.as_dict())
    else:
        s = report.summary
        print(f"{version}: {s['count']} successful requests, {s['errors']} errors")
        if s["count"]:
            print(f"  P50 {s['p50']:.2f} ms  P95 {s['p95']:.2f} ms  P99 {s['p99']:.2f} ms  "
                  f"max {s['max']:.2f} ms")
            print(f"  ({report.note})")
        b = report.baseline
        print(f"  baseline: {b.kind} {b.source} {b.message}")
        if report.drift.value is not None:
            print(f"  drift: {report.drift.value:+.1%} (max {report.policy.max_drift:.0%})")
        for spike in report.spikes:
            print(f"  spike {spike['start']} – {spike['end']}: P99 {spike['p99']:.1f} ms "
                  f"({spike['count']} requests)")
    return 1 if report.alerts() else 0


def cmd_drift(args: argparse.Namespace) -> int:
    from deployready.monitoring.daily import resolve_version_and_date
    from deployready.monitoring.drift_history import drift_of_day

    ws = workspace_of(args)
    version, day = resolve_version_and_date(ws, args.version, args.date)
    result = drift_of_day(ws, version, day)
    if result is None:
        raise DeployReadyError(f"{ws.production_dir}: no successful requests of {version} on {day}")
    if args.json:
        print_json({"date": day.isoformat(), "version": version, **result.as_dict()})
    else:
        print(f"{day}  {version}  {result.rows} rows  (warn {result.psi_warn}, "
              f"alert {result.psi_alert}, epsilon {result.epsilon})")
        rows = list(result.features.values())
        if result.prediction:
            rows.append(result.prediction)
        for f in sorted(rows, key=lambda f: -(f.psi or 0)):
            print(f"  {f.name:<20} PSI {f.psi:.4f}  {f.status}")
    return 1 if result.alerting else 0
