"""``deployready serve`` answering the Open Inference Protocol: a real server on
loopback, the protocol client load-testing it, hostile bodies refused with a 4xx
naming the input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from loadtest_models import FEATURES, make_workspace
from test_serve import Server, start_server

from deployready.loadtest.protocols import column_kinds, protocol_for
from deployready.loadtest.runs import child_env
from deployready.loadtest.targets import connect
from deployready.package.load import LoadedPackage, load_package


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = make_workspace(tmp_path_factory.mktemp("oip-ws"), policy=(
        "[load_test]\nconcurrency = 5\nrequests = 100\np50_ms = 1000\np95_ms = 1000\n"
        "p99_ms = 1000\nmax_memory_mb = 4000\n"))
    return root


@pytest.fixture(scope="module")
def package(workspace: Path) -> LoadedPackage:
    return load_package(workspace / "models" / "v1.0")


@pytest.fixture(scope="module")
def server(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(workspace / "models" / "v1.0", tmp_path_factory.mktemp("oip"),
                            "--max-body-bytes", "65536")


def _body(package: LoadedPackage, n: int = 3) -> dict[str, Any]:
    rows = package.request_rows(n)
    proto = protocol_for("oip", model="v1.0")
    return dict(json.loads(proto.encode(rows, column_kinds(rows))))


def _infer(server: Server, body: Any, model: str = "v1.0") -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.call(f"/v2/models/{model}/infer", raw)


def test_server_and_model_metadata(server: Server, package: LoadedPackage) -> None:
    assert server.call("/v2")[1]["name"] == "deployready"
    assert server.call("/v2/health/live")[0] == 200
    assert server.call("/v2/health/ready")[0] == 200
    assert server.call("/v2/models/v1.0/ready")[0] == 200
    status, meta = server.call("/v2/models/v1.0")
    assert status == 200 and meta["name"] == "v1.0" and meta["versions"] == [package.sha256]
    assert [i["name"] for i in meta["inputs"]] == FEATURES
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["channel"] == "BYTES"
    assert meta["outputs"] == [{"name": "probability", "datatype": "FP64", "shape": [-1]}]
    status, other = server.call("/v2/models/v9.9")
    assert status == 404 and "'v9.9'" in other["error"] and "'v1.0'" in other["error"]


def test_the_oip_client_gets_the_packages_predictions(server: Server,
                                                      package: LoadedPackage) -> None:
    target = connect(server.url, "oip", model="v1.0")
    assert target.ready()
    got = target.predict(package.request_rows())
    np.testing.assert_allclose(got, package.expected, atol=1e-9)
    versioned = connect(server.url, "oip", model="v1.0", model_version=package.sha256[:12])
    np.testing.assert_allclose(versioned.predict(package.request_rows(5)),
                               package.expected[:5], atol=1e-9)
    status, answer = _infer(server, {**_body(package, 2), "id": "req-1"})
    assert status == 200 and answer["id"] == "req-1" and answer["model_name"] == "v1.0"
    assert answer["outputs"][0]["shape"] == [2]


def _set(body: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    tensor = next(t for t in body["inputs"] if t["name"] == name)
    tensor.update(changes)
    return body


HOSTILE = [
    ("shape", lambda b: _set(b, "age", shape=[3, 2]), "input 'age'"),
    ("shape rank", lambda b: _set(b, "age", shape=[1, 1, 3]), "input 'age'"),
    ("length", lambda b: _set(b, "amount", data=[1.0, 2.0], shape=[2]), "input 'amount'"),
    ("shape vs data", lambda b: _set(b, "score", shape=[4]), "input 'score'"),
    ("unknown", lambda b: {**b, "inputs": [*b["inputs"], {"name": "zip", "shape": [3],
                                                          "datatype": "FP64",
                                                          "data": [1, 2, 3]}]},
     "input 'zip'"),
    ("missing", lambda b: {**b, "inputs": b["inputs"][1:]}, "input 'amount'"),
    ("twice", lambda b: {**b, "inputs": [*b["inputs"], b["inputs"][0]]}, "input 'amount'"),
    ("null", lambda b: _set(b, "age", data=[None, 30, 31]), "input 'age' [0]"),
    ("NaN", lambda b: _set(b, "score", data=[float("nan"), 1.0, 2.0]), "input 'score' [0]"),
    ("type", lambda b: _set(b, "amount", data=["x", 1.0, 2.0]), "input 'amount' [0]"),
    ("datatype", lambda b: _set(b, "age", datatype="COMPLEX"), "input 'age'"),
    ("no inputs", lambda b: {"inputs": []}, "inputs"),
    ("top key", lambda b: {**b, "extra": 1}, "'extra'"),
    ("surrogate", lambda b: _set(b, "channel", data=["\ud800", "web", "web"]),
     "input 'channel' [0]"),
]


@pytest.mark.parametrize("name,mutate,named", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_are_4xx_naming_the_input(server: Server, package: LoadedPackage,
                                                 name: str, mutate: Any, named: str) -> None:
    body = mutate(_body(package))
    raw = json.dumps(body, allow_nan=True).encode()
    status, answer = _infer(server, raw)
    assert 400 <= status < 500, (status, answer)
    assert set(answer) == {"error"} and named in answer["error"], answer
    assert len(json.dumps(answer)) < 1024


def test_not_json_huge_and_wrong_content_type(server: Server) -> None:
    status, answer = _infer(server, b"{nope")
    assert status == 400 and "not valid JSON" in answer["error"]
    status, answer = _infer(server, b'{"inputs": [' + b"1," * 40_000 + b"1]}")
    assert status == 413 and "body" in answer["error"]
    status, answer = server.call("/v2/models/v2.0/infer", b"{}")
    assert status == 404 and "'v2.0'" in answer["error"]


def test_cli_load_test_of_the_served_package_over_oip(workspace: Path) -> None:
    cmd = [sys.executable, "-m", "deployready", "loadtest", "-w", str(workspace),
           "--requests", "100", "--concurrency", "5", "--protocol", "oip", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=child_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    result = data["result"]
    assert result["target"]["protocol"] == "oip"
    assert result["target"]["predict_url"].endswith("/v2/models/v1.0/infer")
    assert result["requests"]["ok"] == 100
    assert result["consistency"]["consistent"] and result["consistency"]["checked"] == 100
    assert result["behaviour"]["reproduces"] and result["target"]["evidence_for_package"]
