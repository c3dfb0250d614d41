"""``deployready serve``: protocol, 4xx naming the field, 413, micro-batching, prediction log."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from loadtest_models import FEATURES, make_workspace

from deployready.errors import InputError
from deployready.loadtest.runs import child_env
from deployready.runtime import is_loopback
from deployready.serving.batching import MicroBatcher, Stats
from deployready.serving.options import ServeOptions
from deployready.serving.requests import RequestError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, version = make_workspace(tmp_path_factory.mktemp("serve-ws"))
    return root / "models" / version


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log_dir: Path) -> None:
        self.proc, self.url, self.log_dir = proc, url, log_dir

    def call(self, path: str, body: bytes | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def predict(self, rows: Any) -> tuple[int, Any]:
        return self.call("/predict", json.dumps({"rows": rows}).encode())


def start_server(package: Path, tmp: Path, *extra: str) -> Iterator[Server]:
    ready = tmp / "ready.json"
    log_dir = tmp / "predictions"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployready", "serve", str(package), "--port", "0",
         "--ready-file", str(ready), "--log-dir", str(log_dir), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=child_env())
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield Server(proc, json.loads(ready.read_text())["url"], log_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


@pytest.fixture(scope="module")
def server(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(package, tmp_path_factory.mktemp("server"), "--max-body-bytes",
                            "4096", "--max-wait-ms", "30")


def _rows(package: Path, n: int = 3) -> list[dict[str, Any]]:
    holdout = pd.read_parquet(package / "holdout.parquet").head(n)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in holdout.to_dict("records")]


def test_health_reports_the_package(server: Server, package: Path) -> None:
    from deployready.package.manifest import package_sha256

    status, body = server.call("/health")
    assert status == 200
    assert body["status"] == "ok" and body["version"] == "v1.0"
    assert body["package_sha256"] == package_sha256(package)
    assert body["pid"] == server.proc.pid
    # the package's ColumnTransformer replays as numpy (verified at startup)
    assert body["preprocessing"] == "compiled"


def test_predict_matches_expected(server: Server, package: Path) -> None:
    rows = _rows(package, 5)
    status, body = server.predict(rows)
    assert status == 200
    expected = json.loads((package / "holdout_expected.json").read_text())["predictions"][:5]
    assert np.allclose(body["predictions"], expected, atol=1e-9)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(amount="lots"), "rows[0].amount"),
        (lambda r: r.pop("score"), "rows[0].score"),
        (lambda r: r.update(colour="red"), "rows[0].colour"),
    ],
)
def test_bad_rows_are_4xx_naming_the_field(server: Server, package: Path, mutate: Any,
                                           field: str) -> None:
    row = _rows(package, 1)[0]
    mutate(row)
    status, body = server.predict([row])
    assert status == 422
    assert body["field"] == field
    assert body["error"]


def test_bad_json_and_missing_rows(server: Server) -> None:
    status, body = server.call("/predict", b"{not json")
    assert status == 400 and body["field"] == "body"
    status, body = server.call("/predict", b'{"data": []}')
    assert status == 422 and body["field"] == "rows"
    status, body = server.call("/predict", b'{"rows": []}')
    assert status == 422 and body["field"] == "rows"


def test_oversized_body_is_413(server: Server, package: Path) -> None:
    rows = _rows(package, 1) * 200  # far above the 4096-byte limit of this server
    status, body = server.predict(rows)
    assert status == 413
    assert body["field"] == "body"


def test_concurrent_requests_share_predict_calls(server: Server, package: Path) -> None:
    _, before = server.call("/stats")
    rows = _rows(package, 40)
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda r: server.predict([r]), rows))
    assert all(status == 200 for status, _ in results)
    _, after = server.call("/stats")
    requests = after["rows"] - before["rows"]
    batches = after["batches"] - before["batches"]
    assert requests == 40
    assert batches < requests  # micro-batching: several requests per predict


def test_prediction_log_is_production_format(server: Server, package: Path) -> None:
    row = _rows(package, 1)[0]
    server.predict([row])
    bad = dict(row, amount="x")
    server.predict([bad])
    deadline = time.monotonic() + 10
    files: list[Path] = []
    while time.monotonic() < deadline:  # the writer flushes every second
        files = sorted(server.log_dir.glob("predictions-*.csv"))
        if files and "validation" in files[-1].read_text():
            break
        time.sleep(0.2)
    assert files, "no prediction log written"
    with open(files[-1], newline="") as fh:
        records = list(csv.DictReader(fh))
    assert list(records[0].keys()) == ["timestamp", "version", "latency_ms", "prediction",
                                       "error", "request_id", *FEATURES]
    ok = [r for r in records if r["error"] == ""]
    errors = [r for r in records if r["error"] == "validation"]
    assert ok and errors
    assert float(ok[0]["latency_ms"]) >= 0 and 0 <= float(ok[0]["prediction"]) <= 1
    assert errors[-1]["prediction"] == ""
    assert ok[0]["version"] == "v1.0" and ok[0]["timestamp"].endswith("+00:00")


def _logged(server: Server, request_id: str) -> dict[str, str]:
    """The log line of ``request_id``, waiting for the writer's flush (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in sorted(server.log_dir.glob("predictions-*.csv")):
            with open(path, newline="") as fh:
                for record in csv.DictReader(fh):
                    if record.get("request_id") == request_id:
                        return record
        time.sleep(0.2)
    raise AssertionError(f"{request_id} not logged")


