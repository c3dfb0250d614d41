"""Browser end-to-end fixtures: a fresh dashboard started warm (`python -m dashboard.serve`)
on a free loopback port, and Debian's chromium driven by Playwright (``executable_path``;
nothing is downloaded).

Every request the browser makes is recorded; tests assert none left loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DEPLOYREADY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    workspace: Path
    process: subprocess.Popen[bytes]
    log: Path


def start_server(workspace: Path, log: Path, extra_args: tuple[str, ...] = ()) -> Server:
    port = _free_port()
    env = {**os.environ, "DEPLOYREADY_WORKSPACE": str(workspace), "DO_NOT_TRACK": "1"}
    cmd = [
        sys.executable,
        "-m",
        "dashboard.serve",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        *extra_args,
    ]
    out = log.open("wb")
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.status == 200:
                    return Server(url=url, workspace=workspace, process=process, log=log)
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text(errors='replace')}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="package")
def e2e_workspace(demo_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "ws"
    shutil.copytree(demo_master, target)
    return target


@pytest.fixture(scope="package")
def server(e2e_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(e2e_workspace, tmp_path_factory.mktemp("logs") / "streamlit.log")
    try:
        yield srv
    finally:
        stop_server(srv)


@dataclass
class RequestLog:
    urls: list[str] = field(default_factory=list)

    def outside_loopback(self) -> list[str]:
        bad = []
        for url in self.urls:
            parsed = urlparse(url)
            if parsed.scheme in {"data", "blob", "about", "chrome-extension"}:
                continue
            if parsed.hostname not in LOOPBACK_HOSTS:
                bad.append(url)
        return bad


@pytest.fixture(scope="package")  # closed before other packages run: its loop blocks asyncio.run
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} not found: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium to run browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-default-apps",
                "--disable-extensions",
            ],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def requests_seen() -> RequestLog:
    return RequestLog()


@pytest.fixture
def page(browser: Any, requests_seen: RequestLog) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.on("request", lambda req: requests_seen.urls.append(req.url))
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        context.close()
    bad = requests_seen.outside_loopback()
    assert not bad, f"the browser made requests outside loopback: {bad[:10]}"


def wait_connected(pg: Any) -> None:
    pg.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=60_000
    )


def wait_idle(pg: Any, timeout: float = 60.0) -> None:
    """Wait until the script run finished (no running indicator)."""
    wait_connected(pg)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = pg.locator('[data-testid="stStatusWidget"]').count()
        if running == 0:
            return
        time.sleep(0.2)


def screenshot(pg: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def demo_copy(demo_master: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace, ``tmp_path/ws``."""
    workspace = tmp_path / "ws"
    shutil.copytree(demo_master, workspace)
    return workspace


@contextmanager
def serving(workspace: Path, log: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Server]:
    """A dashboard on ``workspace`` for the ``with`` block (:func:`start_server`)."""
    srv = start_server(workspace, log, extra_args)
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def private_server(demo_master: Path, tmp_path: Path) -> Iterator[Server]:
    """A server on its own copy of the demo workspace, for tests that add evidence."""
    with serving(demo_copy(demo_master, tmp_path), tmp_path / "streamlit.log") as srv:
        yield srv
