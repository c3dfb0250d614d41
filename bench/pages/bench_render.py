"""Page render times of the dashboard: the demo workspace and a workspace at scale.

Workspaces (built under ``--root``, reused when present):

- ``demo``: ``deployready.demo.build.build_demo``.
- ``scale``: a copy of the demo plus (a) a certification history of 10,000 earlier
  retrain runs (rows derived from the demo's real rows: metrics, CV fold scores and
  windows, entropy perturbed; unique run ids; trained_at increasing, hourly) and (b) a
  ``v2.0`` package with 100 features (the demo's 11 plus 89 derived signals; a
  LogisticRegression certified with ``record_run`` and exported with ``export_package``),
  365 days of production logs for it (a few hundred requests a day, slow seasonal drift
  in some signals, a step change in others) in the daily files the demo already has
  (one file per UTC day, both versions' rows, union of the feature columns) and the
  daily checks backfilled with ``deployready.monitoring.daily.run_daily_range``.

Measurements:

- AppTest (server side): every page (app.py and pages/*.py) in a fresh process per
  page: ``cold`` = the first ``AppTest.from_file(page).run()`` of the process (imports,
  empty caches), then one warm-up run, then ``--runs`` runs, each a new AppTest session
  (``st.cache_data`` is shared, as on a running server); median reported.
- Preloaded cold (``--preloaded N``): every page's first render in ``N`` fresh processes
  whose imports (:data:`PRELOADED`, Streamlit's AppTest, one empty page) were done
  first, as on a server started with its imports preloaded; median reported. The
  certification history's on-disk cache (``data/cache/``) is whatever the workspace
  holds: written by the first process that evaluated the history.
- Browser (demo workspace): a fresh ``python -m dashboard.serve`` on a free loopback port, Debian
  chromium via Playwright; per page, the time from navigation start until the app is
  connected, its script is not running, no element is still loading its code (Streamlit
  shows a skeleton meanwhile) and every plotly chart has drawn its SVG (cold =
  first visit on the fresh server, then ``--browser-runs`` visits, median).

Usage (from the repository root)::

    .venv/bin/python bench/pages/bench_render.py --root /tmp/drbench --runs 5 \
        --json bench/pages/results.json --markdown bench/pages/results.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
CHROMIUM = os.environ.get("DEPLOYREADY_CHROMIUM", "/usr/bin/chromium")
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES: list[tuple[str, str, str]] = [
    # (script, label, URL path)
    ("app.py", "Overview", ""),
    ("pages/1_Certification.py", "Certification", "Certification"),
    ("pages/2_Artifacts.py", "Artifacts", "Artifacts"),
    ("pages/3_Load_Test.py", "Load Test", "Load_Test"),
    ("pages/4_Latency.py", "Latency", "Latency"),
    ("pages/5_Drift.py", "Drift", "Drift"),
    ("pages/6_Rollout.py", "Rollout", "Rollout"),
    ("pages/7_Monitoring.py", "Monitoring", "Monitoring"),
    ("pages/8_Performance.py", "Performance", "Performance"),
]
TARGETS = {"demo": 2.0, "scale": 3.0}
EMPTY_LABEL = "(AppTest overhead: empty page)"

SCALE_RUNS = 10_000
SCALE_DAYS = 365
SCALE_FEATURES = 100
ROWS_PER_DAY = 300
SCALE_VERSION = "v2.0"
SEED = 11


# =========================================================================== workspaces


def build_demo_ws(root: Path) -> Path:
    from deployready.demo.build import build_demo

    target = root / "demo"
    if (target / "models").is_dir() and (target / ".bench-complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    t0 = time.perf_counter()
    build_demo(target)
    (target / ".bench-complete").write_text(f"{time.perf_counter() - t0:.1f} s\n")
    print(f"demo workspace built in {time.perf_counter() - t0:.1f} s: {target}", flush=True)
    return target


def _shift_iso(value: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(value) + delta).isoformat()


def _synthetic_history(demo_rows: pd.DataFrame, first_time: datetime, n: int) -> pd.DataFrame:
    """``n`` earlier retrain runs, hourly, ending an hour before ``first_time``.

    Each is a real demo row (cycled) with its numbers perturbed within realistic bounds:
    metrics by a small noise (probabilities kept in [0, 1]), CV fold scores and fold
    windows moved with the run, entropy values jittered, a new dataset hash.
    """
    rng = np.random.default_rng(SEED)
    templates = demo_rows.to_dict("records")
    prob_metrics = ("roc_auc", "average_precision", "accuracy", "f1", "precision", "recall", "ks")
    rows: list[dict[str, Any]] = []
    start = first_time - timedelta(hours=n)
    for k in range(n):
        tpl = templates[k % len(templates)]
        when = start + timedelta(hours=k)
        delta = when - datetime.fromisoformat(str(tpl["trained_at"]))
        row: dict[str, Any] = dict(tpl)
        row["trained_at"] = when.isoformat()
        digest = hashlib.sha256(f"bench-run-{k}".encode()).hexdigest()
        row["run_id"] = f"run-{when:%Y%m%dT%H%M%S}-{digest[:6]}"
        row["model_version"] = ""
        for m in prob_metrics:
            row[m] = float(np.clip(float(tpl[m]) + rng.normal(0, 0.008), 0.0, 1.0))
        for m in ("brier", "ece"):
            row[m] = float(np.clip(float(tpl[m]) * rng.lognormal(0, 0.05), 0.0, 1.0))
        row["log_loss"] = float(max(0.0, float(tpl["log_loss"]) * rng.lognormal(0, 0.03)))
        scores = [
            float(np.clip(s + rng.normal(0, 0.006), 0.0, 1.0))
            for s in json.loads(str(tpl["cv_fold_scores"]))
        ]
        folds = json.loads(str(tpl["cv_folds"]))
        for fold, score in zip(folds, scores, strict=True):
            for key in ("train_start", "train_end", "test_start", "test_end"):
                fold[key] = _shift_iso(fold[key], delta)
            fold["score"] = score
        row["cv_fold_scores"] = json.dumps(scores)
        row["cv_folds"] = json.dumps(folds)
        entropy = {
            f: float(np.clip(v * (1 + rng.normal(0, 0.01)), 0.0, 1.0))
            for f, v in json.loads(str(tpl["feature_entropy"])).items()
        }
        row["feature_entropy"] = json.dumps(entropy)
        row["noise"] = float(max(0.0, float(tpl["noise"]) * rng.lognormal(0, 0.05)))
        row["dataset_sha256"] = digest
        row["notes"] = "scheduled retrain (hourly)"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(demo_rows.columns))


def _signals(base: pd.DataFrame, n_extra: int, day_index: np.ndarray | None) -> pd.DataFrame:
    """``n_extra`` numeric signals derived from the demo's numeric features plus noise.

    With ``day_index`` (days since the start of the production period), a few signals
    drift: slow seasonal drift (signals 0-4), a step change half-way (5-7), a gradual
    trend over the last quarter (8-9).
    """
    from deployready.demo.data import NUMERIC_FEATURES

    rng = np.random.default_rng(SEED + 1)
    # a fixed projection (the same for training and production)
    z = []
    for f in NUMERIC_FEATURES:
        col = base[f].astype(float)
        filled = col.fillna(col.median())
        z.append(((filled - filled.mean()) / (filled.std() or 1.0)).to_numpy())
    zmat = np.column_stack(z)
    weights = np.random.default_rng(SEED + 2).normal(0, 1, size=(zmat.shape[1], n_extra))
    noise = rng.normal(0, 1, size=(len(base), n_extra))
    values = zmat @ weights / np.sqrt(zmat.shape[1]) + noise
    kinds = np.arange(n_extra) % 3
    values[:, kinds == 1] = np.exp(values[:, kinds == 1] / 2)  # lognormal-like
    values[:, kinds == 2] = np.round(np.abs(values[:, kinds == 2]) * 10)  # counts
    if day_index is not None:
        season = np.sin(day_index / 365.0 * 2 * np.pi)
        for j in range(min(5, n_extra)):
            values[:, j] += 0.4 * season
        half = day_index >= day_index.max() / 2
        for j in range(5, min(8, n_extra)):
            values[half, j] += 0.6
        q = np.clip((day_index - 0.75 * day_index.max()) / (0.25 * day_index.max()), 0, None)
        for j in range(8, min(10, n_extra)):
            values[:, j] += 1.2 * q
    names = [f"signal_{j:03d}" for j in range(n_extra)]
    return pd.DataFrame(values, columns=names, index=base.index)


def build_scale_ws(root: Path, demo: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    from deployready.certification.history import load_history
    from deployready.certification.training import record_run
    from deployready.demo.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, make_dataset
    from deployready.demo.logs import _latency, _timestamps
    from deployready.monitoring.daily import run_daily_range
    from deployready.package.export import export_package
    from deployready.package.load import load_package
    from deployready.workspace import Workspace

    target = root / "scale"
    if (target / ".bench-complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(demo, target)
    (target / ".bench-complete").unlink(missing_ok=True)
    ws = Workspace.open(target)
    policy = ws.policy()
    t0 = time.perf_counter()

    # --------------------------------------------------- the production period
    logged = sorted(p.name for p in ws.production_dir.glob("predictions-*.csv"))
    end = date.fromisoformat(logged[-1][len("predictions-") : -len(".csv")])
    start = end - timedelta(days=SCALE_DAYS - 1)

    # --------------------------------------------------- v2.0: 100 features, certified
    base_features = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    n_extra = SCALE_FEATURES - len(base_features)
    train_end = start - timedelta(days=3)
    data = make_dataset(
        30_000,
        (train_end - timedelta(days=300)).isoformat(),
        train_end.isoformat(),
        seed=SEED,
    )
    data = pd.concat([data, _signals(data, n_extra, None)], axis=1)
    features = [*base_features, *[f"signal_{j:03d}" for j in range(n_extra)]]
    scratch = target / ".bench-scratch"
    scratch.mkdir(exist_ok=True)
    trained_at = datetime.combine(train_end, datetime.min.time(), tzinfo=UTC) + timedelta(
        days=1, hours=6
    )
    result = record_run(
        scratch / "history.csv",
        LogisticRegression(max_iter=300),
        data,
        target="target",
        time_column="event_time",
        features=features,
        policy=policy,
        trained_at=trained_at.isoformat(),
        model_version=SCALE_VERSION,
        notes="100-feature model (89 derived signals); released as v2.0",
    )
    info = export_package(
        ws,
        model=result.model,
        scaler=result.scaler,
        train=result.train,
        features=result.features,
        target_column="target",
        holdout=result.test[[*result.features, "target"]],
        run_id=result.run_id,
        metrics={k: float(result.row[k]) for k in policy.certification.metrics},
        description="Card-fraud risk model with 100 features (89 derived signals).",
        created_at=(trained_at + timedelta(hours=6)).isoformat(),
        shap_max_rows=200,
        shap_time_budget_s=10.0,
    )
    assert info.version == SCALE_VERSION, info.version
    print(f"  exported {info.version} ({len(features)} features) "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    # --------------------------------------------------- 10,000 earlier retrain runs
    history_path = ws.certification_dir / "history.csv"
    demo_raw = pd.read_csv(history_path, dtype=str, keep_default_na=False)
    v2_raw = pd.read_csv(scratch / "history.csv", dtype=str, keep_default_na=False)
    earliest = min(
        datetime.fromisoformat(t) for t in [*demo_raw["trained_at"], *v2_raw["trained_at"]]
    )
    synthetic = _synthetic_history(demo_raw, earliest, SCALE_RUNS)
    merged = pd.concat([synthetic.astype(str), demo_raw, v2_raw[demo_raw.columns]],
                       ignore_index=True)
    order = np.argsort([datetime.fromisoformat(t).timestamp() for t in merged["trained_at"]],
                       kind="stable")
    merged = merged.iloc[order]
    merged.to_csv(history_path, index=False)
    check = load_history(history_path, policy)  # the product's strict loader accepts it
    print(f"  history: {len(check)} runs ({time.perf_counter() - t0:.1f} s)", flush=True)

    # --------------------------------------------------- 365 days of v2.0 production logs
    loaded = load_package(info.path)
    n_rows = SCALE_DAYS * ROWS_PER_DAY
    prod = make_dataset(
        n_rows,
        start.isoformat(),
        (end + timedelta(days=1)).isoformat(),
        seed=SEED + 5,
        drift={"amount": 0.3, "channel": 0.2},
        drift_start=(end - timedelta(days=60)).isoformat(),
    )
    event_day = pd.to_datetime(prod["event_time"], utc=True).dt.date.to_numpy()
    day_index = np.array([(d - start).days for d in event_day], dtype=float)
    prod = pd.concat([prod, _signals(prod, n_extra, day_index)], axis=1)
    predictions = np.asarray(loaded.predict(prod[features]), dtype=np.float64)
    rng = np.random.default_rng(SEED + 6)
    spike_days = {start + timedelta(days=int(d)) for d in rng.choice(SCALE_DAYS, 6, replace=False)}
    columns = ["timestamp", "version", "latency_ms", "prediction", "error", *features]
    day = start
    while day <= end:
        idx = np.flatnonzero(event_day == day)
        if idx.size:
            ts = _timestamps(rng, day, idx.size)
            failed = rng.random(idx.size) < 0.004
            pred = predictions[idx].copy()
            pred[failed] = np.nan
            frame = prod.loc[idx, features].reset_index(drop=True).astype(object)
            for i in np.flatnonzero(failed):
                frame.loc[i, features[int(rng.integers(len(NUMERIC_FEATURES)))]] = None
            log = pd.DataFrame(
                {
                    "timestamp": pd.to_datetime(ts, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "version": SCALE_VERSION,
                    "latency_ms": _latency(rng, ts, day in spike_days),
                    "prediction": pred,
                    "error": np.where(failed, "validation", ""),
                }
            )
            log = pd.concat([log, frame], axis=1)
            path = ws.production_dir / f"predictions-{day.isoformat()}.csv"
            if path.exists():  # the demo's v1.0 rows of that day: one file, both versions
                old = pd.read_csv(path, dtype=str, keep_default_na=False)
                log = pd.concat([old, log.astype(object)], ignore_index=True)
                log = log.sort_values("timestamp", kind="stable")
            log.reindex(columns=columns).to_csv(path, index=False)
        day += timedelta(days=1)
    print(f"  logs: {n_rows} rows over {SCALE_DAYS} days ({time.perf_counter() - t0:.1f} s)",
          flush=True)

    # --------------------------------------------------- daily checks backfilled
    records = run_daily_range(ws, version=SCALE_VERSION, policy=policy, deliver=False)
    print(f"  daily checks: {len(records)} days ({time.perf_counter() - t0:.1f} s)", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    (target / ".bench-complete").write_text(f"{time.perf_counter() - t0:.1f} s\n")
    print(f"scale workspace built in {time.perf_counter() - t0:.1f} s: {target}", flush=True)
    return target


# =========================================================================== AppTest


def apptest_worker(workspace: str, script: str, runs: int, deployed: str | None) -> dict[str, Any]:
    """One page in this (fresh) process: cold run, warm-up, ``runs`` timed runs."""
    os.environ["DEPLOYREADY_WORKSPACE"] = workspace
    os.chdir(REPO)
    from streamlit.testing.v1 import AppTest

    def once() -> tuple[float, dict[str, list[str]]]:
        at = AppTest.from_file(str(REPO / script), default_timeout=600)
        if deployed:
            at.session_state["deployready_deployed_version"] = deployed
        t = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t
        shown = {
            "exceptions": [str(e.value)[:200] for e in at.exception],
            "errors_shown": [str(e.value)[:200] for e in at.error],  # st.error, e.g. a spike
            "charts": [str(len(at.get("plotly_chart")) + sum(
                '"figure"' in el.proto.json for el in at.get("bidi_component")))],
        }
        return elapsed, shown

    cold, shown = once()
    once()  # warm-up
    times = [once()[0] for _ in range(runs)]
    return {
        "cold_s": cold,
        "runs_s": times,
        "median_s": statistics.median(times),
        **shown,
    }


#: what a warm server launcher imports before the first page (``preloaded`` column)
PRELOADED = ("deployready.certification.checks", "deployready.score", "pandas", "sklearn",
             "plotly.graph_objects")


def preloaded_worker(workspace: str, script: str, deployed: str | None) -> dict[str, Any]:
    """The first render of ``script`` in a fresh process whose imports were done first (as
    a server started with them preloaded): the modules above, Streamlit's AppTest and one
    run of an empty page; the page's own script run is what is timed."""
    import importlib

    os.environ["DEPLOYREADY_WORKSPACE"] = workspace
    os.chdir(REPO)
    for name in PRELOADED:
        importlib.import_module(name)
    from streamlit.testing.v1 import AppTest

    empty = Path(workspace).parent / "empty_page.py"
    empty.write_text('import streamlit as st\n\nst.write("")\n')
    AppTest.from_file(str(empty), default_timeout=600).run()
    at = AppTest.from_file(str(REPO / script), default_timeout=600)
    if deployed:
        at.session_state["deployready_deployed_version"] = deployed
    t = time.perf_counter()
    at.run()
    return {"preloaded_cold_s": time.perf_counter() - t,
            "exceptions": [str(e.value)[:200] for e in at.exception]}