def test_predictions_come_back_with_drawn_ids(server: Server, package: Path) -> None:
    status, body = server.predict(_rows(package, 4))
    assert status == 200
    ids = body["ids"]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    _, again = server.predict(_rows(package, 4))
    assert not set(again["ids"]) & set(ids)
    record = _logged(server, ids[2])
    assert record["error"] == ""
    assert float(record["prediction"]) == pytest.approx(body["predictions"][2], abs=1e-12)


def test_client_ids_are_echoed_and_logged(server: Server, package: Path) -> None:
    ids = ["order-1:a", 'quote"back\\slash', "~" * 128]
    status, body = server.call("/predict", json.dumps({"rows": _rows(package, 3),
                                                       "ids": ids}).encode())
    assert status == 200 and body["ids"] == ids
    assert list(body) == ["predictions", "ids", "version", "package_sha256"]
    assert _logged(server, "~" * 128)["prediction"] != ""


def test_a_refused_row_is_logged_with_its_id(server: Server, package: Path) -> None:
    row = dict(_rows(package, 1)[0], amount="lots")
    status, body = server.call("/predict", json.dumps({"rows": [row],
                                                       "ids": ["bad-row-7"]}).encode())
    assert status == 422 and body["field"] == "rows[0].amount"
    record = _logged(server, "bad-row-7")
    assert record["error"] == "validation" and record["prediction"] == ""


@pytest.mark.parametrize(
    ("ids", "field", "words"),
    [
        ("abc", "ids", "a JSON string for 2 rows"),
        (None, "ids", "a JSON null for 2 rows"),
        (["a"], "ids", "1 ids for 2 rows"),
        (["a", 7], "ids[1]", "a JSON number, not a string"),
        (["", "b"], "ids[0]", "id is empty"),
        (["a", "x" * 129], "ids[1]", "id is 129 characters"),
        (["a b", "c"], "ids[0]", "a space"),
        (["a", "caf\u00e9"], "ids[1]", "outside printable ASCII"),
        (["a\nb", "c"], "ids[0]", "outside printable ASCII"),
        (["same", "same"], "ids[1]", "the same id as ids[0]"),
    ],
)
def test_bad_ids_are_422_naming_the_id(server: Server, package: Path, ids: Any, field: str,
                                       words: str) -> None:
    status, body = server.call("/predict", json.dumps({"rows": _rows(package, 2),
                                                       "ids": ids}).encode())
    assert status == 422, body
    assert body["field"] == field and words in body["error"]
    assert body["expected"]


def test_unbatched_server(package: Path, tmp_path: Path) -> None:
    for server in start_server(package, tmp_path, "--no-batching"):
        rows = _rows(package, 10)
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(server.predict, [[r] for r in rows]))
        assert all(status == 200 for status, _ in results)
        _, stats = server.call("/stats")
        assert stats["batches"] == stats["rows"] == 10


