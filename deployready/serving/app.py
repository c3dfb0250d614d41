"""``deployready serve``: an HTTP prediction server for one model package.

Stack: Starlette (routing, requests, responses) on uvicorn (ASGI server). Both are
already pinned because Streamlit runs on them and both are actively maintained. uvicorn
runs with ``loop="auto", http="auto"``: uvloop and httptools (its "standard" extras,
pinned in requirements.txt, binary wheels) when installed, else asyncio and h11.

Protocol (see the contracts):

- ``POST /predict`` ``{"rows": [{feature: value, ...}, ...], "ids": [...]}`` (``ids``
  optional: one client id per row) → ``200 {"predictions": [...], "ids": [...],
  "version": ..., "package_sha256": ...}`` — the client's ids, or one drawn per row.
  Every refusal is ``{"error", "field", "expected"}`` naming the field (``body``,
  ``content-type``, ``rows``, ``rows[i].field``, ``ids``, ``ids[i]``),
  under 1 KB whatever the request held (quoted keys and values are cut): a body that is
  not UTF-8, not JSON or nested beyond the parser's recursion limit → 400; a declared
  content type other than JSON → 415; a body that is not ``{"rows": [...]}``, repeats a key,
  or has rows or ids that do not fit → 422 (see :func:`parse_predict_request`); a body
  over ``max_body_bytes`` → 413; a full queue → 503.
- the Open Inference Protocol (``/v2/...``): :mod:`deployready.serving.oip`.
- ``GET /health`` → ``{"status": "ok", "version", "package_sha256", "pid", ...}``.
- ``POST /noop`` → the same HTTP path without the model: the load test's harness floor.
- ``GET /stats`` → request, batch and row counters, and where the time went
  (``timing``: queueing, validation, predict, predict-thread CPU, process CPU).
  ``DEPLOYREADY_SERVE_PROFILE=<dir>`` also writes cProfile files of the event-loop and
  predict threads at shutdown.

The requests are parsed by :mod:`deployready.serving.requests`, batched by
:mod:`deployready.serving.batching` and logged by :mod:`deployready.serving.predlog`;
:mod:`deployready.serving.server` binds the socket and runs uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from deployready.runtime import freeze_heap
from deployready.serving.batching import MicroBatcher, Stats
from deployready.serving.oip import (
    infer_answer,
    model_metadata,
    oip_error,
    parse_infer_request,
    resolve_model,
)
from deployready.serving.options import ServeOptions
from deployready.serving.predlog import PredictionLog
from deployready.serving.requests import (
    RequestError,
    check_content_type,
    ids_json,
    json_bytes,
    new_ids,
    parse_predict_request,
)
from deployready.version import __version__

LOG = logging.getLogger("deployready.serving.app")

#: A directory: when set, the server runs cProfile on its event-loop thread and on its
#: predict thread and writes ``serve-<pid>-loop.prof`` / ``serve-<pid>-predict.prof``
#: there at shutdown (``python -m pstats`` reads them). Off by default: profiling costs.
PROFILE_ENV = "DEPLOYREADY_SERVE_PROFILE"


class _Profiles:
    """cProfile of the event-loop thread and of the predict thread (see PROFILE_ENV)."""

    def __init__(self, directory: Path, batcher: MicroBatcher) -> None:
        import cProfile

        self.directory = directory
        self.batcher = batcher
        self.loop = cProfile.Profile()
        self.predict = cProfile.Profile()

    @classmethod
    def from_env(cls, batcher: MicroBatcher) -> _Profiles | None:
        directory = os.environ.get(PROFILE_ENV)
        return cls(Path(directory), batcher) if directory else None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.batcher.executor, self.predict.enable)
        self.loop.enable()

    async def stop(self) -> None:
        self.loop.disable()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError):  # executor already shut down
            await loop.run_in_executor(self.batcher.executor, self.predict.disable)
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, profile in (("loop", self.loop), ("predict", self.predict)):
            profile.dump_stats(self.directory / f"serve-{os.getpid()}-{name}.prof")


# --------------------------------------------------------------------------- app


class PredictionService:
    """The package, the batcher and the log. ``asgi`` is the application uvicorn runs;
    ``app`` the Starlette application behind it."""

    def __init__(self, package: Any, options: ServeOptions,
                 on_ready: Callable[[], None] | None = None,
                 parent_pid: int | None = None,
                 request_shutdown: Callable[[], None] | None = None) -> None:
        self.package = package
        self.options = options
        self.stats = Stats()
        self.on_ready = on_ready
        self.parent_pid = parent_pid
        self.request_shutdown = request_shutdown
        self.log: PredictionLog | None = None
        self.batcher: MicroBatcher | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.predict_fn, self.preprocessor = package.serving_predictor()
        if self.preprocessor.reason:
            LOG.info("preprocessing runs in scikit-learn: %s", self.preprocessor.reason)
        from starlette.responses import Response

        self._response = Response
        meta = json.dumps({"version": package.version, "package_sha256": package.sha256},
                          separators=(",", ":"))[1:]
        self._predict_tail = ("," + meta).encode()  # after the ids
        self._noop_tail = ("]," + meta).encode()
        self.app = self._build_app()
        self._hot: dict[str, Callable[[dict[str, Any], Callable[[], Any]],
                                      Awaitable[tuple[int, bytes]]]] = {
            "/predict": self._predict, "/noop": self._noop}

    # ---- lifespan
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        pkg = self.package
        if self.options.log_dir is not None:
            self.log = PredictionLog(self.options.log_dir, pkg.version, list(pkg.features),
                                     self.options.flush_seconds)
        self.batcher = MicroBatcher(pkg.validate_rows, self.predict_fn, self.options,
                                    self.stats)
        profiles = _Profiles.from_env(self.batcher)
        if self.options.warmup and len(pkg.holdout):
            # first calls pay for lazy imports and caches: not part of any request
            loop = asyncio.get_running_loop()
            sample = pkg.validate_rows(pkg.request_rows(self.options.max_batch_size))
            await loop.run_in_executor(self.batcher.executor, self.predict_fn, sample)
            await loop.run_in_executor(self.batcher.executor, self.predict_fn, sample.head(1))
        freeze_heap()
        if profiles is not None:
            await profiles.start()
        self.batcher.start()
        if self.parent_pid:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_parent())
        if self.on_ready is not None:
            self.on_ready()
        try:
            yield
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
            if profiles is not None:
                await profiles.stop()
            await self.batcher.stop()
            if self.log is not None:
                self.log.close()

    async def _watch_parent(self) -> None:
        import psutil

        while True:
            await asyncio.sleep(0.5)
            if not psutil.pid_exists(self.parent_pid or 0) or os.getppid() == 1:
                LOG.warning("parent process %s is gone: shutting down", self.parent_pid)
                if self.request_shutdown is not None:
                    self.request_shutdown()
                return

    # ---- handlers
    #
    # POST /predict and POST /noop are answered by ``asgi`` directly (the hot path: one
    # request per prediction at thousands per second, where Starlette's middleware,
    # Request and Response objects were ~40 % of the event loop's CPU per request);
    # everything else — other methods, /health, /stats, 404s, the lifespan — goes to the
    # Starlette application, which also owns the routing table.

    async def asgi(self, scope: dict[str, Any], receive: Callable[[], Any],
                   send: Callable[[dict[str, Any]], Any]) -> None:
        """The ASGI application uvicorn runs."""
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self._hot.get(scope["path"])
            if handler is None and scope["path"].startswith("/v2/models/"):
                handler = self._infer
            if handler is not None:
                try:
                    status, body = await handler(scope, receive)
                except _Disconnected:
                    return
                except Exception:  # a bug must answer 500, like Starlette would
                    LOG.exception("unhandled error in %s", scope["path"])
                    self.stats.errors["internal"] = self.stats.errors.get("internal", 0) + 1
                    status, body = 500, json_bytes({"error": "internal server error",
                                                     "field": None, "expected": None})
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _error(self, exc: RequestError, started: float, rows: list[Any] | None,
               ids: list[str] | None) -> tuple[int, bytes]:
        self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
        rows = rows or [None]
        self._log_rows(started, rows, None, exc.kind,
                       ids if ids is not None and len(ids) == len(rows) else None)
        return exc.status, exc.body_bytes()

    def _log_rows(self, started: float, rows: list[Any], predictions: list[float] | None,
                  error: str, ids: list[str] | None) -> None:
        """Log a request's rows, each with its id (drawn when the request had none or
        its ids were refused)."""
        if self.log is None:
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.log.add_request(time.time(), latency_ms, rows, predictions, error,
                             ids if ids is not None else new_ids(len(rows)))

    async def _read_body(self, scope: dict[str, Any], receive: Callable[[], Any]) -> bytes:
        limit = self.options.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and (len(value) > 18 or int(value) > limit):
                    raise RequestError(413, "too_large", {
                        "error": f"body of {value.decode()} bytes is too large",
                        "field": "body", "expected": f"at most {limit} bytes"})
            elif name == b"content-type" and value != b"application/json":
                check_content_type(value)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, "too_large", {"error": "body is too large",
                                                      "field": "body",
                                                      "expected": f"at most {limit} bytes"})
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _parse_rows(self, body: bytes) -> tuple[list[Any], list[str] | None]:
        return parse_predict_request(body, self.options.max_rows_per_request)

    async def _predict(self, scope: dict[str, Any], receive: Callable[[], Any]
                       ) -> tuple[int, bytes]:
        started = time.perf_counter()
        self.stats.requests += 1
        rows: list[Any] | None = None
        ids: list[str] | None = None
        try:
            body = await self._read_body(scope, receive)
            rows, ids = self._parse_rows(body)
            assert self.batcher is not None
            predictions = await self.batcher.submit(rows)
        except RequestError as exc:
            return self._error(exc, started, rows, ids)
        self.stats.rows += len(rows)
        values = predictions.tolist()
        drawn = ids is None
        if ids is None:
            ids = new_ids(len(rows))
        self._log_rows(started, rows, values, "", ids)
        if not all(map(math.isfinite, values)):  # not JSON: fails as json.dumps does
            return 200, json_bytes({"predictions": values, "ids": ids,
                                     "version": self.package.version,
                                     "package_sha256": self.package.sha256})
        # float repr is what json.dumps writes for a finite float: same bytes, less work
        return 200, (b'{"predictions":[' + ",".join(map(repr, values)).encode()
                     + b'],"ids":' + ids_json(ids, drawn)
                     + self._predict_tail)

    async def _noop(self, scope: dict[str, Any], receive: Callable[[], Any]
                    ) -> tuple[int, bytes]:
        """The same HTTP path as /predict without the model: the harness's floor."""
        try:
            await self._read_body(scope, receive)
        except RequestError as exc:
            self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
            return exc.status, exc.body_bytes()
        return 200, b'{"predictions":[' + self._noop_tail

    # ---- the Open Inference Protocol (see deployready.serving.oip)
    def _model_route(self, path: str) -> tuple[str, str] | None:
        return resolve_model(path, self.package.version, self.package.sha256)

    async def _infer(self, scope: dict[str, Any], receive: Callable[[], Any]
                     ) -> tuple[int, bytes]:
        route = self._model_route(scope["path"])
        if route is None or route[1] or route[0] != "infer":
            error = route[1] if route and route[1] else f"no route {scope['path']}"
            return 404, json_bytes({"error": error})
        started = time.perf_counter()
        self.stats.requests += 1
        rows: list[Any] | None = None
        try:
            body = await self._read_body(scope, receive)
            rows, request_id = parse_infer_request(body, self.package.features,
                                                   self.options.max_rows_per_request)
            assert self.batcher is not None
            predictions = await self.batcher.submit(rows)
        except RequestError as exc:
            status, _ = self._error(exc, started, rows, None)
            return status, oip_error(exc).body_bytes()
        self.stats.rows += len(rows)
        values = predictions.tolist()
        self._log_rows(started, rows, values, "", None)
        return 200, infer_answer(self.package.version, self.package.sha256, request_id,
                                 values)

    async def oip_get(self, request: Any) -> Any:
        """``GET /v2``, ``/v2/health/*``, ``/v2/models/{name}[...][/ready]``."""
        path = request.url.path
        if path == "/v2":
            return self._json({"name": "deployready", "version": __version__,
                               "extensions": []})
        if path in ("/v2/health/live", "/v2/health/ready"):
            return self._json({"live" if path.endswith("live") else "ready": True})
        route = self._model_route(path)
        if route is None or route[1] or route[0] == "infer":
            error = route[1] if route and route[1] else f"no route {path}"
            return self._json({"error": error}, 405 if route and route[0] == "infer" else 404)
        if route[0] == "ready":
            return self._json({"name": self.package.version, "ready": True})
        return self._json(model_metadata(self.package.version, self.package.sha256,
                                         self.package.schema))

    def _json(self, body: dict[str, Any], status: int = 200) -> Any:
        return self._response(json_bytes(body), status, media_type="application/json")

    async def _hot_route(self, request: Any) -> Any:
        """/predict and /noop as Starlette routes: what ``asgi`` does not answer itself
        (GET /noop; the routes also make other methods a 405)."""
        status, body = await self._hot[request.url.path](request.scope, request.receive)
        return self._response(body, status, media_type="application/json")

    async def health(self, request: Any) -> Any:
        return self._json({"status": "ok", "version": self.package.version,
                           "package_sha256": self.package.sha256, "pid": os.getpid(),
                           "batching": self.options.batching,
                           "max_batch_size": self.options.max_batch_size,
                           "max_wait_ms": self.options.max_wait_ms,
                           "batch_wait": "adaptive" if self.options.adaptive_wait else "fixed",
                           "threads": self.options.threads,
                           "preprocessing": self.preprocessor.describe(),
                           "logging": self.log is not None})

    async def stats_endpoint(self, request: Any) -> Any:
        data = self.stats.as_dict()
        data["logged_rows"] = self.log.written if self.log is not None else 0
        return self._json(data)

    def _build_app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[
                Route("/predict", self._hot_route, methods=["POST"]),
                Route("/noop", self._hot_route, methods=["POST", "GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/stats", self.stats_endpoint, methods=["GET"]),
                Route("/v2", self.oip_get, methods=["GET"]),
                Route("/v2/health/{probe}", self.oip_get, methods=["GET"]),
                Route("/v2/models/{rest:path}", self.oip_get, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""
