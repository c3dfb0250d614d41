"""Alert sinks: the log always, the webhook with timeout and retries; never fatal."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from monitoring_support import new_workspace

from deployready.monitoring.alerts import Alert, fire, list_alerts, redeliver, send_webhook
from deployready.policy import AlertsPolicy
from deployready.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return new_workspace(tmp_path / "ws")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: connection refused


class Hook:
    """A loopback webhook answering with the given statuses in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                code = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook([500])
    yield h
    h.close()


def alert(key: str | None = None) -> Alert:
    return Alert("latency_spike", "critical", "P99 above 100 ms", "v1.0", {"p99": 150.0}, key)


def test_log_sink_always(ws: Workspace) -> None:
    (record,) = fire(ws, [alert()], AlertsPolicy())
    assert record.new and record.delivered
    assert record.delivery[0]["sink"] == "log" and record.delivery[0]["ok"]
    lines = (ws.data_dir / "alerts.log").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["kind"] == "latency_spike"
    (stored,) = list_alerts(ws)
    assert stored.id == record.id and stored.delivery == record.delivery


def test_webhook_failure_is_recorded_not_fatal(ws: Workspace) -> None:
    policy = AlertsPolicy(webhook_url=f"http://127.0.0.1:{closed_port()}/x", timeout_s=1.0,
                          retries=2)
    (record,) = fire(ws, [alert()], policy, backoff_s=0.0)
    assert not record.delivered and record.failed_sinks == ["webhook"]
    (stored,) = list_alerts(ws)
    webhook = stored.delivery[1]
    assert webhook["sink"] == "webhook" and webhook["ok"] is False
    assert len(webhook["attempts"]) == 3 and "error" in webhook
    assert (ws.data_dir / "alerts.log").exists()  # the log sink still worked


def test_webhook_retries_after_500(ws: Workspace, hook: Hook) -> None:
    policy = AlertsPolicy(webhook_url=hook.url, timeout_s=2.0, retries=3)
    (record,) = fire(ws, [alert()], policy, backoff_s=0.0)
    webhook = record.delivery[1]
    assert webhook["ok"] and webhook["status"] == 200
    assert [a.get("status") for a in webhook["attempts"]] == [500, 200]
    assert hook.bodies[0]["message"] == "P99 above 100 ms" and hook.bodies[0]["id"] == record.id
    assert record.delivered


def test_bad_url_never_raises() -> None:
    entry = send_webhook("not a url", {"a": 1}, retries=1, backoff_s=0.0)
    assert entry["ok"] is False and len(entry["attempts"]) == 2


def test_unwritable_log_is_recorded(ws: Workspace) -> None:
    ws.data_dir.mkdir(parents=True)
    (ws.data_dir / "alerts.log").mkdir()  # a folder where the log file should be
    (record,) = fire(ws, [alert()], AlertsPolicy())
    assert record.failed_sinks == ["log"]
    assert list_alerts(ws)[0].delivery[0]["ok"] is False


def test_dedupe_key(ws: Workspace) -> None:
    first = fire(ws, [alert("daily/v1.0/2026-03-01/p99")], AlertsPolicy())
    again = fire(ws, [alert("daily/v1.0/2026-03-01/p99"), alert("other")], AlertsPolicy())
    assert first[0].new and not again[0].new and again[1].new
    assert again[0].id == first[0].id
    assert len(list_alerts(ws)) == 2
    assert len((ws.data_dir / "alerts.log").read_text().splitlines()) == 2
    assert [a.key for a in list_alerts(ws, key_prefix="daily/v1.0/")] == [
        "daily/v1.0/2026-03-01/p99"]


def test_list_by_version_with_the_unversioned(ws: Workspace) -> None:
    alerts = [Alert("error_rate", "warning", m, v) for m, v in
              (("a", "v1.0"), ("b", None), ("c", "v1.1"), ("d", "v1.0"))]
    fire(ws, alerts, AlertsPolicy())
    assert [a.message for a in list_alerts(ws, version="v1.0")] == ["d", "a"]
    both = list_alerts(ws, version="v1.0", with_unversioned=True)
    assert [a.message for a in both] == ["d", "b", "a"]
    assert [a.message for a in list_alerts(ws, version="v1.0", with_unversioned=True,
                                           limit=2)] == ["d", "b"]


def test_redeliver_failed(ws: Workspace, hook: Hook) -> None:
    bad = AlertsPolicy(webhook_url=f"http://127.0.0.1:{closed_port()}/x", retries=0)
    fire(ws, [alert()], bad, backoff_s=0.0)
    (retried,) = redeliver(ws, AlertsPolicy(webhook_url=hook.url, retries=1), backoff_s=0.0)
    assert retried.delivery[-1]["sink"] == "webhook" and retried.delivery[-1]["ok"]
    assert retried.delivered and list_alerts(ws)[0].delivered