def test_refuses_non_loopback_host(package: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    proc = subprocess.run(
        [sys.executable, "-m", "deployready", "serve", str(package), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=child_env())
    assert proc.returncode == 2
    assert "--host" in proc.stderr and "loopback" in proc.stderr


# --------------------------------------------------------------------------- batcher unit


def test_batcher_isolates_a_bad_request() -> None:
    calls: list[int] = []

    def validate(rows: list[Any]) -> pd.DataFrame:
        for i, r in enumerate(rows):
            if not isinstance(r.get("x"), int | float):
                raise InputError("wrong type", location=f"rows[{i}].x", expected="a number")
        return pd.DataFrame({"x": [float(r["x"]) for r in rows]})

    def predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return frame["x"].to_numpy() * 2

    async def main() -> list[Any]:
        batcher = MicroBatcher(validate, predict, ServeOptions(max_batch_size=16, max_wait_ms=50),
                               Stats())
        batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit([{"x": 1}]), batcher.submit([{"x": "bad"}]),
                batcher.submit([{"x": 3}, {"x": 4}]), return_exceptions=True)
        finally:
            await batcher.stop()

    one, bad, two = asyncio.run(main())
    assert list(one) == [2.0] and list(two) == [6.0, 8.0]
    assert isinstance(bad, RequestError) and bad.status == 422
    assert bad.body["field"] == "rows[0].x"
    assert calls == [3]  # one predict for the three good rows


def test_batcher_model_failure_fails_its_batch() -> None:
    def predict(frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("boom")

    async def main() -> Any:
        batcher = MicroBatcher(lambda rows: pd.DataFrame({"x": [1.0] * len(rows)}), predict,
                               ServeOptions(), Stats())
        batcher.start()
        try:
            return await asyncio.gather(batcher.submit([{}]), return_exceptions=True)
        finally:
            await batcher.stop()

    (result,) = asyncio.run(main())
    assert isinstance(result, RequestError) and result.status == 500 and result.kind == "internal"


def test_serve_env_has_no_threads_leak() -> None:
    # the server limits BLAS/OpenMP to one thread per worker; the variables are set
    from deployready.serving.options import THREAD_ENV, limit_threads

    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    try:
        limit_threads(1)
        assert all(os.environ[k] == "1" for k in THREAD_ENV)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=None)


def _drive(service: Any, path: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One request through ``service.asgi`` in-process; the messages it sent."""
    sent: list[dict[str, Any]] = []
    incoming = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    asyncio.run(service.asgi(scope, receive, send))
    return sent


def test_hot_path_bug_answers_500_and_counts_it(package: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from deployready.package.load import load_package
    from deployready.serving.app import PredictionService

    service = PredictionService(load_package(package), ServeOptions())

    def broken(body: bytes) -> list[Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "_parse_rows", broken)
    sent = _drive(service, "/predict", [{"type": "http.request", "body": b"{}"}])
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"]) == {"error": "internal server error", "field": None,
                                           "expected": None}
    assert service.stats.errors == {"internal": 1}


def test_hot_path_client_gone_gets_no_answer(package: Path) -> None:
    from deployready.package.load import load_package
    from deployready.serving.app import PredictionService

    service = PredictionService(load_package(package), ServeOptions())
    body = {"type": "http.request", "body": b'{"rows":', "more_body": True}
    assert _drive(service, "/predict", [body, {"type": "http.disconnect"}]) == []
    noop = _drive(service, "/noop", [{"type": "http.request", "body": b"{}"}])
    assert noop[0]["status"] == 200
    assert json.loads(noop[1]["body"])["predictions"] == []


def test_noop_refuses_an_oversized_body_like_predict(package: Path) -> None:
    from deployready.package.load import load_package
    from deployready.serving.app import PredictionService

    service = PredictionService(load_package(package), ServeOptions(max_body_bytes=1024))
    big = [{"type": "http.request", "body": b"x" * 2048}]
    for path in ("/predict", "/noop"):
        sent = _drive(service, path, list(big))
        assert sent[0]["status"] == 413, path
    assert service.stats.errors == {"too_large": 2}


def test_an_unreadable_log_file_does_not_stop_logging(tmp_path: Path) -> None:
    from deployready.serving.predlog import PredictionLog

    ts = pd.Timestamp("2026-03-01T12:00:00Z").timestamp()
    (tmp_path / "predictions-2026-03-01.csv").write_bytes(
        "timestamp,version,latency_ms,prediction,error,r\u00e9gion\n".encode("latin-1"))
    log = PredictionLog(tmp_path, "v1.0", ["a"], flush_seconds=0.01)
    log.add_request(ts, 1.0, [{"a": 1.0}], [0.5], "")
    log.add_request(ts + 1, 1.0, [{"a": 2.0}], [0.5], "")
    log.close()
    assert log.written == 2 and log._thread.is_alive() is False
    own = tmp_path / "predictions-2026-03-01-v1.0.csv"
    assert len(pd.read_csv(own)) == 2


def test_deep_nesting_is_a_400_not_a_server_error(package: Path) -> None:
    """A body nested far beyond the JSON parser's recursion (RecursionError inside
    ``json.loads``) is the client's error: 400 naming the body, counted as validation."""
    from deployready.package.load import load_package
    from deployready.serving.app import PredictionService

    service = PredictionService(load_package(package), ServeOptions())
    depth = 50_000
    for body in (b"[" * depth + b"]" * depth, b'{"rows": ' + b"[" * depth + b"]" * depth + b"}"):
        sent = _drive(service, "/predict", [{"type": "http.request", "body": body}])
        assert sent[0]["status"] == 400
        answer = json.loads(sent[1]["body"])
        assert answer["field"] == "body" and "nested too deeply" in answer["error"]
    assert service.stats.errors == {"validation": 2}
