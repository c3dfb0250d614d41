"""``deployready signoff`` (sign a weekly or monthly review off) and ``deployready reviews``
(the checklists, the sign-offs and the overdue periods; exit 1 when one is overdue)."""

from __future__ import annotations

import argparse

from deployready.checks import status_mark
from deployready.cli.common import (
    add_actor_arg,
    add_json_arg,
    add_version_arg,
    add_workspace_arg,
    identity_of,
    print_json,
    workspace_of,
)
from deployready.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("signoff", help="sign a weekly or monthly review off")
    add_workspace_arg(p)
    p.add_argument("--kind", choices=("weekly", "monthly"), required=True)
    p.add_argument("--period", default=None,
                   help="2026-W47 (weekly) or 2026-11 (monthly); default: the current one")
    add_actor_arg(p, "--name")
    p.add_argument("--note", default="")
    p.add_argument("--not-done", action="append", default=[], metavar="ITEM",
                   help="a policy item that was not done (repeatable; needs --note)")
    p.add_argument("--amend", action="store_true", help="amend a period already signed off")
    add_version_arg(p, "the version live during the period (recorded)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_signoff)

    p = sub.add_parser("reviews", help="review checklists; exit 1 when a period is overdue")
    add_workspace_arg(p)
    add_version_arg(p, "daily checks of this version only")
    p.add_argument("--days", type=int, default=14, help="daily checks to show (default 14)")
    p.add_argument("--performance", action="store_true",
                   help="show each review's production-performance figures (reads the "
                        "labels and the logs)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_reviews)


def cmd_signoff(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from deployready.rollout.reviews import period_of, policy_items, sign_off

    ws = workspace_of(args)
    policy = ws.policy()
    period = args.period or period_of(args.kind, datetime.now(UTC).date())
    items = policy_items(policy, args.kind)
    for item in args.not_done:
        if item not in items:
            raise InputError(f"unknown {args.kind} review item {item!r}", location="--not-done",
                             expected="; ".join(items))
    done = {item: item not in args.not_done for item in items}
    signed = sign_off(ws, args.kind, period, name=identity_of(args), note=args.note,
                      version=args.version,
                      done=done, amend=args.amend, policy=policy)
    if args.json:
        print_json(signed.as_dict())
    else:
        what = "amended" if signed.amends else "signed off"
        print(f"{args.kind} review {signed.period} {what} by {signed.name} at "
              f"{signed.signed_at}")
    return 0


def cmd_reviews(args: argparse.Namespace) -> int:
    from deployready.access import channel_label
    from deployready.report.performance import figures_text
    from deployready.rollout.reviews import checklists

    ws = workspace_of(args)
    lists = checklists(ws, args.version, days=args.days, performance=args.performance)
    if args.json:
        print_json(lists.as_dict())
        return 1 if lists.overdue else 0
    print("daily checks:")
    if not lists.daily:
        print("  none stored (run 'deployready daily')")
    for d in lists.daily:
        marks = "  ".join(f"{status_mark(i.status)} {i.name}" for i in d.items)
        print(f"  {d.date} {d.version:<8} {marks}")
    for review in (lists.weekly, lists.monthly):
        s = review.signoff
        state = (f"signed off by {s.name} ({channel_label(s.channel)}) at {s.signed_at}"
                 if s else "not signed off")
        print(f"{review.kind} {review.period}: {state}")
        for item in review.items:
            print(f"  - {item}")
        if review.performance:
            print(f"  {figures_text(review.performance)}")
    if lists.overdue:
        print("overdue:")
        for o in lists.overdue:
            print(f"  {o.kind} {o.period} ({o.start.isoformat()} – {o.as_dict()['end']})")
    else:
        print("overdue: none")
    return 1 if lists.overdue else 0
