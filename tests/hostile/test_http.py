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
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import REPO
from tests.hostile.test_fuzz_loaders import predict_bodies

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
    headers: dict[str, str | None] | None = None,
    *,
    chunked: bool = False,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        merged = {"Content-Type": "application/json", **(headers or {})}
        hdrs = {k: v for k, v in merged.items() if v is not None}  # None: header not sent
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
    headers: dict[str, str | None] = field(default_factory=dict)
    chunked: bool = False
    xfail: str | None = None
    field_prefix: bool = False  # the field echoes a huge key: only its start is compared
    echo: bytes | None = None  # a piece of the input the answer must not echo back


def js(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def row_with(**changes: Any) -> Any:
    def make(good: dict[str, Any]) -> bytes:
        row = {**good, **changes}
        return js({"rows": [{k: v for k, v in row.items() if v is not DROP}]})

    return make


DROP = object()

DEEP = 100_000  # levels of nesting: far beyond what any JSON parser here recurses into
HUGE = MAX_BODY - 4096  # a key or value that nearly fills the body limit
HUGE_KEY = "k" * HUGE


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def raw_row(fragment: str | bytes, name: str = "amount") -> Any:
    """A row whose ``name`` is a raw JSON token (NaN, Infinity, huge integers, nesting)."""
    raw = fragment if isinstance(fragment, bytes) else fragment.encode()

    def make(good: dict[str, Any]) -> bytes:
        row = {**good, name: "@@"}
        return js({"rows": [row]}).replace(b'"@@"', raw)

    return make


HTTP_CASES: list[HttpCase] = [
    HttpCase("bad-json", b'{"rows": [', 400, "body", ("not valid JSON",)),
    HttpCase("not-utf8", b"\xff\xfe\x00{", 400, "body", ("not valid JSON",)),
    HttpCase("body-not-object", js([1, 2]), 422, "body", ("JSON array",)),
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
    HttpCase("form-content-type", b"rows=1&amount=2", 415, "content-type",
             ("not JSON",), headers={"Content-Type": "application/x-www-form-urlencoded"}),
    HttpCase("get-on-predict", None, 405, None, method="GET"),
    HttpCase("extra-top-level-key", lambda g: js({"rows": [g], "debug": True}), 422, "debug",
             ("unknown top-level key",)),
    # nesting: beyond what the parser recurses into (400), and within it but not a value (422)
    HttpCase("deep-top-level-array", nested(DEEP), 400, "body", ("nested too deeply",)),
    HttpCase("deep-top-level-object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400, "body",
             ("nested too deeply",)),
    HttpCase("deep-in-rows", b'{"rows": ' + nested(DEEP) + b"}", 400, "body",
             ("nested too deeply",)),
    HttpCase("deep-in-row-value", raw_row(nested(DEEP)), 400, "body", ("nested too deeply",)),
    HttpCase("deep-object-in-row-value", raw_row(b'{"a":' * DEEP + b"1" + b"}" * DEEP), 400,
             "body", ("nested too deeply",)),
    HttpCase("nested-row-value", raw_row(nested(500)), 422, "rows[0].amount",
             ("wrong type list",)),
    HttpCase("object-row-value", row_with(amount={"value": 1.0}), 422, "rows[0].amount",
             ("wrong type dict",)),
    HttpCase("nested-rows", js({"rows": [[[1.0]]]}), 422, "rows[0]", ("not an object",)),
    # huge keys and values: refused, never echoed back whole
    HttpCase("huge-key-in-row", lambda g: js({"rows": [{**g, HUGE_KEY: 1}]}), 422,
             "rows[0].kkkk", ("unknown field",), field_prefix=True, echo=b"k" * 1000),
    HttpCase("huge-top-level-key", lambda g: js({"rows": [g], HUGE_KEY: 1}), 422, "kkkk",
             ("unknown top-level key",), field_prefix=True, echo=b"k" * 1000),
    HttpCase("huge-category", row_with(channel="c" * HUGE), 422, "rows[0].channel",
             ("characters",), echo=b"c" * 1000),
    HttpCase("huge-string-for-number", row_with(amount="9" * HUGE), 422, "rows[0].amount",
             ("wrong type str",), echo=b"9" * 1000),
    HttpCase("huge-content-length", b"{}", 413, "body", ("too large",),
             headers={"Content-Length": "9" * 19}),  # the HTTP parser refuses longer ones
    # numbers JSON cannot hold, and NaN
    HttpCase("number-1e400", raw_row("1e400"), 422, "rows[0].amount", ("non-finite",)),
    HttpCase("number-minus-1e400", raw_row("-1e400"), 422, "rows[0].amount", ("non-finite",)),
    HttpCase("integer-of-5000-digits", raw_row("9" * 5000), 400, "body", ("digits",),
             echo=b"9" * 1000),
    HttpCase("nan-in-never-null-feature", raw_row("NaN"), 422, "rows[0].amount", ("NaN",)),
    HttpCase("nan-in-nullable-feature", raw_row("NaN", "distance_km"), 200, None),
    HttpCase("nan-string-for-number", row_with(amount="NaN"), 422, "rows[0].amount",
             ("wrong type str",)),
    # bytes and text that are not UTF-8 / Unicode
    HttpCase("not-utf8-in-string", raw_row(b'"\xff\xfe"', "channel"), 400, "body",
             ("UTF-8",)),
    HttpCase("utf8-encoded-surrogate", b'{"rows": [{"channel": "\xed\xa0\x80"}]}', 400,
             "body", ("UTF-8",)),
    HttpCase("lone-surrogate-escape", row_with(channel="\ud800"), 422, "rows[0].channel",
             ("Unicode",)),
    HttpCase("utf16-body", lambda g: json.dumps({"rows": [g]}).encode("utf-16"), 400, "body",
             ("UTF-8",)),
    HttpCase("surrogate-pair-escape", row_with(channel="caf\u00e9 \U0001f600"), 200, None),
    HttpCase("colon-in-category", row_with(channel="12:30"), 200, None),
    # content types
    HttpCase("text-plain", lambda g: js({"rows": [g]}), 415, "content-type", ("not JSON",),
             headers={"Content-Type": "text/plain"}),
    HttpCase("multipart", lambda g: js({"rows": [g]}), 415, "content-type", ("not JSON",),
             headers={"Content-Type": "multipart/form-data; boundary=x"}),
    HttpCase("huge-content-type", lambda g: js({"rows": [g]}), 415, "content-type",
             ("not JSON",), headers={"Content-Type": "x/" + "t" * 4000}, echo=b"t" * 1000),
    HttpCase("json-with-charset", lambda g: js({"rows": [g]}), 200, None,
             headers={"Content-Type": "Application/JSON; charset=utf-8"}),
    HttpCase("json-suffix-type", lambda g: js({"rows": [g]}), 200, None,
             headers={"Content-Type": "application/vnd.example+json"}),
    HttpCase("no-content-type", lambda g: js({"rows": [g]}), 200, None,
             headers={"Content-Type": None}),
    # a body that is JSON but not an object
    HttpCase("body-is-string", js("rows"), 422, "body", ("JSON string",)),
    HttpCase("body-is-number", js(12.5), 422, "body", ("JSON number",)),
    HttpCase("body-is-null", js(None), 422, "body", ("JSON null",)),
    HttpCase("body-is-true", js(True), 422, "body", ("JSON boolean",)),
    HttpCase("empty-body", b"", 400, "body", ("not valid JSON",)),
    # duplicate keys: the body has no single meaning
    HttpCase("duplicate-rows-key", lambda g: b'{"rows": 5, "rows": ' + js([g]) + b"}", 422,
             "rows", ("duplicate key",)),
    HttpCase("duplicate-feature-key",
             lambda g: js({"rows": [g]}).replace(b'[{"', b'[{"amount": "x", "', 1), 422,
             "rows[0].amount", ("duplicate key",)),
    HttpCase("duplicate-key-in-second-row",
             lambda g: js({"rows": [g, g]}).replace(b'}, {"', b'}, {"region": 1, "', 1), 422,
             "rows[1].region", ("duplicate key",)),
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
    if status >= 400:  # every error answer is small, and never the input echoed back
        assert len(payload) < 1024, payload[:300]
        if case.echo is not None:
            assert case.echo not in payload
    if case.error_field is not None:
        data = json.loads(payload)
        assert set(data) >= {"error", "field", "expected"}, data
        if case.field_prefix:
            assert data["field"].startswith(case.error_field), data
        else:
            assert data["field"] == case.error_field, data
        assert data["expected"], data
        for fragment in case.fragments:
            assert fragment in data["error"] or fragment in (data["expected"] or ""), data
    _still_serving(server)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fuzzed_bodies_get_a_4xx_never_a_5xx(server: Server, data: st.DataObject) -> None:
    """Random and broken bodies through the real server: a prediction or a small 4xx
    naming a field — never a 5xx, never the server gone."""
    body = data.draw(predict_bodies(server.good_row))
    kind = data.draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                      None, "text/plain"]))
    status, payload = request(server, "POST", "/predict", body, {"Content-Type": kind})
    assert status < 500, payload[:300]
    answer = json.loads(payload)
    if status == 200:
        assert answer["predictions"] and all(0.0 <= p <= 1.0 for p in answer["predictions"])
    else:
        assert 400 <= status < 500 and len(payload) < 1024, payload[:300]
        assert answer["field"] and answer["expected"], answer


