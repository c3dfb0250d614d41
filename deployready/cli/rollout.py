"""Rollout, gate, report and review commands.

- ``deployready rollout status|promote|rollback|log``
- ``deployready gate [--version] [--stage N] [--serve --port N]`` — exit 0 allowed,
  1 refused, 2 error or unreadable evidence; JSON on stdout (see docs/gate.md)
- ``deployready report --format json|md|html [-o FILE]``
- ``deployready signoff --kind weekly|monthly --period P --name N [--note] [--amend]``
- ``deployready reviews`` — checklists, sign-offs and overdue periods
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deployready.checks import status_mark
from deployready.cli.common import (
    add_json_arg,
    add_workspace_arg,
    could_not_evaluate,
    print_json,
    resolve_version,
    workspace_of,
)
from deployready.errors import DeployReadyError, InputError
from deployready.runtime import is_loopback
from deployready.workspace import Workspace


def _default_actor() -> str:
    user = os.environ.get("USER", "")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _add_version(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--version", default=None, help=help_text)


def _add_actor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actor", default=None,
                   help="who is acting (default: $USER); recorded with the event")


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
    _add_version(q, "version to promote (default: the version in rollout, else the newest)")
    _add_actor(q)
    q.add_argument("--reason", default="", help="why (recorded with the event)")
    add_json_arg(q)
    q.set_defaults(handler=cmd_promote)

    q = rsub.add_parser("rollback", help="roll back to 0 %% (or --to a lower stage); never gated")
    add_workspace_arg(q)
    _add_version(q, "version to roll back (default: the version in rollout, else the stable)")
    _add_actor(q)
    q.add_argument("--reason", required=True, help="why (required, recorded with the event)")
    q.add_argument("--to", type=int, default=0, dest="to_pct", metavar="PCT",
                   help="target stage (default 0: all traffic back to the stable version)")
    add_json_arg(q)
    q.set_defaults(handler=cmd_rollback)

    q = rsub.add_parser("log", help="the event log, refusals included")
    add_workspace_arg(q)
    _add_version(q, "only this version's events")
    add_json_arg(q)
    q.set_defaults(handler=cmd_log)

    p = sub.add_parser(
        "gate",
        help="may the next rollout stage start? JSON; exit 0 allowed, 1 refused, 2 error",
    )
    add_workspace_arg(p)
    _add_version(p, "version (default: the version in rollout, else the newest)")
    p.add_argument("--stage", type=int, default=None, metavar="PCT",
                   help="the stage to enter (default: the version's next stage)")
    p.add_argument("--serve", action="store_true",
                   help="serve the gate over HTTP instead (200 allowed / 412 refused)")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address with --serve (default: loopback only)")
    p.add_argument("--port", type=int, default=8765, help="port with --serve (0: any free port)")
    p.add_argument("--max-requests", type=int, default=None, metavar="N",
                   help="with --serve: stop after N requests")
    p.set_defaults(handler=cmd_gate)

    p = sub.add_parser("report", help="the readiness report with all evidence (json, md, html)")
    add_workspace_arg(p)
    _add_version(p, "package version (default: newest)")
    p.add_argument("--format", choices=("json", "md", "html"), default="md")
    p.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("signoff", help="sign a weekly or monthly review off")
    add_workspace_arg(p)
    p.add_argument("--kind", choices=("weekly", "monthly"), required=True)
    p.add_argument("--period", default=None,
                   help="2026-W47 (weekly) or 2026-11 (monthly); default: the current one")
    p.add_argument("--name", default=None, help="reviewer (default: $USER)")
    p.add_argument("--note", default="")
    p.add_argument("--not-done", action="append", default=[], metavar="ITEM",
                   help="a policy item that was not done (repeatable; needs --note)")
    p.add_argument("--amend", action="store_true", help="amend a period already signed off")
    _add_version(p, "the version live during the period (recorded)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_signoff)

    p = sub.add_parser("reviews", help="review checklists; exit 1 when a period is overdue")
    add_workspace_arg(p)
    _add_version(p, "daily checks of this version only")
    p.add_argument("--days", type=int, default=14, help="daily checks to show (default 14)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_reviews)


# --------------------------------------------------------------------------- rollout


def _actor(args: argparse.Namespace) -> str:
    return args.actor if args.actor is not None else _default_actor()


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
    result = promote(ws, args.version, actor=_actor(args), reason=args.reason)
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
    result = rollback(ws, args.version, actor=_actor(args), reason=args.reason, to_pct=args.to_pct)
    ev = result.event
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"rolled back {ev.version}: {ev.from_pct} % → {ev.to_pct} % (event #{ev.id})")
        for side in result.side_events:
            print(f"  {side.action} {side.version}: {side.reason}")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from deployready.rollout.events import load_events

    ws = workspace_of(args)
    events = load_events(ws, args.version)
    if args.json:
        print_json([e.as_dict() for e in events])
        return 0
    for e in events:
        mark = "ok     " if e.allowed else "REFUSED"
        print(f"#{e.id:<4} {e.created_at}  {mark} {e.action:<9} {e.version:<8} "
              f"{e.from_pct} → {e.to_pct} %  by {e.actor}: {e.reason}")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from deployready.rollout.events import evaluate_gate

    ws = workspace_of(args)
    if args.serve:
        return serve_gate(ws, host=args.host, port=args.port, max_requests=args.max_requests,
                          version=args.version, stage=args.stage)
    try:
        decision = evaluate_gate(ws, args.version, args.stage)
    except DeployReadyError:
        raise
    except Exception as exc:  # exit 1 means "refused": a crash must never look like one
        print(f"deployready: error: gate failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print_json(decision.as_dict())
    if could_not_evaluate(decision.errors):
        return 2
    return 0 if decision.allowed else 1


#: Largest request body the gate server reads (a Flagger webhook payload is tiny).
MAX_BODY = 64 * 1024


def _int_or_none(value: Any, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise InputError(f"not an integer: {value!r}", location=what,
                         expected="a stage percentage, e.g. 25") from None


def make_gate_handler(
    ws: Workspace, *, version: str | None = None, stage: int | None = None
) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler for the gate (one request at a time, bounded bodies).

    - ``GET|POST /gate`` → 200 when allowed, 412 when refused (Flagger webhooks,
      which judge the status code), the gate JSON as the body; 500 when evidence the
      decision needs could not be read (``errors`` in the JSON).
    - ``GET|POST /gate/status`` → always 200 with the gate JSON (Argo Rollouts ``web``
      metrics, which judge a JSON field: ``jsonPath: "{$.allowed}"``).
    - ``GET /health`` → 200.
    Query parameters ``version`` and ``stage``, or a JSON body whose ``metadata`` has
    them (Flagger's webhook payload), override the server's defaults. Errors: 400 for
    bad input, 500 otherwise, always as JSON with ``"allowed": false``.
    """
    from deployready.rollout.events import evaluate_gate

    class GateHandler(BaseHTTPRequestHandler):
        server_version = "deployready-gate"
        timeout = 10.0  # seconds per connection: a slow client cannot hold the server

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, default=str).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _params(self) -> dict[str, Any]:
            query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise _TooLarge()
            if length > 0:
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise InputError("request body is not JSON", location="body",
                                     expected="a JSON object (Flagger webhook payload)") from None
                meta = body.get("metadata") if isinstance(body, dict) else None
                if isinstance(meta, dict):
                    for key in ("version", "stage"):
                        if key in meta and key not in query:
                            query[key] = meta[key]
            return query

        def _handle(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/health":
                self._send(200, {"status": "ok", "workspace": str(ws.root)})
                return
            if path not in ("/gate", "/gate/status"):
                self._send(404, {"allowed": False, "error": f"no such path {path}",
                                 "paths": ["/gate", "/gate/status", "/health"]})
                return
            try:
                params = self._params()
                decision = evaluate_gate(
                    ws, params.get("version") or version,
                    _int_or_none(params.get("stage"), "stage") or stage,
                )
            except _TooLarge:
                self._send(413, {"allowed": False, "error": f"body over {MAX_BODY} bytes"})
                return
            except InputError as exc:
                self._send(400, {"allowed": False, "error": str(exc)})
                return
            except Exception as exc:  # any failure refuses, visibly, and the server lives on
                self._send(500, {"allowed": False, "error": f"{type(exc).__name__}: {exc}"})
                return
            payload = decision.as_dict()
            code = 200 if decision.allowed or path == "/gate/status" else 412
            if decision.errors and path == "/gate":  # could not evaluate: not a refusal
                code, payload = 500, {**payload, "error": "; ".join(decision.errors)}
            self._send(code, payload)

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            print(f"gate: {self.address_string()} {format % args}", file=sys.stderr)

    return GateHandler


class _TooLarge(Exception):
    pass


def serve_gate(
    ws: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    max_requests: int | None = None,
    version: str | None = None,
    stage: int | None = None,
) -> int:
    """Serve the gate until interrupted (or ``max_requests`` requests)."""
    if not is_loopback(host):
        print(f"deployready: warning: the gate listens on {host}, not only on this machine; "
              "restrict who can reach it", file=sys.stderr)
    try:
        server = HTTPServer((host, port), make_gate_handler(ws, version=version, stage=stage))
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}", location="--port",
                         expected="a free port") from exc
    bound_host, bound_port = server.server_address[:2]
    print(f"gate listening on http://{bound_host!s}:{bound_port}/gate", file=sys.stderr, flush=True)
    try:
        if max_requests is None:
            server.serve_forever()
        else:
            for _ in range(max_requests):
                server.handle_request()
    finally:
        server.server_close()
    return 0


# --------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from deployready.report.build import build_report, render

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


# --------------------------------------------------------------------------- reviews


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
    name = args.name if args.name is not None else _default_actor()
    signed = sign_off(ws, args.kind, period, name=name, note=args.note, version=args.version,
                      done=done, amend=args.amend, policy=policy)
    if args.json:
        print_json(signed.as_dict())
    else:
        what = "amended" if signed.amends else "signed off"
        print(f"{args.kind} review {signed.period} {what} by {signed.name} at {signed.signed_at}")
    return 0


def cmd_reviews(args: argparse.Namespace) -> int:
    from deployready.rollout.reviews import checklists

    ws = workspace_of(args)
    lists = checklists(ws, args.version, days=args.days)
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
        state = f"signed off by {s.name} at {s.signed_at}" if s else "not signed off"
        print(f"{review.kind} {review.period}: {state}")
        for item in review.items:
            print(f"  - {item}")
    if lists.overdue:
        print("overdue:")
        for o in lists.overdue:
            print(f"  {o.kind} {o.period} ({o.start.isoformat()} – {o.as_dict()['end']})")
    else:
        print("overdue: none")
    return 1 if lists.overdue else 0
