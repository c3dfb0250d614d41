"""Running ``deployready serve``: load the package, bind a loopback socket and run the
ASGI application of :mod:`deployready.serving.app` under uvicorn."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from deployready.errors import DeployReadyError, InputError
from deployready.runtime import is_loopback
from deployready.serving.app import PredictionService
from deployready.serving.options import ServeOptions, limit_threads


def default_log_dir(package_path: Path) -> Path | None:
    """``<workspace>/data/production`` when the package sits in a workspace's ``models/``."""
    package_path = package_path.resolve()
    if package_path.parent.name == "models":
        root = package_path.parent.parent
        if (root / "deployready.toml").exists() or (root / "data").is_dir():
            return root / "data" / "production"
    return None


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets of a listening
    # socket whose proto says TCP; without it every keep-alive response waits ~40 ms for
    # a delayed ACK (headers and body are two writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise DeployReadyError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(package_path: str | Path, *, host: str = "127.0.0.1", port: int = 8080,
          options: ServeOptions | None = None, allow_remote: bool = False,
          ready_file: Path | None = None, parent_pid: int | None = None,
          log_level: str = "warning") -> None:
    """Load the package (verified manifest), bind, warm up and serve until stopped."""
    import uvicorn

    from deployready.package.load import load_package

    options = options or ServeOptions()
    options.check()
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"refusing to listen on non-loopback address {host}", location="--host",
                         expected="127.0.0.1, ::1 or localhost (or pass --allow-remote)")
    limit_threads(options.threads)
    package = load_package(package_path)
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    server: uvicorn.Server | None = None

    def on_ready() -> None:
        url = f"http://{host}:{bound_port}"
        if ready_file is not None:
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(json.dumps({"url": url, "port": bound_port, "pid": os.getpid(),
                                       "package_sha256": package.sha256}))
            tmp.replace(ready_file)
        print(f"deployready serve: {package.version} ({package.sha256[:12]}) on {url}",
              file=sys.stderr, flush=True)

    def request_shutdown() -> None:
        if server is not None:
            server.should_exit = True

    service = PredictionService(package, options, on_ready=on_ready, parent_pid=parent_pid,
                                request_shutdown=request_shutdown)
    config = uvicorn.Config(service.asgi, log_level=log_level, access_log=False, lifespan="on",
                            interface="asgi3", proxy_headers=False,  # loopback: no proxy
                            loop="auto", http="auto", ws="none", timeout_keep_alive=60,
                            backlog=2048, server_header=False, date_header=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
