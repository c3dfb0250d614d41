"""``deployready serve``: an HTTP prediction server for one model package.

Stack: Starlette (routing, requests, responses) on uvicorn (ASGI server). Both are
already pinned because Streamlit runs on them and both are actively maintained. uvicorn
runs with ``loop="auto", http="auto"``: uvloop and httptools (its "standard" extras,
pinned in requirements.txt, binary wheels) when installed, else asyncio and h11.

Protocol (see the contracts):

- ``POST /predict`` ``{"rows": [{feature: value, ...}, ...]}`` → ``200 {"predictions": [...],
  "version": ..., "package_sha256": ...}``. Every refusal is ``{"error", "field",
  "expected"}`` naming the field (``body``, ``content-type``, ``rows``, ``rows[i].field``),
  under 1 KB whatever the request held (quoted keys and values are cut): a body that is
  not UTF-8, not JSON or nested beyond the parser's recursion limit → 400; a declared
  content type other than JSON → 415; a body that is not ``{"rows": [...]}``, repeats a key,
  or has rows that do not fit the schema → 422 (see :func:`parse_predict_body`); a body
  over ``max_body_bytes`` → 413; a full queue → 503.
- ``GET /health`` → ``{"status": "ok", "version", "package_sha256", "pid", ...}``.
- ``POST /noop`` → the same HTTP path without the model: the load test's harness floor.
- ``GET /stats`` → request, batch and row counters, and where the time went
  (``timing``: queueing, validation, predict, predict-thread CPU, process CPU).
  ``DEPLOYREADY_SERVE_PROFILE=<dir>`` also writes cProfile files of the event-loop and
  predict threads at shutdown.

**Dynamic micro-batching.** Requests are put on an asyncio queue. One batching task
takes everything already queued, then waits at most ``max_wait_ms`` for more, up to
``max_batch_size`` rows (default 128: the checklist's 100 concurrent requests fit one
call), and runs one ``validate_rows`` + one ``predict`` for the whole
batch in a single worker thread (BLAS/OpenMP limited to ``threads`` threads by
threadpoolctl, so a gradient-boosting model does not oversubscribe the cores). Results
are fanned back to each request's future. While a batch is predicting, the event loop
keeps accepting requests, which form the next batch. A row that fails validation is
re-validated per request so only its own request gets the 422. A model exception fails
every request of that batch (500, error kind ``internal``) — it is not retried, so the
error rate of a flaky model stays visible. ``--no-batching`` sends each request alone
through the same single worker thread.

**Prediction log.** Every row is logged in the production-log format (timestamp,
version, latency_ms, prediction, error, features) by a background thread that buffers,
flushes at least every ``flush_seconds`` and writes one CSV per UTC day
(``predictions-YYYY-MM-DD.csv``).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import math
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.errors import DeployReadyError, InputError
from deployready.package.versioning import shorten
from deployready.runtime import freeze_heap, is_loopback

LOG = logging.getLogger("deployready.serving.app")

#: A directory: when set, the server runs cProfile on its event-loop thread and on its
#: predict thread and writes ``serve-<pid>-loop.prof`` / ``serve-<pid>-predict.prof``
#: there at shutdown (``python -m pstats`` reads them). Off by default: profiling costs.
PROFILE_ENV = "DEPLOYREADY_SERVE_PROFILE"

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ServeOptions:
    max_batch_size: int = 128  # rows per predict call: the checklist's 100 in-flight in one
    max_wait_ms: float = 2.0  # how long a partial batch waits for more requests
    batching: bool = True
    max_body_bytes: int = 1_048_576
    max_rows_per_request: int = 1000
    max_queue_rows: int = 20_000  # more queued rows than this → 503
    threads: int = 1  # BLAS/OpenMP threads of the predict thread
    log_dir: Path | None = None
    flush_seconds: float = 1.0
    warmup: bool = True

    def check(self) -> None:
        if self.max_batch_size < 1:
            raise InputError("must be >= 1", location="--max-batch-size",
                             expected="an integer >= 1")
        if not 0 <= self.max_wait_ms <= 1000:
            raise InputError("out of range", location="--max-wait-ms",
                             expected="a number of milliseconds between 0 and 1000")
        if self.max_body_bytes < 1024:
            raise InputError("too small", location="--max-body-bytes", expected=">= 1024")
        if self.threads < 1:
            raise InputError("must be >= 1", location="--threads", expected="an integer >= 1")


def limit_threads(threads: int = 1) -> None:
    """Limit BLAS/OpenMP pools of this process (env for children, threadpoolctl now)."""
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


# --------------------------------------------------------------------------- prediction log


def _try_lock(fh: Any) -> bool:
    """An exclusive advisory lock on an open file, without waiting (always granted where
    the platform has no ``fcntl``). Released when the file is closed."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