def _fresh_process(label: str, *args: str) -> dict[str, Any]:
    """This script run with ``args`` in a new process: the JSON its last line prints."""
    cmd = [sys.executable, __file__, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_preloaded(workspace: Path, processes: int, deployed: str | None) -> dict[str, Any]:
    """``preloaded_worker`` in ``processes`` fresh processes per page; the median."""
    out: dict[str, Any] = {}
    for script, label, _ in PAGES:
        samples = []
        for _ in range(processes):
            result = _fresh_process(label, "_preloaded", str(workspace), script,
                                    *([deployed] if deployed else []))
            if result["exceptions"]:
                raise RuntimeError(f"{label}: {result['exceptions']}")
            samples.append(result["preloaded_cold_s"])
        out[label] = {"samples_s": samples, "median_s": statistics.median(samples),
                      "loadavg": os.getloadavg()}
        print(f"  {workspace.name:6} {label:14} preloaded cold median "
              f"{out[label]['median_s']:6.2f} s  {[round(x, 2) for x in samples]}", flush=True)
    return out


def run_apptest(workspace: Path, runs: int, deployed: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # the harness's own cost: an AppTest run of a one-line page
    empty = workspace.parent / "empty_page.py"
    empty.write_text('import streamlit as st\n\nst.write("")\n')
    for script, label, _ in [*PAGES, (str(empty), EMPTY_LABEL, "")]:
        result = _fresh_process(label, "_apptest", str(workspace), script, str(runs),
                                *([deployed] if deployed else []))
        out[label] = result
        print(
            f"  {workspace.name:6} {label:14} cold {result['cold_s']:6.2f} s  "
            f"median {result['median_s']:6.3f} s  exceptions {result['exceptions'][:1]}",
            flush=True,
        )
    return out


# =========================================================================== warm launcher

#: the pages measured in warm-launched processes (the monitoring pages)
WARM_PAGES = ["app.py", "pages/1_Certification.py", "pages/2_Artifacts.py",
              "pages/3_Load_Test.py", "pages/4_Latency.py", "pages/5_Drift.py",
              "pages/6_Rollout.py", "pages/7_Monitoring.py", "pages/8_Performance.py"]


def _new_day_file(workspace: Path) -> Path:
    """A copy of the newest daily log file one day later (the next day's traffic)."""
    production = workspace / "data" / "production"
    newest = sorted(production.glob("predictions-*.csv"))[-1]
    rows = pd.read_csv(newest, dtype=str, keep_default_na=False)
    ts = pd.to_datetime(rows["timestamp"], utc=True, format="ISO8601") + pd.Timedelta(days=1)
    rows["timestamp"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    day = ts.iloc[0].date().isoformat()
    target = production / f"predictions-{day}.csv"
    rows.to_csv(target, index=False)
    return target


def _no_settle() -> float:
    """The warm-up without :func:`dashboard.serve.settle_heap` (to measure what it buys)."""
    from dashboard.serve import warm_figures, warm_imports, warm_stack_inspection

    t0 = time.perf_counter()
    warm_imports()
    warm_figures()
    warm_stack_inspection()
    return time.perf_counter() - t0


def _discovered_components() -> Any:
    """Streamlit's component registry, discovered once, as a server does when it starts
    (``Runtime.__init__``), not per page view. A new ``AppTest`` scans the metadata of every
    installed distribution on its first run (0.3-0.4 s here), a cost no page view in a
    running server pays. ``BENCH_PER_RUN_DISCOVERY=1`` measures the harness's default."""
    if os.environ.get("BENCH_PER_RUN_DISCOVERY") is not None:
        return None
    from streamlit.components.v2.component_manager import BidiComponentManager

    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)
    return components


def warm_worker(workspace: str, script: str, runs: int, deployed: str | None) -> dict[str, Any]:
    """One page in a fresh process started as ``python -m dashboard.serve`` starts the
    server (its warm-up, timed apart): cold run, warm-up, ``runs`` timed runs, then one
    run after a new day file is added to the logs (the page's own refresh ingests it);
    the file is then removed and the caches brought back, untimed."""
    os.environ["DEPLOYREADY_WORKSPACE"] = workspace
    os.chdir(REPO)
    from dashboard.serve import warm_up

    launch_s = warm_up() if os.environ.get("BENCH_NO_SETTLE") is None else _no_settle()
    t0 = time.perf_counter()
    components = _discovered_components()
    launch_s += time.perf_counter() - t0
    from streamlit.testing.v1 import AppTest

    def once() -> tuple[float, list[str]]:
        at = AppTest.from_file(str(REPO / script), default_timeout=600)
        if components is not None:
            at._bidi_component_manager = components
        if deployed:
            at.session_state["deployready_deployed_version"] = deployed
        t = time.perf_counter()
        at.run()
        return time.perf_counter() - t, [str(e.value)[:200] for e in at.exception]

    cold, exceptions = once()
    once()
    times = [once()[0] for _ in range(runs)]
    added = _new_day_file(Path(workspace))
    try:
        after, after_exc = once()
    finally:
        added.unlink()
        from deployready.monitoring.profiles.ingest import ingest_if_changed
        from deployready.workspace import Workspace

        ingest_if_changed(Workspace.open(workspace))
        once()  # the kept caches as they were
    return {"launch_s": launch_s, "cold_s": cold, "runs_s": times,
            "median_s": statistics.median(times), "after_day_s": after,
            "exceptions": exceptions + after_exc}


def run_warm(workspace: Path, runs: int, processes: int, deployed: str | None) -> dict[str, Any]:
    """Per page, ``processes`` fresh warm-launched processes (:func:`warm_worker`);
    medians over the processes."""
    out: dict[str, Any] = {}
    # the harness's own cost, measured the same way: a one-line page
    empty = workspace.parent / "empty_page.py"
    empty.write_text('import streamlit as st\n\nst.write("")\n')
    labelled = [(s, next(lab for p, lab, _ in PAGES if p == s)) for s in WARM_PAGES]
    for script, label in [*labelled, (str(empty), EMPTY_LABEL)]:
        samples = []
        for _ in range(processes):
            cmd = [sys.executable, __file__, "_warm", str(workspace), script, str(runs)]
            cmd += [deployed] if deployed else []
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"{label}: {proc.stderr[-3000:]}")
            samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        out[label] = {key: statistics.median(s[key] for s in samples)
                      for key in ("launch_s", "cold_s", "median_s", "after_day_s")}
        out[label]["processes"] = samples
        out[label]["loadavg"] = os.getloadavg()[0]
        print(f"  warm {label:12} cold {out[label]['cold_s']:6.2f} s  median "
              f"{out[label]['median_s']:6.3f} s  after a new day {out[label]['after_day_s']:6.2f} s"
              f"  (load {out[label]['loadavg']:.1f})", flush=True)
    return out


def markdown_warm(results: dict[str, Any]) -> str:
    warm = results.get("warm", {})
    browser = results.get("browser", {}).get("demo", {})
    lines = [
        "| page | scale cold (fresh warm-launched process) | scale warm median "
        "| scale after a new day file | demo browser cold | demo browser median "
        "| load avg | < 2 s cold, < 1 s after a day, < 2 s browser |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    labels = [next(lab for s, lab, _ in PAGES if s == script) for script in WARM_PAGES]
    for label in [*labels, EMPTY_LABEL, FLOOR_LABEL, FLOOR_CHART_LABEL, FLOOR_ELEMENT_LABEL]:
        w, b = warm.get(label, {}), browser.get(label, {})
        if not w and not b:
            continue
        ok = [v < t for v, t in ((w.get("cold_s"), 2.0), (w.get("after_day_s"), 1.0),
                                 (b.get("cold_s"), 2.0)) if v is not None]
        mark = "" if label.startswith("(") else "✅" if ok and all(ok) else "❌"
        lines.append(
            f"| {label} | {_fmt(w.get('cold_s'))} s | {_fmt(w.get('median_s'))} s "
            f"| {_fmt(w.get('after_day_s'))} s | {_fmt(b.get('cold_s'))} s "
            f"| {_fmt(b.get('median_s'))} s | {_fmt(w.get('loadavg'))} "
            f"| {mark} |")
    return "\n".join(lines) + "\n"


# =========================================================================== under load


def run_under_load(root: Path, demo: Path, runs: int, rate: int, seconds: int) -> dict[str, Any]:
    """AppTest medians idle, then while ``deployready loadtest`` (open loop) runs on the
    same workspace (a copy of the demo, so the demo stays untouched)."""
    from deployready.loadtest.server import stop_server

    target = root / "demo-load"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(demo, target)
    print("  idle:", flush=True)
    idle = run_apptest(target, runs, None)
    cmd = [
        sys.executable, "-m", "deployready", "loadtest", "--workspace", str(target),
        "--mode", "open", "--rate", str(rate), "--requests", str(rate * seconds),
        "--max-seconds", str(seconds + 60), "--json",
    ]  # fmt: skip
    log = open(root / "loadtest-bench.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(8)  # package loaded, server warm, load flowing
        print(f"  under load (open loop, {rate} req/s):", flush=True)
        loaded = run_apptest(target, runs, None)
        still_running = proc.poll() is None
    finally:
        stop_server(proc)
        log.close()
    ratios = {
        label: loaded[label]["median_s"] / idle[label]["median_s"]
        for label in idle
        if label != EMPTY_LABEL
    }
    return {
        "rate": rate,
        "seconds": seconds,
        "load_test_ran_throughout": still_running,
        "idle": idle,
        "under_load": loaded,
        "ratio": ratios,
    }


# =========================================================================== browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (!document.querySelector('[data-testid="stMainBlockContainer"] h1')) return false;
  // an element whose code is still loading shows a skeleton (charts, tables are lazy)
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]'))
    return false;
  // a chart element's frame (.stBidiComponent) is in the page before its script draws
  // into it: wait for every one in the main area, not only those already started
  const charts = document.querySelectorAll(
    '[data-testid="stPlotlyChart"], [data-testid="stMain"] .stBidiComponent');
  for (const c of charts) { if (!c.querySelector('.main-svg')) return false; }
  return performance.now();
}"""


FLOOR_LABEL = "(Streamlit floor: a page with only a title)"
FLOOR_CHART_LABEL = "(Streamlit floor: a title, one plotly chart, one table)"
FLOOR_ELEMENT_LABEL = "(the same, the chart drawn by the dashboard's chart element)"
FLOOR_PAGE = """import sys

import streamlit as st

sys.path.insert(0, {repo!r})
st.set_page_config(layout="wide")
st.title("deployready")
if st.query_params.get("with") in ("chart", "element"):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 3, 2]))
    if st.query_params.get("with") == "chart":
        st.plotly_chart(fig)
    else:
        from dashboard import ui

        ui.chart(fig)
    st.dataframe({{"a": [1, 2, 3]}})
