"""Rollout and report commands, and the registration of the gate and review commands
(in help order).

- ``deployready rollout status|promote|rollback|log``
- ``deployready gate [--version] [--stage N] [--serve --port N]`` — exit 0 allowed,
  1 refused, 2 error or unreadable evidence; JSON on stdout (see docs/gate.md)
- ``deployready gate [--version] [--stage N] [--serve --port N]`` (:mod:`.gate`)
- ``deployready report --format json|md|html [-o FILE]``
- ``deployready signoff``, ``deployready reviews`` (:mod:`.reviews`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deployready.cli import gate, reviews
from deployready.cli.common import (
    add_actor_arg,
    add_json_arg,
    add_version_arg,
    add_workspace_arg,
    could_not_evaluate,
    identity_of,
    print_json,
    resolve_version,
    workspace_of,
)
from deployready.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rollout", help="staged rollout: status, promote, rollback, log")
    rsub = p.add_subparsers(dest="rollout_command", metavar="ACTION")
    rsub.required = True

    q = rsub.add_parser("status", help="each version's stage and the next gate")
    add_workspace_arg(q)
    add_json_arg(q)
    q.set_defaults(handler=cmd_status)

    q = rsub.add_parser("promote", help="promote one stage (exit 0 done, 1 refused and logged)")
    add_workspace_arg(q)
    add_version_arg(q, "version to promote (default: the version in rollout, else the newest)")
    add_actor_arg(q)
    q.add_argument("--reason", default="", help="why (recorded with the event)")
    add_json_arg(q)
    q.set_defaults(handler=cmd_promote)

    q = rsub.add_parser("rollback", help="roll back to 0 %% (or --to a lower stage); never gated")
    add_workspace_arg(q)
    add_version_arg(q, "version to roll back (default: the version in rollout, else the stable)")
    add_actor_arg(q)
    q.add_argument("--reason", required=True, help="why (required, recorded with the event)")
    q.add_argument("--to", type=int, default=0, dest="to_pct", metavar="PCT",
                   help="target stage (default 0: all traffic back to the stable version)")
    add_json_arg(q)
    q.set_defaults(handler=cmd_rollback)

    q = rsub.add_parser("log", help="the event log, refusals included")
    add_workspace_arg(q)
    add_version_arg(q, "only this version's events")
    add_json_arg(q)
    q.set_defaults(handler=cmd_log)

    gate.register(sub)

    p = sub.add_parser("report", help="the readiness report with all evidence (json, md, html)")
    add_workspace_arg(p)
    add_version_arg(p, "package version (default: newest)")
    p.add_argument("--format", choices=("json", "md", "html"), default="md")
    p.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    p.set_defaults(handler=cmd_report)

    reviews.register(sub)


# --------------------------------------------------------------------------- rollout


def cmd_status(args: argparse.Namespace) -> int:
    from deployready.rollout.events import evaluate_gate, rollout_state

    ws = workspace_of(args)
    policy = ws.policy()
    state = rollout_state(ws, policy)
    target = state.canary or ws.latest_version()
    gate = evaluate_gate(ws, target, policy=policy) if target else None
    unreadable = gate.errors if gate else ()
    if args.json:
        print_json({**state.as_dict(), "next_gate": gate.as_dict() if gate else None})
        return 2 if could_not_evaluate(unreadable) else 0
    stages = " → ".join(f"{s} %" for s in [0, *state.stages])
    print(f"stages: {stages}   bake: {policy.rollout.bake_days} day(s) per stage")
    print(f"stable (100 %): {state.stable or 'none'}")
    print(f"in rollout:     {state.canary or 'none'}"
          + (f" at {state.stage_of(state.canary)} %" if state.canary else ""))
    for v in ws.versions():
        st = state.versions.get(v)
        where = f"{st.pct:>3} % since {st.entered_at}" if st else "  0 %"
        print(f"  {v:<10} {where}")
    if gate is not None:
        verdict = "ALLOWED" if gate.allowed else "REFUSED"
        print(f"next gate: {gate.version} {gate.current_stage} % → "
              f"{gate.next_stage if gate.next_stage is not None else '-'} %: {verdict}")
        for r in gate.reasons:
            print(f"  - {r}")
    return 2 if could_not_evaluate(unreadable) else 0


def cmd_promote(args: argparse.Namespace) -> int:
    from deployready.rollout.events import promote

    ws = workspace_of(args)
    result = promote(ws, args.version, actor=identity_of(args), reason=args.reason)
    ev = result.event
    if args.json:
        print_json(result.as_dict())
    elif result.allowed:
        print(f"promoted {ev.version}: {ev.from_pct} % → {ev.to_pct} % (event #{ev.id})")
        for side in result.side_events:
            print(f"  {side.action} {side.version}: {side.reason}")
    else:
        print(f"REFUSED: {ev.version} {ev.from_pct} % → {ev.to_pct} % (logged as event #{ev.id})",
              file=sys.stderr)
        for r in result.decision.reasons if result.decision else []:
            print(f"  - {r}", file=sys.stderr)
    if could_not_evaluate(result.decision.errors if result.decision else ()):
        return 2  # refused and logged, as every refusal, but not a verdict on the version
    return 0 if result.allowed else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    from deployready.rollout.events import rollback

    ws = workspace_of(args)
    result = rollback(ws, args.version, actor=identity_of(args), reason=args.reason,
                      to_pct=args.to_pct)
    ev = result.event
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"rolled back {ev.version}: {ev.from_pct} % → {ev.to_pct} % (event #{ev.id})")
        for side in result.side_events:
            print(f"  {side.action} {side.version}: {side.reason}")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from deployready.access import channel_label
    from deployready.rollout.events import load_events

    ws = workspace_of(args)
    events = load_events(ws, args.version)
    if args.json:
        print_json([e.as_dict() for e in events])
        return 0
    for e in events:
        mark = "ok     " if e.allowed else "REFUSED"
        print(f"#{e.id:<4} {e.created_at}  {mark} {e.action:<9} {e.version:<8} "
              f"{e.from_pct} → {e.to_pct} %  by {e.actor} ({channel_label(e.channel)}): "
              f"{e.reason}")
    return 0


# --------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from deployready.report.build import build_report
    from deployready.report.render import render

    ws = workspace_of(args)
    version = resolve_version(ws, args.version)
    report = build_report(ws, version)
    text = render(report, args.format)
    unreadable = report.get("errors") or []
    if args.output is None:
        sys.stdout.write(text)
        return 2 if could_not_evaluate(unreadable) else 0
    out: Path = args.output
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", source=out,
                         expected="a writable file path") from exc
    print(f"report written to {out}", file=sys.stderr)
    return 2 if could_not_evaluate(unreadable) else 0
