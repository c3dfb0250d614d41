"""The load-test worker process: ``python -m deployready.loadtest.worker WORKSPACE RUN_ID``.

Runs outside the dashboard's (or the CLI's) process, so neither slows the other:

1. loads the package as production would (``load_package``: manifest verified before
   anything is unpickled) to get the holdout rows and their expected predictions;
2. for the ``serve`` target, starts ``deployready serve`` as its own subprocess on a free
   loopback port (BLAS/OpenMP threads limited to 1, prediction log to the run folder,
   watching this worker's pid so it never outlives it) and waits for ``/health``; for an
   endpoint target, asks its ``/health`` which package it serves;
3. warm-up requests (discarded), the measured phase, then a no-op phase against
   ``/noop`` with the same load: the harness's own noise floor;
4. polls the serving process's RSS (psutil, every 50 ms) throughout;
5. writes the raw samples (``run-<id>.npz``: per request latency, kind, scheduled,
   actual send and completion time, ...), the result — with the requests in flight over
   the run — and pass/fail to the store, and live progress (with the requests in flight
   now) to ``run-<id>/progress.json`` four times a second.

Cancellation: the ``cancel`` file in the run folder, or SIGTERM. The server subprocess
is always terminated (then killed) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deployready.checks import Evidence
from deployready.errors import DeployReadyError, JobError
from deployready.loadtest import runs
from deployready.loadtest.behaviour import Behaviour, check_behaviour
from deployready.loadtest.checks import judged, passed
from deployready.loadtest.config import LoadTestConfig
from deployready.loadtest.loadgen import (
    Live,
    Samples,
    get_json,
    make_session,
    payload_bodies,
    run_phase,
)
from deployready.loadtest.progress import Progress, Reporter, RssPoller, environment
from deployready.loadtest.results import LoadTestResult, PhaseSummary, run_result
from deployready.loadtest.runs import CANCEL_FILE, CONFIG_FILE, PROGRESS_FILE
from deployready.loadtest.server import (
    Cancelled,
    endpoint_pid,
    start_server,
    stop_server,
    wait_ready,
)
from deployready.loadtest.summary import consistency, phase_summary
from deployready.loadtest.targets import Target, connect
from deployready.runtime import freeze_heap
from deployready.workspace import Workspace

WARMUP_MAX_S = 60.0
NOISE_MAX_S = 60.0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (pinned, like the server's): the generator's CPU
    per request is what bounds a closed loop on a shared 2-core machine; else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _noise_summary(noise: Samples, config: LoadTestConfig,
                   arrays: dict[str, np.ndarray]) -> PhaseSummary | str:
    """The no-op phase's summary (its samples added to ``arrays``), or why it was skipped."""
    if np.count_nonzero(noise.status == 404) > config.noise_requests // 2:
        return "the endpoint has no /noop"
    arrays.update(noise.arrays("noise_"))
    return phase_summary(noise, mode=config.mode, rate=config.rate, pool=config.concurrency)


