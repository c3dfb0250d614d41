"""Peer servers on loopback, each in its own virtualenv (:mod:`tests.peers.venvs`), started
on an exported package (``deployready package-export``) with one OpenMP thread, waited
for (bounded) and stopped — and the one request per protocol that the tests and the
benchmark send them directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers.venvs import Peer

START_TIMEOUT_S = 120.0
MODEL_NAME = "deployready"  # the model name in model-settings.json and the BentoML service


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Running:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _command(name: str, peer: Peer, export: Path, port: int,
             workers: int = 1) -> tuple[list[str], Path]:
    """(argv, working folder) of ``name`` serving ``export`` on ``port`` (``workers``:
    ``mlflow models serve``'s worker processes)."""
    if name == "mlserver":
        return [str(peer.bin / "mlserver"), "start", str(export)], export
    if name == "mlflow":
        return [str(peer.bin / "mlflow"), "models", "serve", "-m", str(export), "--env-manager",
                "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)], export
    if name == "bentoml":
        return [str(peer.bin / "bentoml"), "serve", "service:DeployreadyModel", "--host",
                "127.0.0.1", "--port", str(port)], export
    raise ValueError(f"unknown peer {name!r}")


READY_PATH = {"mlserver": f"/v2/models/{MODEL_NAME}/ready", "mlflow": "/ping",
              "bentoml": "/readyz"}


def _env(peer: Peer, port: int, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PATH": f"{peer.bin}{os.pathsep}{env.get('PATH', '')}",  # mlflow execs uvicorn by name
        "OMP_NUM_THREADS": "1",
        "DO_NOT_TRACK": "1",
        "BENTOML_DO_NOT_TRACK": "True",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_HOME": str(home / "bentoml"),
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "VIRTUAL_ENV": str(peer.path),
    })
    env.pop("PYTHONPATH", None)  # the peer must not see deployready
    return env


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def serve(name: str, peer: Peer, export: Path, workdir: Path,
          timeout_s: float = START_TIMEOUT_S, workers: int = 1) -> Iterator[Running]:
    """``name`` serving ``export`` on a free loopback port until the block ends.

    RuntimeError with the server's log tail when it exits or is not ready in time."""
    port = free_port()
    argv, cwd = _command(name, peer, export, port, workers)
    log = workdir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=_env(peer, port, workdir), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(url + READY_PATH[name]):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} did not become ready at {url}:\n{tail}")
            time.sleep(0.5)
        yield Running(name, url, process, log)
    finally:
        _stop(process)


# --------------------------------------------------------------------------- requests


def _column(values: list[Any], spec: dict[str, Any]) -> dict[str, Any]:
    text = spec["kind"] != "numeric"
    column = {"name": spec["name"], "shape": [len(values)],
              "datatype": "BYTES" if text else "FP64", "data": values}
    if text:
        column["parameters"] = {"content_type": "str"}
    return column


def request_body(name: str, schema: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The body ``name`` expects for ``rows`` (JSON-ready: null for missing values)."""
    features = [str(f["name"]) for f in schema["features"]]
    if name == "mlserver":  # Open Inference Protocol, pandas codec, one input per column
        return {"parameters": {"content_type": "pd"},
                "inputs": [_column([r[f["name"]] for r in rows], f) for f in schema["features"]]}
    if name == "mlflow":
        return {"dataframe_split": {"columns": features,
                                    "data": [[r[f] for f in features] for r in rows]}}
    return {"rows": rows}


PREDICT_PATH = {"mlserver": f"/v2/models/{MODEL_NAME}/infer", "mlflow": "/invocations",
                "bentoml": "/predict"}


def probabilities(name: str, answer: Any) -> list[float]:
    """The positive-class probability per row from ``name``'s response."""
    if name == "mlserver":
        return [float(v) for v in answer["outputs"][0]["data"]]
    if name == "mlflow":
        return [float(v) for v in answer["predictions"]]
    return [float(v) for v in answer]


def predict(running: Running, schema: dict[str, Any], rows: list[dict[str, Any]]) -> list[float]:
    body = json.dumps(request_body(running.name, schema, rows)).encode()
    request = urllib.request.Request(running.url + PREDICT_PATH[running.name], data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return probabilities(running.name, json.loads(response.read()))