#: Longest value logged for a failed request (a served row's values are validated).
MAX_ERROR_CELL_CHARS = 200


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)[:MAX_ERROR_CELL_CHARS]
    return value


def _error_cell(value: Any) -> Any:
    """A failed request's value as logged: what it sent, cut to
    :data:`MAX_ERROR_CELL_CHARS` (it may carry a megabyte, or nesting, or text UTF-8
    cannot store — which would lose the lines around it)."""
    if isinstance(value, dict | list):
        try:
            return json.dumps(value)[:MAX_ERROR_CELL_CHARS]  # ASCII: \uXXXX escapes
        except (ValueError, RecursionError):
            return ""
    value = _cell(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value[:MAX_ERROR_CELL_CHARS]
        if not value.isascii():
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class PredictionLog:
    """Buffered, daily-rotated CSV writer in the production-log format, on its own thread."""

    def __init__(self, directory: Path, version: str, features: list[str],
                 flush_seconds: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.features = features
        self.header = ["timestamp", "version", "latency_ms", "prediction", "error", *features]
        self.flush_seconds = flush_seconds
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._day = ""
        self._fh: Any = None
        self._writer: Any = None
        self.written = 0
        self._thread.start()

    def add(self, ts: float, latency_ms: float, prediction: float | None, error: str,
            row: Any) -> None:
        self._queue.put((ts, latency_ms, [row], None if prediction is None else [prediction],
                         error))

    def add_request(self, ts: float, latency_ms: float, rows: list[Any],
                    predictions: list[float] | None, error: str) -> None:
        """All rows of one request: one queue item (the writer thread expands it)."""
        self._queue.put((ts, latency_ms, rows, predictions, error))

    def _candidates(self, day: str) -> list[str]:
        return [f"predictions-{day}.csv", f"predictions-{day}-{self.version}.csv",
                f"predictions-{day}-{self.version}-{os.getpid()}.csv"]

    def _claim(self, path: Path) -> tuple[Any, bool] | None:
        """``path`` opened for appending and locked for this process, and whether it is
        new — or None when another server holds it or it has another header."""
        fh = None
        try:
            fh = open(path, "a+", newline="", encoding="utf-8")  # noqa: SIM115 - held open
            if _try_lock(fh):
                fh.seek(0)
                first = fh.readline()
                if not first:
                    return fh, True
                if next(csv.reader([first]), None) == self.header:
                    fh.seek(0, os.SEEK_END)
                    return fh, False
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, a directory...
            LOG.warning("prediction log: not writing to %s: %s", path, exc)
        if fh is not None:
            fh.close()
        return None

    def _open(self, day: str) -> None:
        """The day's file: the shared ``predictions-<day>.csv`` unless another server
        holds it (an advisory lock per open file) or it has another header (a version
        with another schema during a rollout), then ``-<version>``, then
        ``-<version>-<pid>``: two writers never interleave lines in one file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for name in self._candidates(day):
            claimed = self._claim(self.directory / name)
            if claimed is not None:
                break
        else:  # every name held or taken by another header: a file of our own
            name = f"predictions-{day}-{self.version}-{os.getpid()}-{time.time_ns()}.csv"
            claimed = (open(self.directory / name, "a", newline="",  # noqa: SIM115
                            encoding="utf-8"), True)
        self._fh, new = claimed
        self._writer = csv.writer(self._fh)
        if new:
            self._writer.writerow(self.header)
        self._day = day

    def _write(self, item: tuple[Any, ...]) -> None:
        ts, latency_ms, rows, predictions, error = item
        stamp = _iso(ts)
        day = stamp[:10]
        if day != self._day:
            self._open(day)
        head = [stamp, self.version, f"{latency_ms:.3f}"]
        features, empty = self.features, [""] * len(self.features)
        cell = _error_cell if error else _cell
        lines = []
        for i, row in enumerate(rows):
            prediction = predictions[i] if predictions is not None else None
            pred = ("" if prediction is None or not math.isfinite(prediction)
                    else repr(float(prediction)))
            cells = [cell(row.get(f)) for f in features] if isinstance(row, dict) else empty
            lines.append([*head, pred, error, *cells])
        self._writer.writerows(lines)
        self.written += len(lines)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                pass  # nothing queued: time to flush
            else:
                if item is None:
                    break
                try:
                    self._write(item)
                except Exception as exc:  # a full disk must not take predictions down
                    LOG.error("prediction log: %s: %s", type(exc).__name__, exc)
            if self._fh is not None and time.monotonic() - last_flush >= self.flush_seconds:
                self._fh.flush()
                last_flush = time.monotonic()
        if self._fh is not None:
            self._fh.flush()
            self._fh.close()
            self._fh = None

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


# --------------------------------------------------------------------------- batching


class RequestError(Exception):
    """A per-request failure with its HTTP status and error kind. The body's texts are
    cut to :data:`ERROR_FIELD_CHARS` each (see ``shorten``): an answer never echoes a
    request's megabyte back, and stays under 1 KB."""

    def __init__(self, status: int, kind: str, body: dict[str, Any]) -> None:
        body = {k: shorten(v, ERROR_FIELD_CHARS) if isinstance(v, str) else v
                for k, v in body.items()}
        super().__init__(body.get("error", kind))
        self.status = status
        self.kind = kind
        self.body = body

    def body_bytes(self) -> bytes:
        return _json_bytes(self.body)


#: Longest text of one field of an error answer, once JSON-escaped.
ERROR_FIELD_CHARS = 240

EXPECTED_BODY = '{"rows": [{feature: value, ...}, ...]}'

_JSON_TYPE_NAMES: dict[type, str] = {str: "string", int: "number", float: "number",
                                     bool: "boolean", type(None): "null", list: "array"}


def _body_error(status: int, message: str, field: str = "body",
                expected: str = EXPECTED_BODY) -> RequestError:
    return RequestError(status, "validation",
                        {"error": message, "field": field, "expected": expected})


def check_content_type(value: bytes) -> None:
    """A declared media type must be JSON — ``application/json`` or ``application/*+json``,
    parameters (``charset=utf-8``) aside; 415 naming ``content-type`` otherwise. A request
    without the header is read as JSON."""
    if value == b"application/json":
        return
    media = value.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or (media.startswith(b"application/")
                                        and media.endswith(b"+json")):
        return
    shown = value.decode("latin-1")
    raise RequestError(415, "validation", {
        "error": f"content type {shorten(shown, 60)!r} is not JSON", "field": "content-type",
        "expected": "application/json"})


def parse_predict_body(body: bytes, max_rows: int) -> list[Any]:
    """The rows of a ``POST /predict`` body, or a 4xx :class:`RequestError` naming the
    problem: not UTF-8, not JSON, nested beyond what the parser recurses into (400); not
    an object, no ``rows`` or another key, ``rows`` not a non-empty list of at most
    ``max_rows``, a key repeated in the body or in a row, a row value that is not valid
    Unicode (422). The rows themselves are checked against the schema later, per batch.

    The common case costs two scans at C speed beyond ``json.loads``: a ``:`` count (one
    per key of the body and of its rows, unless a key repeats — a repeated key is
    otherwise lost silently by ``json.loads``) and a search for ``\\uD`` escapes (lone
    surrogates); only a body that fails them is looked at more closely.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(400, f"body is not valid JSON: not UTF-8 (byte "
                          f"0x{body[exc.start]:02x} at offset {exc.start})",
                          expected="JSON text in UTF-8") from None
    if text.startswith("\ufeff"):
        raise _body_error(400, "body is not valid JSON: it starts with a byte order mark")
    try:
        data = json.loads(text)
    except RecursionError:
        raise _body_error(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer beyond int's digit limit
        raise _body_error(400, f"body is not valid JSON: {_json_problem(exc)}") from None
    if type(data) is not dict:
        kind = _JSON_TYPE_NAMES.get(type(data), type(data).__name__)
        raise _body_error(422, f"body is a JSON {kind}, not an object")
    if "rows" not in data:
        raise _body_error(422, "missing 'rows'", field="rows")
    if len(data) > 1:  # as strict as the rows themselves: no silently ignored keys
        key = next(k for k in data if k != "rows")
        raise _body_error(422, "unknown top-level key", field=_key(key),
                          expected='only "rows": ' + EXPECTED_BODY)
    rows = data["rows"]
    if type(rows) is not list or not rows:
        raise _body_error(422, "'rows' must be a non-empty list", field="rows",
                          expected="a non-empty list of objects")
    if len(rows) > max_rows:
        raise _body_error(422, f"{len(rows)} rows in one request", field="rows",
                          expected=f"at most {max_rows} rows")
    if "\\" in text and ("\\ud" in text or "\\uD" in text):  # no escape: memchr speed
        _check_unicode(rows)
    members = len(data)
    for row in rows:
        if type(row) is not dict:
            return rows  # the schema check refuses this request, naming rows[i]
        members += len(row)
    if text.count(":") != members:  # a ':' in a string, a nested object, or a repeated key
        _check_repeated_keys(text)
    return rows


def _key(key: str) -> str:
    """A top-level key as an error's ``field``: cut, and ``""`` for the empty key."""
    return shorten(key) or '""'


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if "integer string conversion" in str(exc):
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return shorten(str(exc))


def _check_unicode(rows: list[Any]) -> None:
    """422 naming the row value that holds a lone surrogate (``"\\ud800"``): valid JSON
    grammar, but not text, and nothing UTF-8 can store."""
    for i, row in enumerate(rows):
        if type(row) is not dict:
            continue
        for key, value in row.items():
            if type(value) is str and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise _body_error(422, "text is not valid Unicode (a lone surrogate)",
                                      field=f"rows[{i}].{shorten(key)}",
                                      expected="a string of Unicode characters") from None


class _Repeated(dict[str, Any]):
    """A JSON object that repeated a key (``key``: the first one repeated)."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    repeated = _Repeated(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _check_repeated_keys(text: str) -> None:
    """422 naming a key the body or one of its rows repeats (``json.loads`` keeps the
    last value; another parser may keep the first: the body has no single meaning)."""
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise _body_error(400, "body is not valid JSON: nested too deeply") from None
    expected = "each key once per object"
    if isinstance(data, _Repeated):
        raise _body_error(422, "duplicate key", field=_key(data.key), expected=expected)
    for i, row in enumerate(data["rows"]):
        if isinstance(row, _Repeated):
            raise _body_error(422, "duplicate key", field=f"rows[{i}].{shorten(row.key)}",
                              expected=expected)


@dataclass
class _Item:
    rows: list[Any]
    future: asyncio.Future[np.ndarray]
    submitted: float = 0.0  # time.perf_counter() at submit


@dataclass
class Stats:
    """Counters, and where the time went (seconds, summed over batches or requests)."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    max_batch_rows: int = 0
    queue_s: float = 0.0  # submit → its batch starts on the predict thread, per request
    validate_s: float = 0.0  # validate_rows, per batch
    predict_s: float = 0.0  # predict, per batch
    predict_thread_cpu_s: float = 0.0  # CPU time of the predict thread inside batches

    def as_dict(self) -> dict[str, Any]:
        batches = self.batches or 1
        timing = {"queue_s": self.queue_s, "validate_s": self.validate_s,
                  "predict_s": self.predict_s, "predict_thread_cpu_s": self.predict_thread_cpu_s,
                  "mean_queue_ms": 1e3 * self.queue_s / (self.requests or 1),
                  "mean_validate_ms": 1e3 * self.validate_s / batches,
                  "mean_predict_ms": 1e3 * self.predict_s / batches,
                  "process_cpu_s": time.process_time()}
        return {"requests": self.requests, "rows": self.rows, "batches": self.batches,
                "mean_batch_rows": self.rows / self.batches if self.batches else 0.0,
                "max_batch_rows": self.max_batch_rows, "errors": dict(self.errors),
                "timing": {k: round(v, 6) for k, v in timing.items()}}


def _input_error_body(exc: InputError) -> dict[str, Any]:
    return {"error": exc.message, "field": exc.location, "expected": exc.expected}


def request_error(exc: InputError) -> RequestError:
    """The 422 answer of a request whose rows do not fit the schema."""
    return RequestError(422, "validation", _input_error_body(exc))


class MicroBatcher:
    """Collects requests into batches; one predict per batch on one worker thread."""

    def __init__(self, validate: Callable[[list[Any]], pd.DataFrame],
                 predict: Callable[[pd.DataFrame], np.ndarray], options: ServeOptions,
                 stats: Stats) -> None:
        self.validate = validate
        self.predict = predict
        self.max_rows = options.max_batch_size if options.batching else 1
        self.max_wait = options.max_wait_ms / 1000.0 if options.batching else 0.0
        self.max_queue_rows = options.max_queue_rows
        self.threads = options.threads
        self.stats = stats
        self.queued_rows = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict",
                                            initializer=limit_threads, initargs=(options.threads,))
        self._task: asyncio.Task[None] | None = None
        self._validated = 0.0  # perf_counter when the current batch finished validating

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, rows: list[Any]) -> np.ndarray:
        if self.queued_rows + len(rows) > self.max_queue_rows:
            raise RequestError(503, "overload", {"error": "server overloaded: queue full",
                                                 "field": None, "expected": None})
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self.queued_rows += len(rows)
        self._queue.put_nowait(_Item(rows, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list[_Item]:
        """The next batch: everything queued, then whatever arrives within ``max_wait``,
        up to ``max_batch_size`` rows. (Counting ``max_wait`` from the first request's
        arrival instead was measured: it splits a closed loop's clients into two cohorts,
        two predicts per cycle, and cost ~20 % of closed-loop throughput.)"""
        first = await self._queue.get()
        batch, rows = [first], len(first.rows)
        deadline = time.perf_counter() + self.max_wait
        while rows < self.max_rows:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            else:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            rows += len(item.rows)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            for item in batch:
                self.queued_rows -= len(item.rows)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._process, batch)
            except Exception as exc:  # executor shut down, or a bug: fail the batch
                outcomes = [RequestError(500, "internal", {"error": str(exc)})] * len(batch)
            for item, outcome in zip(batch, outcomes, strict=True):
                if item.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            # Let this batch's handlers write their responses before the next batch
            # starts: both need the GIL, and a predict thread started now would delay
            # every one of these responses by its switch interval.
            await asyncio.sleep(0)

    def _process(self, batch: list[_Item]) -> list[np.ndarray | RequestError]:
        """Runs on the predict thread: validate and predict the whole batch at once."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        stats = self.stats
        rows = [r for item in batch for r in item.rows]
        stats.batches += 1
        stats.max_batch_rows = max(stats.max_batch_rows, len(rows))
        stats.queue_s += sum(started - item.submitted for item in batch)
        try:
            return self._validate_predict(batch, rows)
        finally:
            validated = self._validated
            ended = time.perf_counter()
            stats.validate_s += validated - started
            stats.predict_s += ended - validated
            stats.predict_thread_cpu_s += time.thread_time() - cpu_started

    def _validate_predict(self, batch: list[_Item], rows: list[Any]
                          ) -> list[np.ndarray | RequestError]:
        self._validated = time.perf_counter()
        outcomes: list[np.ndarray | RequestError | None] = [None] * len(batch)
        try:
            frame = self.validate(rows)
            good = list(range(len(batch)))
        except InputError:
            # find the offending request(s); the others still get predictions
            frames, good = [], []
            for i, item in enumerate(batch):
                try:
                    frames.append(self.validate(item.rows))
                    good.append(i)
                except InputError as exc:
                    outcomes[i] = request_error(exc)
            if not frames:
                self._validated = time.perf_counter()
                return [o for o in outcomes if o is not None]
            frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        self._validated = time.perf_counter()
        try:
            predictions = np.asarray(self.predict(frame), dtype=np.float64)
            if predictions.shape != (len(frame),):
                raise ValueError(f"predict returned shape {predictions.shape} "
                                 f"for {len(frame)} rows")
        except Exception as exc:  # any model failure is this batch's internal error
            error = RequestError(500, "internal", {"error": f"{type(exc).__name__}: {exc}",
                                                   "field": None, "expected": None})
            for i in good:
                outcomes[i] = error
            return [o for o in outcomes if o is not None]
        start = 0
        for i in good:
            n = len(batch[i].rows)
            outcomes[i] = predictions[start:start + n]
            start += n
        return [o for o in outcomes if o is not None]


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
        await loop.run_in_executor(self.batcher._executor, self.predict.enable)
        self.loop.enable()

    async def stop(self) -> None:
        self.loop.disable()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError):  # executor already shut down
            await loop.run_in_executor(self.batcher._executor, self.predict.disable)
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
        self._predict_tail = ("]," + json.dumps({"version": package.version,
                                                 "package_sha256": package.sha256},
                                                separators=(",", ":"))[1:]).encode()
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
            await loop.run_in_executor(self.batcher._executor, self.predict_fn, sample)
            await loop.run_in_executor(self.batcher._executor, self.predict_fn, sample.head(1))
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
            if handler is not None:
                try:
                    status, body = await handler(scope, receive)
                except _Disconnected:
                    return
                except Exception:  # a bug must answer 500, like Starlette would
                    LOG.exception("unhandled error in %s", scope["path"])
                    self.stats.errors["internal"] = self.stats.errors.get("internal", 0) + 1
                    status, body = 500, _json_bytes({"error": "internal server error",
                                                     "field": None, "expected": None})
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _error(self, exc: RequestError, started: float, rows: list[Any] | None
               ) -> tuple[int, bytes]:
        self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
        self._log_rows(started, rows or [None], None, exc.kind)
        return exc.status, exc.body_bytes()

    def _log_rows(self, started: float, rows: list[Any], predictions: list[float] | None,
                  error: str) -> None:
        if self.log is None:
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.log.add_request(time.time(), latency_ms, rows, predictions, error)

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

    def _parse_rows(self, body: bytes) -> list[Any]:
        return parse_predict_body(body, self.options.max_rows_per_request)

    async def _predict(self, scope: dict[str, Any], receive: Callable[[], Any]
                       ) -> tuple[int, bytes]:
        started = time.perf_counter()
        self.stats.requests += 1
        rows: list[Any] | None = None
        try:
            body = await self._read_body(scope, receive)
            rows = self._parse_rows(body)
            assert self.batcher is not None
            predictions = await self.batcher.submit(rows)
        except RequestError as exc:
            return self._error(exc, started, rows)
        self.stats.rows += len(rows)
        values = predictions.tolist()
        self._log_rows(started, rows, values, "")
        if not all(map(math.isfinite, values)):  # not JSON: fails as json.dumps does
            return 200, _json_bytes({"predictions": values, "version": self.package.version,
                                     "package_sha256": self.package.sha256})
        # float repr is what json.dumps writes for a finite float: same bytes, less work
        return 200, (b'{"predictions":[' + ",".join(map(repr, values)).encode()
                     + self._predict_tail)

    async def _noop(self, scope: dict[str, Any], receive: Callable[[], Any]
                    ) -> tuple[int, bytes]:
        """The same HTTP path as /predict without the model: the harness's floor."""
        try:
            await self._read_body(scope, receive)
        except RequestError as exc:
            self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
            return exc.status, exc.body_bytes()
        return 200, b'{"predictions":[' + self._predict_tail

    def _json(self, body: dict[str, Any], status: int = 200) -> Any:
        return self._response(_json_bytes(body), status, media_type="application/json")

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
            ],
            lifespan=self.lifespan,
        )


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- running


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