"""


def write_floor_page(root: Path) -> Path:
    """:data:`FLOOR_PAGE` as ``root/floor_page.py``, with the dashboard's ``static/`` beside
    it (static serving looks beside the main script)."""
    floor = root / "floor_page.py"
    floor.write_text(FLOOR_PAGE.format(repo=str(REPO)))
    static = root / "static"
    if not static.exists():
        static.symlink_to(REPO / "static", target_is_directory=True)
    return floor


def run_browser_floor(root: Path, runs: int) -> dict[str, Any]:
    """The same measurement on one-file Streamlit pages served by plain ``streamlit
    run``: what any Streamlit page costs this browser on this machine (the bundle's
    download and parse, the connection, one script run), and what the chart and table
    code (loaded on a page's first chart or table) adds to it."""
    floor = write_floor_page(root)
    pages = [(str(floor), FLOOR_LABEL, ""), (str(floor), FLOOR_CHART_LABEL, "?with=chart"),
             (str(floor), FLOOR_ELEMENT_LABEL, "?with=element")]
    return run_browser(root / "demo", runs, app=floor, pages=pages)


def start_streamlit(start: list[str], workspace: Path, log: Path, *, tree: Path = REPO,
                    python: str = sys.executable) -> tuple[subprocess.Popen[bytes], str]:
    """``python START…`` (the warm launcher or ``streamlit run``) in checkout ``tree`` on a
    free loopback port with ``workspace`` as the dashboard's, output to ``log``; returns
    once it is healthy, with its URL."""
    port = _free_port()
    env = {**os.environ, "DEPLOYREADY_WORKSPACE": str(workspace), "DO_NOT_TRACK": "1"}
    cmd = [
        python, *start,
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.status == 200:
                    return server, url
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError(f"streamlit did not start; see {log}") from None
            time.sleep(0.25)


@contextmanager
def serving_browser(start: list[str], workspace: Path, log: Path
                    ) -> Iterator[tuple[subprocess.Popen[bytes], str, Browser]]:
    """A server (:func:`start_streamlit`) and Debian chromium driven by Playwright for the
    ``with`` block: ``(server, url, browser)``; both stopped after it."""
    from playwright.sync_api import sync_playwright

    from deployready.loadtest.server import stop_server

    server, url = start_streamlit(start, workspace, log)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_FLAGS)
            try:
                yield server, url, browser
            finally:
                browser.close()
    finally:
        stop_server(server)


@contextmanager
def cold_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (a cold cache) at the bench's viewport, closed
    after the ``with`` block."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def run_browser(workspace: Path, runs: int, *, app: Path | None = None,
                pages: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """Every page (``pages``, default :data:`PAGES`) of a fresh server — the warm launcher,
    or ``streamlit run APP`` — in a fresh browser context per visit (a cold cache)."""
    start = ["-m", "dashboard.serve"] if app is None else ["-m", "streamlit", "run", str(app)]
    out: dict[str, Any] = {}
    outside: list[str] = []
    with serving_browser(start, workspace, workspace.parent / "streamlit-bench.log"
                         ) as (_, url, browser):
        for _, label, path in PAGES if pages is None else pages:
            samples: list[float] = []
            for _i in range(runs + 1):  # first visit: cold (fresh server / session)
                with cold_page(browser) as page:
                    page.on("request", lambda r: outside.append(r.url)
                            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                            else None)
                    page.goto(f"{url}/{path}", wait_until="commit")
                    now = page.wait_for_function(IDLE_JS, timeout=120_000, polling=50)
                    samples.append(float(now.json_value()) / 1000.0)
            out[label] = {
                "cold_s": samples[0],
                "runs_s": samples[1:],
                "median_s": statistics.median(samples[1:]),
            }
            print(f"  browser {label:14} cold {samples[0]:6.2f} s  "
                  f"median {out[label]['median_s']:6.3f} s", flush=True)
    if outside:
        print(f"  requests outside loopback: {sorted(set(outside))[:5]}", flush=True)
    return out


# =========================================================================== report


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def markdown(results: dict[str, Any]) -> str:
    apptest = results["apptest"]
    browser = results.get("browser", {}).get("demo", {})
    lines = [
        "| page | demo AppTest median | demo cold | demo browser median | demo browser cold "
        "| scale AppTest median | scale cold | demo preloaded cold | scale preloaded cold "
        "| < 2 s demo, < 3 s scale (medians) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, label, _ in [*PAGES, ("", EMPTY_LABEL, "")]:
        d = apptest.get("demo", {}).get(label, {})
        s = apptest.get("scale", {}).get(label, {})
        b = browser.get(label, {})
        pre = results.get("preloaded", {})
        pd_, ps = pre.get("demo", {}).get(label, {}), pre.get("scale", {}).get(label, {})
        ok = []
        for v, t in ((d.get("median_s"), 2.0), (b.get("median_s"), 2.0),
                     (s.get("median_s"), 3.0)):
            if v is not None:
                ok.append(v < t)
        mark = "" if label == EMPTY_LABEL else "✅" if ok and all(ok) else "❌"
        lines.append(
            f"| {label} | {_fmt(d.get('median_s'))} s | {_fmt(d.get('cold_s'))} s "
            f"| {_fmt(b.get('median_s'))} s | {_fmt(b.get('cold_s'))} s "
            f"| {_fmt(s.get('median_s'))} s | {_fmt(s.get('cold_s'))} s "
            f"| {_fmt(pd_.get('median_s'))} s | {_fmt(ps.get('median_s'))} s | {mark} |"
        )
    return "\n".join(lines) + "\n"


def environment() -> dict[str, Any]:
    import streamlit

    return {
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "machine": platform.machine(),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _scratch_copy(scale: Path, scratch: Path) -> Path:
    """A copy of the scale workspace to add a day file to: files hard-linked, except the
    databases (written in place by SQLite) and the cache folder, copied."""
    target = scratch / "scale"
    if not target.exists():
        shutil.copytree(scale, target, copy_function=os.link)
        for db in [*(target / "data").glob("*.db*"), *target.glob(".deployready-cache/*")]:
            db.unlink()
            shutil.copyfile(scale / db.relative_to(target), db)
    return target


def _main_warm(args: argparse.Namespace, spaces: dict[str, Path], results: dict[str, Any]
               ) -> int:
    if not args.browser_only:
        scale = _scratch_copy(spaces["scale"], args.warm)
        results["warm"] = run_warm(scale, args.runs, args.warm_processes, SCALE_VERSION)
    if not args.no_browser and Path(CHROMIUM).exists():
        results["browser"]["demo"] = run_browser(spaces["demo"], args.browser_runs)
        results["browser"]["demo"].update(run_browser_floor(args.root, args.browser_runs))
    results["environment"]["loadavg_end"] = os.getloadavg()
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown_warm(results)
    args.markdown.write_text(table)
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_warm":
        print(json.dumps(warm_worker(argv[1], argv[2], int(argv[3]),
                                     argv[4] if len(argv) > 4 else None)))
        return 0
    if argv and argv[0] == "_preloaded":
        print(json.dumps(preloaded_worker(argv[1], argv[2], argv[3] if len(argv) > 3 else None)))
        return 0
    if argv and argv[0] == "_apptest":
        ws, script, runs = argv[1], argv[2], int(argv[3])
        deployed = argv[4] if len(argv) > 4 else None
        print(json.dumps(apptest_worker(ws, script, runs, deployed)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    ap.add_argument("--runs", type=int, default=5, help="timed AppTest runs per page")
    ap.add_argument("--browser-runs", type=int, default=5)
    ap.add_argument("--workspaces", nargs="+", default=["demo", "scale"])
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--browser-only", action="store_true",
                    help="only the demo's pages and the Streamlit floor pages in the browser")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--preloaded", type=int, default=3, metavar="N",
                    help="fresh processes per page for the 'preloaded cold' column (0: skip)")
    ap.add_argument("--pages", nargs="+", help="only these pages (labels), e.g. Overview")
    ap.add_argument("--under-load", action="store_true",
                    help="also measure the demo's pages while 'deployready loadtest' runs")
    ap.add_argument("--load-rate", type=int, default=300, help="open-loop requests per second")
    ap.add_argument("--load-seconds", type=int, default=150)
    ap.add_argument("--warm", type=Path, default=None, metavar="SCRATCH",
                    help="only the monitoring pages in warm-launched processes, on a copy "
                    "of the scale workspace made in SCRATCH (logs hard-linked), and the demo "
                    "in the browser; tables to --markdown")
    ap.add_argument("--warm-processes", type=int, default=3)
    ap.add_argument("--json", type=Path, default=REPO / "bench/pages/results.json")
    ap.add_argument("--markdown", type=Path, default=REPO / "bench/pages/results.md")
    args = ap.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    demo = build_demo_ws(args.root)
    spaces = {"demo": demo}
    if "scale" in args.workspaces:
        spaces["scale"] = build_scale_ws(args.root, demo)
    if args.build_only:
        return 0
    results: dict[str, Any] = {"environment": environment(), "apptest": {}, "browser": {},
                               "settings": {"runs": args.runs, "browser_runs": args.browser_runs,
                                            "scale_runs": SCALE_RUNS, "scale_days": SCALE_DAYS,
                                            "scale_features": SCALE_FEATURES,
                                            "rows_per_day": ROWS_PER_DAY,
                                            "scale_version": SCALE_VERSION}}
    if args.pages:
        PAGES[:] = [p for p in PAGES if p[1] in args.pages]
        WARM_PAGES[:] = [s for s in WARM_PAGES if any(s == p[0] for p in PAGES)]
    if args.warm is not None or args.browser_only:
        return _main_warm(args, spaces, results)
    results["preloaded"] = {}
    for name in args.workspaces:
        # at scale the monitoring pages look at the 100-feature model's 365 days
        deployed = SCALE_VERSION if name == "scale" else None
        if args.preloaded:
            results["preloaded"][name] = run_preloaded(spaces[name], args.preloaded, deployed)
        if args.runs:
            results["apptest"][name] = run_apptest(spaces[name], args.runs, deployed)
    if args.under_load:
        results["under_load"] = run_under_load(
            args.root, demo, args.runs, args.load_rate, args.load_seconds
        )
    if not args.no_browser and Path(CHROMIUM).exists():
        results["browser"]["demo"] = run_browser(demo, args.browser_runs)
    results["environment"]["loadavg_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    if "under_load" in results:
        ul = results["under_load"]
        table += (
            f"\nWhile `deployready loadtest` runs (open loop, {ul['rate']} req/s; ran "
            f"throughout: {ul['load_test_ran_throughout']}), demo workspace, AppTest medians:\n\n"
            "| page | idle | under load | ratio (target ≤ 1.5×) |\n|---|---:|---:|---:|\n"
        )
        for label, ratio in ul["ratio"].items():
            table += (
                f"| {label} | {ul['idle'][label]['median_s']:.2f} s "
                f"| {ul['under_load'][label]['median_s']:.2f} s | {ratio:.2f}× |\n"
            )
    args.markdown.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
