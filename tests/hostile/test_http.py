"""Hostile requests to ``deployready serve`` (started as a subprocess on a loopback port).

Each case sends one malformed request and asserts the status code, that the JSON error
body names the field and what was expected, and that the server still answers
``/health`` and a well-formed prediction afterwards (nothing was lost).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.hostile.conftest import REPO

MAX_ROWS = 1000
MAX_BODY = 1_048_576


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    good_row: dict[str, Any]
    proc: subprocess.Popen[bytes]
    log_dir: Path


@pytest.fixture(scope="module")
def server(hostile_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("serve")
    package = base / "models" / "v1.0"
    shutil.copytree(hostile_master / "models" / "v1.0", package)
    ready, log_dir = base / "ready.json", base / "logs"
    holdout = pd.read_parquet(package / "holdout.parquet")
    good_row = json.loads(holdout.head(1).to_json(orient="records"))[0]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DO_NOT_TRACK": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployready", "serve", str(package), "--host", "127.0.0.1",
         "--port", "0", "--ready-file", str(ready), "--log-dir", str(log_dir),
         "--max-body-bytes", str(MAX_BODY)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"deployready serve exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                pytest.fail("deployready serve did not become ready in 90 s")
            time.sleep(0.05)
        port = int(json.loads(ready.read_text())["port"])
        yield Server("127.0.0.1", port, good_row, proc, log_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()


def request(
    srv: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if chunked and body is not None:
            conn.putrequest(method, path)
            for k, v in {**hdrs, "Transfer-Encoding": "chunked"}.items():
                conn.putheader(k, v)
            conn.endheaders()
            try:
                step = 64 * 1024
                for i in range(0, len(body), step):
                    piece = body[i : i + step]
                    conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer 413 and close before the body is sent
        else:
            conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class HttpCase:
    name: str
    body: Any  # bytes, or a function of the good row returning bytes
    status: int
    error_field: str | None  # the "field" the error body must name (None: not JSON-checked)
    fragments: tuple[str, ...] = ()
    method: str = "POST"
    path: str = "/predict"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    xfail: str | None = None


def js(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def row_with(**changes: Any) -> Any:
    def make(good: dict[str, Any]) -> bytes:
        row = {**good, **changes}
        return js({"rows": [{k: v for k, v in row.items() if v is not DROP}]})

    return make


DROP = object()


def raw_row(fragment: str) -> Any:
    """A row whose 'amount' is a raw JSON token (NaN, Infinity, huge integers)."""

    def make(good: dict[str, Any]) -> bytes:
        row = {**good, "amount": "@@"}
        return js({"rows": [row]}).replace(b'"@@"', fragment.encode())

    return make


HTTP_CASES: list[HttpCase] = [
    HttpCase("bad-json", b'{"rows": [', 400, "body", ("not valid JSON",)),
    HttpCase("not-utf8", b"\xff\xfe\x00{", 400, "body", ("not valid JSON",)),
    HttpCase("body-not-object", js([1, 2]), 422, "rows"),
    HttpCase("missing-rows", lambda g: js({"data": [g]}), 422, "rows", ("missing 'rows'",)),
    HttpCase("rows-not-list", lambda g: js({"rows": g}), 422, "rows", ("non-empty list",)),
    HttpCase("empty-rows", js({"rows": []}), 422, "rows", ("non-empty list",)),
    HttpCase("row-not-object", js({"rows": [5]}), 422, "rows[0]", ("not an object",)),
    HttpCase("missing-field", row_with(amount=DROP), 422, "rows[0].amount", ("missing field",)),
    HttpCase("extra-field", row_with(colour="red"), 422, "rows[0].colour", ("unknown field",)),
    HttpCase("number-as-string", row_with(amount="12.5"), 422, "rows[0].amount",
             ("wrong type str",)),
    HttpCase("number-as-bool", row_with(amount=True), 422, "rows[0].amount",
             ("wrong type bool",)),
    HttpCase("category-as-number", row_with(channel=5), 422, "rows[0].channel",
             ("wrong type int",)),
    HttpCase("nan", raw_row("NaN"), 422, "rows[0].amount"),
    HttpCase("infinity", raw_row("-Infinity"), 422, "rows[0].amount", ("non-finite",)),
    HttpCase("huge-integer", raw_row("1" + "0" * 400), 422, "rows[0].amount",
             ("out-of-range",)),
    HttpCase("second-row-bad", lambda g: js({"rows": [g, {**g, "region": None}]}), 422,
             "rows[1].region"),
    HttpCase("too-many-rows", lambda g: js({"rows": [g] * (MAX_ROWS + 1)}), 422, "rows",
             (f"at most {MAX_ROWS} rows",)),
    HttpCase("oversized-body", lambda g: js({"rows": [g], "pad": "x" * (MAX_BODY + 10)}), 413,
             "body", ("too large",)),
    HttpCase("oversized-chunked-body",
             lambda g: js({"rows": [g], "pad": "x" * (MAX_BODY + 10)}), 413, "body",
             ("too large",), chunked=True),
    HttpCase("form-content-type", b"rows=1&amount=2", 400, "body", ("not valid JSON",),
             headers={"Content-Type": "application/x-www-form-urlencoded"}),
    HttpCase("get-on-predict", None, 405, None, method="GET"),
    HttpCase("extra-top-level-key", lambda g: js({"rows": [g], "debug": True}), 422, "debug",
             ("unknown top-level key",)),
]


def _params() -> list[object]:
    return [
        pytest.param(
            c, id=c.name,
            marks=[pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else [],
        )
        for c in HTTP_CASES
    ]


def _still_serving(srv: Server) -> None:
    status, body = request(srv, "GET", "/health")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    status, body = request(srv, "POST", "/predict", js({"rows": [srv.good_row]}))
    assert status == 200, body
    (p,) = json.loads(body)["predictions"]
    assert math.isfinite(p) and 0.0 <= p <= 1.0


def test_good_request_is_served(server: Server) -> None:
    _still_serving(server)


@pytest.mark.parametrize("case", _params())
def test_hostile_request(server: Server, case: HttpCase) -> None:
    body = case.body(server.good_row) if callable(case.body) else case.body
    status, payload = request(server, case.method, case.path, body, case.headers,
                              chunked=case.chunked)

    assert status == case.status, payload[:300]
    if case.error_field is not None:
        data = json.loads(payload)
        assert set(data) >= {"error", "field", "expected"}, data
        assert data["field"] == case.error_field, data
        assert data["expected"], data
        for fragment in case.fragments:
            assert fragment in data["error"] or fragment in (data["expected"] or ""), data
    _still_serving(server)
