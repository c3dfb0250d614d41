"""``deployready gate``: may the next rollout stage start? On the command line (JSON on
stdout; exit 0 allowed, 1 refused, 2 error or unreadable evidence) or served over HTTP
for Flagger and Argo Rollouts (see docs/gate.md)."""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deployready.cli.common import (
    add_version_arg,
    add_workspace_arg,
    could_not_evaluate,
    print_json,
    workspace_of,
)
from deployready.errors import DeployReadyError, InputError
from deployready.runtime import is_loopback
from deployready.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gate",
        help="may the next rollout stage start? JSON; exit 0 allowed, 1 refused, 2 error",
    )
    add_workspace_arg(p)
    add_version_arg(p, "version (default: the version in rollout, else the newest)")
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


class _TooLarge(Exception):
    pass


def _request_params(request: BaseHTTPRequestHandler) -> dict[str, Any]:
    """``version`` and ``stage`` of a gate request: its query, else its JSON body's
    ``metadata`` (Flagger's webhook payload). A body over :data:`MAX_BODY` is refused."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
    length = int(request.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        raise _TooLarge()
    if length > 0:
        raw = request.rfile.read(length)
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


def _gate_answer(request: BaseHTTPRequestHandler, ws: Workspace, path: str,
                 version: str | None, stage: int | None) -> tuple[int, dict[str, Any]]:
    """(status code, JSON body) of a ``/gate`` or ``/gate/status`` request."""
    from deployready.rollout.events import evaluate_gate

    try:
        params = _request_params(request)
        decision = evaluate_gate(
            ws, params.get("version") or version,
            _int_or_none(params.get("stage"), "stage") or stage,
        )
    except _TooLarge:
        return 413, {"allowed": False, "error": f"body over {MAX_BODY} bytes"}
    except InputError as exc:
        return 400, {"allowed": False, "error": str(exc)}
    except Exception as exc:  # any failure refuses, visibly, and the server lives on
        return 500, {"allowed": False, "error": f"{type(exc).__name__}: {exc}"}
    payload = decision.as_dict()
    if decision.errors and path == "/gate":  # could not evaluate: not a refusal
        return 500, {**payload, "error": "; ".join(decision.errors)}
    return (200 if decision.allowed or path == "/gate/status" else 412), payload


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

        def _handle(self) -> None:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/health":
                self._send(200, {"status": "ok", "workspace": str(ws.root)})
                return
            if path not in ("/gate", "/gate/status"):
                self._send(404, {"allowed": False, "error": f"no such path {path}",
                                 "paths": ["/gate", "/gate/status", "/health"]})
                return
            self._send(*_gate_answer(self, ws, path, version, stage))

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            print(f"gate: {self.address_string()} {format % args}", file=sys.stderr)

    return GateHandler


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
