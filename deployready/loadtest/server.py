"""The server a load-test run measures: ``deployready serve`` started as its own subprocess
on a free loopback port (and always stopped on the way out), or an endpoint's pid read
from its ``/health``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deployready.errors import JobError
from deployready.loadtest import runs
from deployready.loadtest.config import LoadTestConfig

SERVER_START_S = 120.0


class Cancelled(Exception):
    """The run was cancelled (``cancel`` file or SIGTERM)."""


def endpoint_pid(base_url: str) -> int | None:
    """The pid an endpoint reports on /health, when that process is on this machine."""
    import urllib.request

    import psutil

    try:
        with urllib.request.urlopen(base_url + "/health", timeout=5.0) as resp:
            pid = json.loads(resp.read()).get("pid")
    except Exception:
        return None
    return pid if isinstance(pid, int) and psutil.pid_exists(pid) else None


def start_server(config: LoadTestConfig, package_path: Path,
                 folder: Path) -> subprocess.Popen[bytes]:
    ready = folder / "server.json"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "deployready", "serve", str(package_path),
           "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready),
           "--parent-pid", str(os.getpid()), "--log-dir", str(folder / "predictions"),
           "--max-batch-size", str(config.max_batch_size), "--max-wait-ms", str(config.max_wait_ms),
           "--threads", "1"]
    if not config.batching:
        cmd.append("--no-batching")
    if config.fixed_wait:
        cmd.append("--fixed-wait")
    env = runs.child_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    finally:
        log.close()


def _server_log_tail(folder: Path, lines: int = 8) -> str:
    try:
        text = (folder / "server.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def wait_ready(proc: subprocess.Popen[bytes], folder: Path, should_stop: Any) -> dict[str, Any]:
    ready = folder / "server.json"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if should_stop():
            raise Cancelled()
        if proc.poll() is not None:
            raise JobError(f"the server exited with code {proc.returncode} before it was ready: "
                           f"{_server_log_tail(folder)}")
        if ready.exists():
            return dict(json.loads(ready.read_text()))
        time.sleep(0.05)
    raise JobError(f"the server was not ready within {SERVER_START_S:g} s")


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