async def measure(config: LoadTestConfig, target: Target, records: list[dict[str, Any]],
                  progress: Progress, should_stop: Any, policy_seed: int = 0
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Warm-up, measured phase, no-op phase (deployready's protocol only), in the
    target's protocol. Returns (parts, arrays)."""
    timeout_s = config.timeout_ms / 1000.0
    pool = config.concurrency
    protocol, base_url = target.protocol, target.base_url
    bodies, first_rows = payload_bodies(records, config.rows_per_request, config.requests,
                                        protocol)
    session = make_session(pool, timeout_s)
    parts: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    async with session:
        if config.warmup_requests:
            # at full concurrency, so every pooled keep-alive connection is open before the
            # measured phase: connecting is not prediction latency (it was 30-50 % of the
            # first closed-loop cycle when half of the pool connected during measurement)
            warmup = max(config.warmup_requests, pool)
            progress.set_phase("warm-up", f"{warmup} requests, discarded")
            warm = await run_phase(
                session, target.predict_url, bodies, first_rows, mode="closed",
                requests=warmup, concurrency=pool, rate=config.rate, arrival=config.arrival,
                timeout_s=timeout_s, max_seconds=WARMUP_MAX_S, should_stop=should_stop,
                protocol=protocol, rows_per_body=config.rows_per_request)
            parts["warmup"] = {"requests": warmup, "ok": int(np.count_nonzero(warm.kind == 0))}
        freeze_heap()  # a full collection would stall the generator, i.e. the measurement
        if should_stop():
            raise Cancelled()
        live = Live(config.requests)
        progress.live = live
        progress.set_phase("load", f"{config.mode} loop")
        main = await run_phase(
            session, target.predict_url, bodies, first_rows, mode=config.mode,
            requests=config.requests, concurrency=pool, rate=config.rate, arrival=config.arrival,
            timeout_s=timeout_s, max_seconds=config.max_seconds, should_stop=should_stop,
            live=live, seed=config.seed, protocol=protocol, rows_per_body=config.rows_per_request)
        parts["main"] = main
        arrays.update(main.arrays("main_"))
        cancelled = should_stop()
        if protocol.name != "deployready":
            parts["noise"] = f"the {protocol.name} protocol has no no-op endpoint"
        elif config.noise_requests and not cancelled:
            progress.set_phase("noise", f"{config.noise_requests} no-op requests")
            noise = await run_phase(
                session, base_url + "/noop", bodies, first_rows, mode=config.mode,
                requests=config.noise_requests, concurrency=pool, rate=config.rate,
                arrival=config.arrival, timeout_s=timeout_s, max_seconds=NOISE_MAX_S,
                should_stop=should_stop, seed=config.seed + 1, expect_predictions=False)
            parts["noise"] = _noise_summary(noise, config, arrays)
        if cancelled:
            raise Cancelled()
        if protocol.name in ("deployready", "oip"):
            with contextlib.suppress(Exception):
                status, stats = await get_json(session, base_url + "/stats")
                if status == 200 and isinstance(stats, dict):
                    parts["server_stats"] = stats
    return parts, arrays


def _result(config: LoadTestConfig, parts: dict[str, Any], package: Any, tolerance: float, *,
            peak_rss_mb: float | None, environment: dict[str, Any],
            target: dict[str, Any], prediction_log: str | None,
            behaviour: Behaviour) -> LoadTestResult:
    """The stored result: the measured phase's summary, the consistency of its predictions,
    the other phases' parts and where and against what it ran."""
    main = parts["main"]
    noise = parts.get("noise", "not measured")
    return run_result(
        phase_summary(main, mode=config.mode, rate=config.rate, pool=config.concurrency),
        consistency=consistency(main, package.expected, tolerance),
        peak_rss_mb=peak_rss_mb,
        noise=noise if isinstance(noise, PhaseSummary) else None,
        noise_skipped=noise if isinstance(noise, str) else "not measured",
        warmup=parts.get("warmup", {"requests": 0}),
        environment=environment,
        package={"version": package.version, "sha256": package.sha256},
        target=target,
        server_stats=parts.get("server_stats"),
        config=config.as_dict(),
        prediction_log=prediction_log,
        behaviour=behaviour,
    )


def _served_identity(ws: Workspace, run_id: int, config: LoadTestConfig, package_sha: str,
                     health: dict[str, Any], base_url: str, behaviour: Behaviour) -> str:
    """The package hash the run is evidence for: the package's when the target reports
    its hash (deployready's ``/health``) or reproduces its holdout predictions. Our own
    server must serve the package; an endpoint serving another one makes the run its
    evidence instead (version and hash, or ``unverified:<url>``)."""
    served_sha = str(health.get("package_sha256") or "")
    if served_sha == package_sha or behaviour.reproduces:
        return package_sha
    if config.is_serve:
        raise JobError(f"the server reports package {served_sha[:12]}, expected "
                       f"{package_sha[:12]}")
    runs.update_identity(ws, run_id, version=str(health.get("version") or config.version),
                         package_sha256=served_sha or f"unverified:{base_url}")
    return served_sha


def _target(config: LoadTestConfig, base_url: str, package: Any, tolerance: float,
            progress: Progress, should_stop: Any) -> tuple[Target, dict[str, Any], Behaviour]:
    """The target in its protocol, ready; what it says it is; and, unless it reports the
    package's hash on ``/health``, whether it reproduces the holdout (see
    :mod:`~deployready.loadtest.behaviour`)."""
    protocol = config.protocol
    if config.is_serve and protocol == "auto":
        protocol = "deployready"
    model = config.model_name or (package.version if config.is_serve else None)
    progress.set_phase("connecting", f"{base_url} ({protocol})")
    client = connect(base_url, protocol, model=model, timeout_s=config.timeout_ms / 1000.0
                     + 5.0)
    client.wait_ready(30.0, should_stop)
    if should_stop():
        raise Cancelled()
    health = client.identity()
    if health.get("package_sha256") == package.sha256:
        return client, health, Behaviour()
    progress.set_phase("checking behaviour", f"{len(package.holdout)} holdout rows")
    return client, health, check_behaviour(client, package.request_rows(), package.expected,
                                           tolerance)


def _save(ws: Workspace, run_id: int, result: LoadTestResult, arrays: dict[str, np.ndarray],
          policy: Any, served_sha: str) -> bool:
    """The samples file, the verdict (as evidence for ``served_sha``) and the stored row;
    whether the run passed."""
    samples = runs.samples_file(ws, run_id)
    np.savez_compressed(samples, allow_pickle=False, **arrays)
    evidence = Evidence(source=runs.RUN_SOURCE.format(id=run_id), package_sha256=served_sha)
    result = judged(result, policy, evidence)
    ok = passed(result.verdict.checks if result.verdict else ())
    runs.finish(ws, run_id, status="completed", result=result, passed=ok,
                samples_path=str(samples.relative_to(ws.root)))
    return ok


def run(ws: Workspace, run_id: int, config: LoadTestConfig, folder: Path,
        should_stop: Any) -> None:
    from deployready.package.load import load_package

    policy = ws.policy()
    progress = Progress(folder / PROGRESS_FILE, run_id, config.requests)
    env = environment()
    server: subprocess.Popen[bytes] | None = None
    rss: RssPoller | None = None
    try:
        progress.set_phase("loading package", config.version)
        package = load_package(ws.package_path(config.version))
        records = package.request_rows()
        if config.is_serve:
            progress.set_phase("starting server", "deployready serve on 127.0.0.1")
            server = start_server(config, package.path, folder)
            info = wait_ready(server, folder, should_stop)
            base_url = config.base_url(str(info["url"]))
        else:
            base_url = config.base_url()
        tolerance = policy.load_test.consistency_tolerance
        client, health, behaviour = _target(config, base_url, package, tolerance, progress,
                                            should_stop)
        rss = RssPoller(server.pid if server is not None else endpoint_pid(base_url))
        reporter = Reporter(progress)
        try:
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                parts, arrays = runner.run(
                    measure(config, client, records, progress, should_stop))
        finally:
            reporter.stop()
        peak = rss.stop()
        progress.set_phase("saving")
        served_sha = _served_identity(ws, run_id, config, package.sha256, health, base_url,
                                      behaviour)
        for_package = served_sha == package.sha256
        env["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        target = {"kind": "serve" if config.is_serve else "endpoint", "url": base_url,
                  "protocol": client.protocol.name, "predict_url": client.predict_url,
                  "health": health, "evidence_for_package": for_package}
        log = str((folder / "predictions").relative_to(ws.root)) if config.is_serve else None
        result = _result(config, parts, package, tolerance, peak_rss_mb=peak,
                         environment=env, target=target, prediction_log=log,
                         behaviour=behaviour)
        ok = _save(ws, run_id, result, arrays, policy.load_test, served_sha)
        progress.set_phase("done")
        progress.write(status="completed", passed=ok)
    except Cancelled:
        if rss is not None:
            rss.stop()
        runs.finish(ws, run_id, status="cancelled", error="cancelled by the user")
        progress.write(status="cancelled")
    except Exception as exc:
        if not isinstance(exc, DeployReadyError):
            traceback.print_exc()
        message = str(exc) if isinstance(exc, DeployReadyError) else f"{type(exc).__name__}: {exc}"
        runs.finish(ws, run_id, status="failed", error=message)
        progress.write(status="failed", error=message)
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m deployready.loadtest.worker WORKSPACE RUN_ID", file=sys.stderr)
        return 2
    ws = Workspace(Path(args[0]))
    run_id = int(args[1])
    folder = runs.run_dir(ws, run_id)
    config = LoadTestConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cancel_file = folder / CANCEL_FILE
    last_check = [0.0]

    def should_stop() -> bool:
        if stop.is_set():
            return True
        now = time.monotonic()
        if now - last_check[0] > 0.1:
            last_check[0] = now
            if cancel_file.exists():
                stop.set()
        return stop.is_set()

    run(ws, run_id, config, folder, should_stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
