"""deployready's HTTP load generator vs Locust, against the same ``deployready serve``.

    python3 -m venv bench/.venv-locust
    bench/.venv-locust/bin/pip install locust==2.47.0
    .venv/bin/python bench/loadgen_vs_locust/bench.py --repeats 3

Two servers are started once (``deployready serve`` subprocesses on free 127.0.0.1
ports, 1 BLAS/OpenMP thread, prediction log on) and stay up for the whole session:

- **demo**: the demo workspace's ``models/v1.0`` (built with ``deployready demo
  --no-loadtest`` when ``--workspace`` has none); ``/noop`` (the HTTP path without the
  model: generator capacity) and ``/predict``.
- **stall**: the test suite's small LogisticRegression package (tests/loadtest_models.py)
  wrapped by :class:`stall_model.TriggeredStall`: one 500 ms stall of the predict thread,
  triggered from here 0.5 s into the measured phase.

Each scenario runs both generators ``--repeats`` times, interleaved (the order flips
every repeat). Both send the same pre-encoded bodies over 100 keep-alive connections:

- **ours**: ``deployready.loadtest.loadgen`` driven as the load-test worker drives it
  (ours_driver.py, its own process): closed loop with 100 clients, or open loop at a
  constant rate with latency from the scheduled send.
- **Locust** 2.47 (bench/.venv-locust only; locustfile.py): ``FastHttpUser``, headless,
  ``--users 100 --spawn-rate 100``, stats reset when spawning completes, stopped after the
  same number of measured requests; closed loop (no wait) or ``constant_throughput``
  (rate / 100 per user) for the open-loop comparison.

Measured per run: throughput, the generator process's CPU per request (psutil, measured
phase only), latency percentiles recomputed from every raw sample (µs), Locust's own
reported percentiles, the server's own view (``latency_ms`` of its prediction log:
handler start → response built, for the requests completed in the measured phase; and
its CPU per request from ``/stats``), and for the open loop each tool's sends against
its schedule. Medians are printed as Markdown and all runs go to ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

from stall_model import STALL_FILE_ENV, TriggeredStall  # noqa: E402

from deployready.loadtest.loadgen import payload_bodies  # noqa: E402

PY = REPO / ".venv" / "bin" / "python"
LOCUST = REPO / "bench" / ".venv-locust" / "bin" / "locust"
USERS = 100
STALL_AFTER_S = 0.5  # into the measured phase
STALL_MS = 500.0
SEEN_MS = 400.0  # a request at or above this saw the stall
RUN_TIMEOUT_S = 240.0
LATE_US = 1_000


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "demo" | "stall"
    path: str
    mode: str  # "closed" | "open"
    requests: int
    rate: float = 0.0
    stall: bool = False


# --------------------------------------------------------------------------- servers


class Server:
    """``deployready serve`` on a free loopback port; always stopped by ``stop()``."""

    def __init__(self, package: Path, folder: Path, stall_file: Path | None = None) -> None:
        self.package = package
        self.folder = folder
        self.stall_file = stall_file
        self.log_dir = folder / "predictions"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ready = self.folder / "server.json"
        ready.unlink(missing_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
        if self.stall_file is not None:
            env[STALL_FILE_ENV] = str(self.stall_file)
        cmd = [str(PY), "-m", "deployready", "serve", str(self.package), "--host", "127.0.0.1",
               "--port", "0", "--ready-file", str(ready), "--parent-pid", str(os.getpid()),
               "--log-dir", str(self.log_dir), "--threads", "1"]
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{(self.folder / 'server.log').read_text()[-2000:]}")
            if ready.exists():
                self.url = str(json.loads(ready.read_text())["url"])
                return
            time.sleep(0.05)
        raise RuntimeError("server not ready within 120 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10.0) as resp:
            return dict(json.loads(resp.read()))

    def logged_latencies_ms(self, t0: float, t1: float) -> np.ndarray:
        """Server-side latency of the requests it completed between t0 and t1 (wall)."""
        frames = [pd.read_csv(p, usecols=["timestamp", "latency_ms", "error"],
                              keep_default_na=False)
                  for p in sorted(self.log_dir.glob("predictions-*.csv"))]
        if not frames:
            return np.empty(0)
        log = pd.concat(frames, ignore_index=True)
        epoch = pd.Timestamp(0, tz="UTC")
        ts = (pd.to_datetime(log["timestamp"], utc=True) - epoch).dt.total_seconds()
        keep = (ts >= t0) & (ts <= t1) & (log["error"] == "")
        return log.loc[keep, "latency_ms"].to_numpy(dtype=np.float64)


@contextlib.contextmanager
def servers(specs: dict[str, Server]) -> Iterator[dict[str, Server]]:
    try:
        for server in specs.values():
            server.start()
        yield specs
    finally:
        for server in specs.values():
            server.stop()


def demo_package(workspace: Path) -> Path:
    package = workspace / "models" / "v1.0"
    if not (package / "MANIFEST.json").exists():
        subprocess.run([str(PY), "-m", "deployready", "demo", str(workspace), "--no-loadtest"],
                       check=True, cwd=REPO, timeout=600)
    return package


def stall_package(root: Path) -> Path:
    from loadtest_models import make_workspace

    ws, version = make_workspace(root, wrap=lambda model: TriggeredStall(model, STALL_MS / 1e3))
    return ws / "models" / version


def write_bodies(package: Path, count: int, out: Path) -> None:
    from deployready.package.load import load_package

    records = load_package(package).request_rows()
    bodies, _ = payload_bodies(records, 1, count)
    out.write_text(json.dumps([b.decode() for b in bodies]))


# --------------------------------------------------------------------------- runs


def _trigger_stall(started: Path, stall_file: Path, stop: threading.Event,
                  fired: list[float]) -> None:
    deadline = time.monotonic() + 120.0
    while not started.exists():
        if stop.is_set() or time.monotonic() > deadline:
            return
        time.sleep(0.002)
    if not stop.wait(STALL_AFTER_S):
        stall_file.touch()
        fired.append(time.time())


def pct(values_ms: np.ndarray) -> dict[str, float]:
    if values_ms.size == 0:
        return {}
    p = np.percentile(values_ms, [50, 95, 99, 99.9])
    return {"p50": float(p[0]), "p95": float(p[1]), "p99": float(p[2]), "p999": float(p[3]),
            "max": float(values_ms.max()), "count": int(values_ms.size),
            "seen_stall": int(np.count_nonzero(values_ms >= SEEN_MS))}


def ours_metrics(raw: dict[str, Any], sc: Scenario) -> dict[str, Any]:
    lat = np.asarray(raw["latency_us"], dtype=np.int64)
    lag = np.asarray(raw["lag_us"], dtype=np.int64)
    ok = np.asarray(raw["kind"]) == 0
    n = int(np.count_nonzero(lat >= 0))
    out: dict[str, Any] = {
        "requests": n, "errors": int(n - np.count_nonzero(ok)),
        "throughput_rps": n / raw["duration_s"] if raw["duration_s"] else 0.0,
        "cpu_us_per_req": 1e6 * raw["cpu_s"] / max(n, 1),
        "from_send": pct((lat[ok] - lag[ok]) / 1e3),  # what a closed-loop tool reports
        "from_schedule": pct(lat[ok] / 1e3),
        "t0": raw["t0"], "t1": raw["t1"],
    }
    if sc.mode == "open":
        out["late_sends"] = int(np.count_nonzero(lag > LATE_US))
        out["send_rate_rps"] = (n - 1) / raw["dispatch_s"] if raw["dispatch_s"] else 0.0
    return out


def locust_metrics(raw: dict[str, Any], sc: Scenario) -> dict[str, Any]:
    rec = raw["records"]
    user = np.asarray(rec["user"], dtype=np.int64)
    k = np.asarray(rec["k"], dtype=np.int64)
    start = np.asarray(rec["start"], dtype=np.float64)
    rt_ms = np.asarray(rec["rt_ms"], dtype=np.float64)
    ok = np.asarray(rec["ok"], dtype=bool)
    n = int(k.size)
    first = float(start.min()) if n else 0.0
    duration = float((start + rt_ms / 1e3).max() - first) if n else 0.0
    out: dict[str, Any] = {
        "requests": n, "errors": int(n - np.count_nonzero(ok)),
        "throughput_rps": n / duration if duration else 0.0,
        "cpu_us_per_req": 1e6 * raw["cpu_s"] / max(n, 1) if raw["cpu_s"] is not None else None,
        "from_send": pct(rt_ms[ok]), "reported": raw["reported"],
        "completed": raw["completed"], "t0": raw["t0"], "t1": raw["t1"],
    }
    if sc.mode == "open" and n:
        # each user's constant_throughput schedule: its first measured send + j / rate
        rate = float(raw["rate_per_user"])
        sched = np.empty(n)
        for u in np.unique(user):
            idx = np.flatnonzero(user == u)
            idx = idx[np.argsort(k[idx])]
            sched[idx] = start[idx[0]] + (k[idx] - k[idx[0]]) / rate
        lag_s = np.maximum(0.0, start - sched)
        corrected = (start + rt_ms / 1e3 - sched) * 1e3
        out["from_schedule"] = pct(corrected[ok])
        out["late_sends"] = int(np.count_nonzero(lag_s * 1e6 > LATE_US))
        span = float(start.max() - first)
        out["send_rate_rps"] = (n - 1) / span if span else 0.0
    else:
        out["from_schedule"] = out["from_send"]
    return out


def run_one(tool: str, sc: Scenario, server: Server, bodies: Path, work: Path,
            run_id: str) -> dict[str, Any]:
    out = work / f"{run_id}.json"
    started = work / f"{run_id}.started"
    for p in (out, started):
        p.unlink(missing_ok=True)
    stop = threading.Event()
    trigger: threading.Thread | None = None
    fired: list[float] = []
    if sc.stall:
        assert server.stall_file is not None
        server.stall_file.unlink(missing_ok=True)
        trigger = threading.Thread(target=_trigger_stall,
                                   args=(started, server.stall_file, stop, fired), daemon=True)
        trigger.start()
    before = server.stats()
    load = os.getloadavg()[0]
    try:
        if tool == "ours":
            cfg = {"base_url": server.url, "path": sc.path, "bodies": str(bodies),
                   "mode": sc.mode, "requests": sc.requests, "rate": sc.rate,
                   "concurrency": USERS, "timeout_s": 10.0, "max_seconds": 120.0,
                   "warmup": 200, "started": str(started), "out": str(out)}
            cfg_path = work / f"{run_id}.cfg.json"
            cfg_path.write_text(json.dumps(cfg))
            proc = subprocess.run([str(PY), str(HERE / "ours_driver.py"), str(cfg_path)],
                                  cwd=REPO, capture_output=True, timeout=RUN_TIMEOUT_S,
                                  env=dict(os.environ, PYTHONPATH=str(REPO)))
        else:
            env = dict(os.environ, LVL_PATH=sc.path, LVL_BODIES=str(bodies),
                       LVL_REQUESTS=str(sc.requests), LVL_OUT=str(out), LVL_STARTED=str(started),
                       LVL_RATE_PER_USER=str(sc.rate / USERS if sc.mode == "open" else 0.0))
            cmd = [str(LOCUST), "-f", str(HERE / "locustfile.py"), "--headless",
                   "--host", server.url, "--users", str(USERS), "--spawn-rate", str(USERS),
                   "--run-time", "120s", "--reset-stats", "--only-summary",
                   "--loglevel", "WARNING", "--stop-timeout", "0"]
            proc = subprocess.run(cmd, cwd=work, capture_output=True, timeout=RUN_TIMEOUT_S,
                                  env=env)
    finally:
        stop.set()
        if trigger is not None:
            trigger.join(5.0)
    if not out.exists():
        raise RuntimeError(f"{tool} {sc.name}: no output (rc {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    raw = json.loads(out.read_text())
    metrics = ours_metrics(raw, sc) if tool == "ours" else locust_metrics(raw, sc)
    stall_fired = None
    if sc.stall:
        assert server.stall_file is not None
        # fired during the measured phase and consumed by a predict call
        stall_fired = bool(fired) and fired[0] < raw["t1"] and not server.stall_file.exists()
        server.stall_file.unlink(missing_ok=True)
    time.sleep(1.3)  # the prediction log flushes every second
    after = server.stats()
    cpu = after["timing"]["process_cpu_s"] - before["timing"]["process_cpu_s"]
    metrics.update({
        "tool": tool, "scenario": sc.name, "loadavg_1m": load, "stall_fired": stall_fired,
        "server_cpu_us_per_req": 1e6 * cpu / max(metrics["requests"], 1),
        "server_mean_batch_rows": ((after["rows"] - before["rows"])
                                   / max(after["batches"] - before["batches"], 1)),
        "cpu_warning": b"CPU usage" in proc.stderr,
    })
    if sc.path == "/predict":
        metrics["server"] = pct(server.logged_latencies_ms(metrics["t0"], metrics["t1"] + 0.05))
    return metrics


# --------------------------------------------------------------------------- report


def med(values: list[Any]) -> float | None:
    vals = [v for v in values if isinstance(v, int | float)]
    return statistics.median(vals) if vals else None


def get(run: dict[str, Any], dotted: str) -> Any:
    value: Any = run
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


COLUMNS = [  # header, dotted key, digits
    ("req/s", "throughput_rps", 0),
    ("gen CPU µs/req", "cpu_us_per_req", 0),
    ("P50 (own)", "from_send.p50", 2),
    ("P95 (own)", "from_send.p95", 2),
    ("P99 (own)", "from_send.p99", 2),
    ("max (own)", "from_send.max", 1),
    ("≥400 ms (own)", "from_send.seen_stall", 0),
    ("P95 / P99 from schedule", "sched", 2),
    ("≥400 ms from sched.", "from_schedule.seen_stall", 0),
    ("Locust-reported P50/P99", "reported", 0),
    ("server P50 / P99", "server", 2),
    ("server ≥400 ms", "server.seen_stall", 0),
    ("server CPU µs/req", "server_cpu_us_per_req", 0),
    ("server mean batch", "server_mean_batch_rows", 1),
    ("send rate / late sends", "send", 0),
    ("stall fired", "stall", 0),
    ("load 1m", "loadavg_1m", 1),
]


def cell(runs: list[dict[str, Any]], key: str, digits: int) -> str:
    if key == "reported":
        p50 = med([get(r, "reported.p50_ms") for r in runs])
        p99 = med([get(r, "reported.p99_ms") for r in runs])
        return "—" if p50 is None else f"{fmt(p50, 0)} / {fmt(p99, 0)}"
    if key == "server":
        p50 = med([get(r, "server.p50") for r in runs])
        return "—" if p50 is None else (
            f"{fmt(p50, digits)} / {fmt(med([get(r, 'server.p99') for r in runs]), digits)}")
    if key == "sched":
        p95 = med([get(r, "from_schedule.p95") for r in runs])
        return "—" if p95 is None else (
            f"{fmt(p95, digits)} / {fmt(med([get(r, 'from_schedule.p99') for r in runs]), digits)}")
    if key == "stall":
        fired = [r["stall_fired"] for r in runs if r["stall_fired"] is not None]
        return f"{sum(fired)}/{len(fired)}" if fired else "—"
    if key == "send":
        rate = med([get(r, "send_rate_rps") for r in runs])
        return "—" if rate is None else (
            f"{fmt(rate, 0)} / {fmt(med([get(r, 'late_sends') for r in runs]), 0)}")
    return fmt(med([get(r, key) for r in runs]), digits)


def table(results: list[dict[str, Any]], scenarios: list[Scenario]) -> str:
    lines = ["| scenario | tool | " + " | ".join(c[0] for c in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    for sc in scenarios:
        for tool in ("ours", "locust"):
            runs = [r for r in results if r["scenario"] == sc.name and r["tool"] == tool]
            if runs:
                lines.append(f"| {sc.name} | {tool} | "
                             + " | ".join(cell(runs, k, d) for _, k, d in COLUMNS) + " |")
    lines += ["", "| scenario | req/s ours/locust | gen CPU/req ours/locust | "
              "P99 (own) ours/locust | P99 of the runs, ours | P99 of the runs, locust |",
              "|---|---:|---:|---:|---|---|"]
    for sc in scenarios:
        by = {tool: [r for r in results if r["scenario"] == sc.name and r["tool"] == tool]
              for tool in ("ours", "locust")}
        if not by["ours"] or not by["locust"]:
            continue

        def ratio(key: str, by: dict[str, list[dict[str, Any]]] = by) -> str:
            a = med([get(r, key) for r in by["ours"]])
            b = med([get(r, key) for r in by["locust"]])
            return "—" if not a or not b else f"{a / b:.2f}"

        spread = {t: " / ".join(fmt(get(r, "from_send.p99"), 1) for r in by[t]) for t in by}
        lines.append(f"| {sc.name} | {ratio('throughput_rps')} | {ratio('cpu_us_per_req')} | "
                     f"{ratio('from_send.p99')} | {spread['ours']} | {spread['locust']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/lvl_demo"),
                        help="demo workspace (built with `deployready demo` when missing)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--capacity-requests", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: requests/s")
    parser.add_argument("--only", default=None, help="run scenarios whose name contains this")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if not LOCUST.exists():
        print(f"Locust is not installed at {LOCUST} (see the module docstring)", file=sys.stderr)
        return 2
    if not 1 <= args.repeats <= 20:
        parser.error("--repeats must be between 1 and 20")

    scenarios = [
        Scenario("noop closed 100", "demo", "/noop", "closed", args.capacity_requests),
        Scenario("predict closed 100", "demo", "/predict", "closed", args.requests),
        Scenario(f"predict open {args.rate:g}/s", "demo", "/predict", "open", args.requests,
                 args.rate),
        Scenario("stall closed 100", "stall", "/predict", "closed", args.requests, stall=True),
        Scenario(f"stall open {args.rate:g}/s", "stall", "/predict", "open", args.requests,
                 args.rate, stall=True),
    ]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.name]
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"start: {uptime_start}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lvl-") as tmp:
        work = Path(tmp)
        demo = demo_package(args.workspace.resolve())
        stall = stall_package(work / "stall_ws")
        count = max(args.capacity_requests, args.requests)
        bodies = {"demo": work / "demo_bodies.json", "stall": work / "stall_bodies.json"}
        write_bodies(demo, count, bodies["demo"])
        write_bodies(stall, count, bodies["stall"])
        specs = {"demo": Server(demo, work / "srv-demo"),
                 "stall": Server(stall, work / "srv-stall", stall_file=work / "stall.trigger")}
        with servers(specs) as srv:
            for rep in range(args.repeats):
                order = ("ours", "locust") if rep % 2 == 0 else ("locust", "ours")
                for sc in scenarios:
                    for tool in order:
                        run_id = f"{tool}-{rep}-{len(results)}"
                        r = run_one(tool, sc, srv[sc.server], bodies[sc.server], work, run_id)
                        r["repeat"] = rep
                        results.append(r)
                        print(f"[{rep}] {sc.name:22s} {tool:6s} "
                              f"{r['throughput_rps']:7.0f} req/s  "
                              f"cpu {fmt(r['cpu_us_per_req'], 0):>5s} µs/req  "
                              f"P99 {fmt(get(r, 'from_send.p99'), 2):>8s} ms  "
                              f"sched P99 {fmt(get(r, 'from_schedule.p99'), 2):>8s}  "
                              f"load {r['loadavg_1m']:.1f}", flush=True)
    uptime_end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"end: {uptime_end}\n")
    md = table(results, scenarios)
    print(md)
    locust_version = subprocess.run([str(LOCUST), "--version"], capture_output=True,
                                    text=True).stdout.strip()
    args.json.write_text(json.dumps({
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "uptime_start": uptime_start, "uptime_end": uptime_end, "cpus": os.cpu_count(),
        "locust": locust_version, "python": sys.version.split()[0],
        "args": {k: str(v) for k, v in vars(args).items()},
        "scenarios": [vars(s) for s in scenarios], "runs": results, "table": md,
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