def test_log_is_whole_and_readable_after_hostile_requests(server: Server,
                                                          hostile_master: Path) -> None:
    """Every row the server logged for the requests above (a megabyte value, nesting,
    text UTF-8 cannot store) is in the day's file, no value in it is longer than a
    category may be, and both log engines read it."""
    from deployready.monitoring.logs import ProductionLogs
    from deployready.monitoring.logs_schema import features_of
    from deployready.package.rows import MAX_TEXT_CHARS

    profile = json.loads((hostile_master / "models/v1.0/reference_profile.json").read_text())
    deadline = time.monotonic() + 20
    while True:  # the log thread flushes every second
        logged = json.loads(request(server, "GET", "/stats")[1])["logged_rows"]
        frames = [pd.read_csv(f, dtype=str, keep_default_na=False)
                  for f in server.log_dir.glob("predictions-*.csv")]
        in_files = sum(len(f) for f in frames)
        if logged and in_files == logged:
            break
        assert time.monotonic() < deadline, f"{in_files} rows in the files, {logged} logged"
        time.sleep(0.25)
    longest = max(int(f[c].str.len().max()) for f in frames for c in f.columns)
    assert longest <= MAX_TEXT_CHARS
    for engine in ("pandas", "duckdb"):
        logs = ProductionLogs(server.log_dir, features_of(profile), engine)  # type: ignore[arg-type]
        try:
            logs.validate()
            assert int(logs.day_counts()["rows"].sum()) == logged, engine
        finally:
            logs.close()
