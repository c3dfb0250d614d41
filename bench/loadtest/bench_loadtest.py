"""Load-test benchmark: the checklist's harness vs deployready's, batching on/off.

    .venv/bin/python bench/loadtest/bench_loadtest.py --repeats 5

On the demo package (``--package demo``, the default: the demo's v1.0,
HistGradientBoosting behind imputer + StandardScaler + OneHotEncoder, 11 features; the
stall scenarios wrap that fitted model) or on a heavier bench package (``--package bench``:
GradientBoostingClassifier(n_estimators=100, max_depth=3) behind a ColumnTransformer,
12 features):

1. **Checklist harness**: ``ThreadPoolExecutor(100)`` around ``predict`` on one-row frames
   in one process, 1000 calls. Reports its percentiles and the share of each call's wall
   time spent off-CPU (waiting for the GIL), from ``time.thread_time_ns``.
2. **Stall visibility**: the same model stalls once for 500 ms. Checklist harness
   (closed loop, in-process) vs deployready's open loop at 200 req/s over HTTP, latency
   from the scheduled send time.
3. **Server**: ``deployready serve`` with and without micro-batching, closed loop
   100 concurrent × 1000 and open loop 1000 req/s × 3000, through the real job path
   (worker process, warm-up, no-op noise phase).

Every scenario runs ``--repeats`` times; medians are printed as a Markdown table and
all runs are written to ``bench/loadtest/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from bench_models import STALL_ENV, StallOnce  # noqa: E402

from deployready.loadtest import JobRegistry, LoadTestConfig  # noqa: E402
from deployready.package.export import export_package  # noqa: E402
from deployready.package.load import load_package  # noqa: E402
from deployready.workspace import Workspace  # noqa: E402

NUMERIC = [f"x{i}" for i in range(10)]
CATEGORICAL = ["region", "channel"]
FEATURES = NUMERIC + CATEGORICAL
POLICY = """
[load_test]
timeout_ms = 5000.0
max_seconds = 120.0
"""


def build_package(root: Path, wrap: bool) -> Workspace:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(7)
    n = 4000
    frame = pd.DataFrame({name: rng.normal(0, 1, n) for name in NUMERIC})
    frame["region"] = rng.choice(["north", "south", "east", "west"], n)
    frame["channel"] = rng.choice(["web", "store", "phone"], n)
    logit = frame["x0"] - 0.5 * frame["x1"] + 0.3 * frame["x2"] * frame["x3"] + 0.4 * (
        frame["channel"] == "web").astype(float)
    frame["target"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype("int64")
    scaler = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    x = scaler.fit_transform(frame[FEATURES])
    model: Any = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)
    model.fit(x, frame["target"])
    if wrap:
        model = StallOnce(model, 0.5)
    root.mkdir(parents=True, exist_ok=True)
    (root / "deployready.toml").write_text(POLICY)
    export_package(root / "models", model=model, scaler=scaler, train=frame.iloc[:3500],
                   features=FEATURES, target_column="target", holdout=frame.iloc[3500:],
                   holdout_rows=200, shap_max_rows=100, shap_time_budget_s=10.0)
    return Workspace(root)


def build_demo_packages(root: Path) -> tuple[Workspace, Workspace]:
    """The demo workspace (its v1.0), and a workspace whose v1.0 is the same fitted
    model and preprocessing wrapped in ``StallOnce``."""
    from deployready.demo.build import build_demo
    from deployready.demo.data import make_dataset

    build_demo(root / "demo", loadtest=False)
    plain = Workspace(root / "demo")
    package = load_package(plain.package_path("v1.0"))
    data = make_dataset(4000, "2026-01-01", "2026-06-30", seed=7)
    stall_root = root / "demo-stall"
    stall_root.mkdir(parents=True, exist_ok=True)
    (stall_root / "deployready.toml").write_text(POLICY)
    export_package(stall_root / "models", model=StallOnce(package.model, 0.5),
                   scaler=package.scaler, train=data.iloc[:3500], features=package.features,
                   target_column="target", holdout=data.iloc[3500:], holdout_rows=200,
                   shap_max_rows=100, shap_time_budget_s=10.0)
    return plain, Workspace(stall_root)


def pct(values_ms: np.ndarray) -> dict[str, float]:
    p = np.percentile(values_ms, [50, 95, 99])
    return {"p50": float(p[0]), "p95": float(p[1]), "p99": float(p[2]),
            "max": float(values_ms.max()), "count": int(values_ms.size)}


def checklist_harness(ws: Workspace, calls: int = 1000, stall_at: int | None = None
                      ) -> dict[str, Any]:
    """ThreadPoolExecutor(100) around predict, in-process, as the checklist does it."""
    from threadpoolctl import threadpool_limits

    package = load_package(ws.package_path("v1.0"))
    rows = [package.holdout.iloc[[i % len(package.holdout)]] for i in range(calls)]
    if stall_at is not None:
        os.environ[STALL_ENV] = str(stall_at)
    else:
        os.environ.pop(STALL_ENV, None)
    if isinstance(package.model, StallOnce):
        package.model.calls = 0
    package.predict(rows[0])  # warm-up

    def one(frame: pd.DataFrame) -> tuple[int, int]:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        package.predict(frame)
        return time.perf_counter_ns() - w0, time.thread_time_ns() - c0

    with threadpool_limits(1), ThreadPoolExecutor(100) as pool:
        out = list(pool.map(one, rows))
    os.environ.pop(STALL_ENV, None)
    wall = np.array([w for w, _ in out], dtype=np.float64)
    cpu = np.array([c for _, c in out], dtype=np.float64)
    result = pct(wall / 1e6)
    result["off_cpu_share"] = float(1.0 - cpu.sum() / wall.sum())
    result["cpu_ms_per_call"] = float(np.median(cpu) / 1e6)
    return result


def served(ws: Workspace, **overrides: Any) -> dict[str, Any]:
    overrides = {"timeout_ms": 5000.0, "max_seconds": 120.0} | overrides  # as POLICY says
    config = LoadTestConfig.from_policy("v1.0", ws.policy().load_test, **overrides)
    job, _ = JobRegistry().start(ws, config)
    snap = job.wait(600)
    if snap.status != "completed" or snap.result is None:
        raise RuntimeError(f"run {snap.run_id} {snap.status}: {snap.error}")
    r = snap.result
    lat = r["latency_ms"]
    noise = (r.get("noise") or {}).get("latency_ms") or {}
    out = {"p50": lat["p50"], "p95": lat["p95"], "p99": lat["p99"], "max": lat["max"],
           "count": lat["count"], "throughput_rps": r["throughput_rps"],
           "errors": r["requests"]["errors"], "noise_p50": noise.get("p50"),
           "noise_p99": noise.get("p99"), "peak_rss_mb": r["peak_rss_mb"],
           "mean_batch_rows": (r.get("server_stats") or {}).get("mean_batch_rows")}
    if "open_loop" in r:
        out["achieved_rps"] = r["open_loop"]["achieved_rate_rps"]
        out["late_sends"] = r["open_loop"]["late_sends"]
    return out


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) for r in runs)]
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--package", choices=("demo", "bench"), default="demo")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    tmp = Path(tempfile.mkdtemp(prefix="deployready-bench-"))
    if args.package == "demo":
        plain, stall = build_demo_packages(tmp)
    else:
        plain = build_package(tmp / "plain", wrap=False)
        stall = build_package(tmp / "stall", wrap=True)

    scenarios: dict[str, Any] = {
        "checklist harness, TPE(100) × 1000": lambda: checklist_harness(plain),
        "checklist harness, 500 ms stall": lambda: checklist_harness(stall, stall_at=500),
        "deployready open 200 req/s × 1000, 500 ms stall": lambda: served_stall(stall),
        "serve batched, closed 100 × 1000": lambda: served(plain, concurrency=100, requests=1000),
        "serve unbatched, closed 100 × 1000": lambda: served(plain, concurrency=100,
                                                             requests=1000, batching=False),
        "serve batched, open 1000 req/s × 3000": lambda: served(
            plain, mode="open", rate=1000.0, requests=3000, concurrency=100),
        "serve unbatched, open 1000 req/s × 3000": lambda: served(
            plain, mode="open", rate=1000.0, requests=3000, concurrency=100, batching=False),
    }

    def served_stall(ws: Workspace) -> dict[str, Any]:
        # server-side predict calls: 2 start-up warm-ups + ~50 warm-up requests, then
        # one call per 1-4 requests at this rate (batching): call 150 is in the measured phase
        os.environ[STALL_ENV] = "150"
        try:
            return served(ws, mode="open", rate=200.0, requests=1000, noise_requests=0)
        finally:
            os.environ.pop(STALL_ENV, None)

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    results: dict[str, Any] = {}
    for name, fn in scenarios.items():
        if only and not any(o in name for o in only):
            continue
        runs = []
        for i in range(args.repeats):
            runs.append(fn())
            print(f"{name} [{i + 1}/{args.repeats}]: {json.dumps(runs[-1])}", file=sys.stderr)
        results[name] = {"runs": runs, "median": median_of(runs)}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    env = {"cores": os.cpu_count(), "loadavg": os.getloadavg(), "python": sys.version.split()[0]}
    (out_dir / f"{stamp}.json").write_text(json.dumps({"environment": env, "results": results},
                                                      indent=2))
    print(f"\nmedians of {args.repeats} runs (ms unless noted), {env}\n")
    print("| scenario | P50 | P95 | P99 | max | req/s | noise P99 | other |")
    print("|---|---|---|---|---|---|---|---|")
    for name, data in results.items():
        m = data["median"]
        other = ", ".join(f"{k} {m[k]}" for k in ("off_cpu_share", "cpu_ms_per_call",
                                                   "mean_batch_rows", "achieved_rps",
                                                   "late_sends", "errors") if k in m)
        print(f"| {name} | {m.get('p50')} | {m.get('p95')} | {m.get('p99')} | {m.get('max')} | "
              f"{m.get('throughput_rps', '')} | {m.get('noise_p99', '')} | {other} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
