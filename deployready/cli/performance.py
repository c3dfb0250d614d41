"""``deployready performance``: realized and estimated performance per prediction day,
importance stability and the retrain recommendation of a version."""

from __future__ import annotations

import argparse
from typing import Any

from deployready.checks import status_mark
from deployready.cli.common import (
    add_json_arg,
    add_workspace_arg,
    parse_now,
    print_json,
    workspace_of,
)
from deployready.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "performance",
        help="realized performance from delayed labels, the CBPE estimate, importance "
        "stability and the retrain recommendation",
        description="Production performance of a version per prediction day: the "
        "certification metrics on the labelled predictions (95 %% CI, coverage, "
        "pending/provisional), the CBPE estimate before labels, feature-importance "
        "stability on the last week and the retrain recommendation. Exit 0 nothing "
        "failed, 1 a realized metric or importance check failed, 2 could not evaluate "
        "(bad label or log file, unknown version).",
    )
    add_workspace_arg(p)
    p.add_argument("--version", help="package version (default: the deployed one in the logs)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", help="one prediction day, YYYY-MM-DD (UTC)")
    when.add_argument("--start", help="first prediction day, YYYY-MM-DD (default: 29 days "
                      "before --end)")
    p.add_argument("--end", help="last prediction day, YYYY-MM-DD (default: the last logged "
                   "day before today); with --start")
    p.add_argument("--now", help="the report as of this time, ISO 8601 (UTC without an "
                   "offset; a date is its midnight): only labels with labeled_at up to it "
                   "count, and days are provisional relative to it (default: the current "
                   "time, every label)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_performance)


def _ci(fig: Any) -> str:
    if fig.value is None:
        return "—"
    if fig.low is None:
        return f"{fig.value:.3f}"
    return f"{fig.value:.3f} [{fig.low:.3f}, {fig.high:.3f}]"


def print_report(report: Any) -> None:
    """The report as text: a block per day, then stability and the recommendation."""
    print(f"{report.version}  {report.start} .. {report.end}  (package "
          f"{report.package_sha256[:12]}, as of {report.now:%Y-%m-%d %H:%M} UTC)")
    estimated = {e.day: e for e in report.estimated}
    for day in report.realized:
        c = day.counts
        flag = "provisional" if day.provisional else "final"
        print(f"{day.day}  {status_mark(day.status):<7} {flag:<11} {c.labelled}/"
              f"{c.predictions} labelled ({c.coverage:.1%})")
        if day.metrics:
            print("  realized:  " + "  ".join(f"{n} {_ci(f)}" for n, f in day.metrics.items()))
        else:
            print(f"  realized:  {day.finding}")
        est = estimated.get(day.day)
        if est is not None:
            values = "  ".join(f"{n} {v:.3f}" for n, v in est.values.items() if v is not None)
            print(f"  estimated: {status_mark(est.status):<7} "
                  f"{values or report.calibration.reason or 'no estimate'}")
    errors = {n: e for n, e in report.estimate_error.items() if e is not None}
    if errors:
        print("estimate error (mean |estimate − realized|): "
              + "  ".join(f"{n} {e:.3f}" for n, e in errors.items()))
    if report.importance is not None:
        for check in report.importance.checks:
            print(f"{status_mark(check.status):<7} {check.name}: {check.message}")
    print(f"retrain: {report.retrain.recommendation.upper()}")
    for reason in report.retrain.reasons:
        print(f"  - {reason}")


def cmd_performance(args: argparse.Namespace) -> int:
    from deployready.performance.api import failing, performance_report

    if args.end and not args.start:
        raise InputError("--end without --start", location="--end",
                         expected="--start DAY [--end DAY], or --date DAY")
    ws = workspace_of(args)
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    report = performance_report(ws, args.version, start, end, parse_now(args.now))
    if args.json:
        print_json(report.as_dict())
    else:
        print_report(report)
    return 1 if failing(report) else 0

