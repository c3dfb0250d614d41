"""Ingest throughput per profile engine: rows/s and peak RSS on a generated log set.

    python bench/ingest/bench_ingest.py make --out /tmp/deployready-bench-ingest --rows 10000000
    python bench/ingest/bench_ingest.py bench --data /tmp/deployready-bench-ingest \\
        --engines pandas duckdb spark --runs 3 --duckdb-memory 500MB \\
        --json bench/ingest/results.json

``make`` writes ``--files`` Parquet day files (two versions, 20 features: 16 numeric with
NaN, 4 categorical with unseen values and missing ones, 5 % error rows, request ids)
and the reference profile they are binned against. ``bench`` profiles every file once per
engine in a fresh subprocess (``run``), polls the RSS of that process and of its
children (Spark's JVM) every 50 ms, and checks every engine's long form equal to the
first engine's. Medians of ``--runs``; the machine's load is recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deployready.monitoring.profiles.engine import Source  # noqa: E402
from deployready.monitoring.profiles.frame import Layout, merge, normalized  # noqa: E402
from deployready.package.profile import fit_profile  # noqa: E402

NUMERIC, CATEGORICAL = 16, 4
CATEGORIES = ["a", "b", "c", "d", "e"]


def _features(rng: np.random.Generator, n: int) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for j in range(NUMERIC):
        x = rng.normal(j, 1 + j / 4, n)
        x[rng.random(n) < 0.01] = np.nan
        cols[f"x{j}"] = x
    for j in range(CATEGORICAL):
        cats = np.array([*CATEGORIES, "unseen"], dtype=object)[rng.integers(0, 6, n)]
        cats[rng.random(n) < 0.01] = None
        cols[f"c{j}"] = cats
    return cols


def make(out: Path, rows: int, files: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ref = pd.DataFrame(_features(rng, 50_000))
    ref[[f"c{j}" for j in range(CATEGORICAL)]] = ref[
        [f"c{j}" for j in range(CATEGORICAL)]].replace("unseen", "a")
    profile = fit_profile(ref, rng.random(50_000), bins=10)
    (out / "reference_profile.json").write_text(json.dumps(profile))
    per = rows // files
    for i in range(files):
        start = pd.Timestamp("2026-01-01T00:00:00Z") + pd.Timedelta(days=i)
        micros = np.sort(rng.integers(0, 86_400_000_000, per))
        error = np.where(rng.random(per) < 0.05, "timeout", "")
        pred = rng.random(per)
        table = pa.table({
            "timestamp": pa.array(start.value // 1000 + micros, pa.timestamp("us", "UTC")),
            "version": np.where(rng.random(per) < 0.5, "v1", "v2"),
            "latency_ms": rng.lognormal(2.0, 0.8, per),
            "prediction": np.where(error == "", pred, np.nan),
            "error": error,
            "request_id": np.char.add("r", np.arange(per).astype(str)),
            **_features(rng, per),
        })
        pq.write_table(table, out / f"day-{i:03d}.parquet")
        print(f"wrote {out / f'day-{i:03d}.parquet'} ({per} rows)", flush=True)


def _layouts(data: Path) -> dict[str, Layout]:
    profile = json.loads((data / "reference_profile.json").read_text())
    return {"v1": Layout("1" * 64, profile), "v2": Layout("2" * 64, profile)}


def _engine(name: str, memory: str | None) -> Any:
    if name == "duckdb":
        from deployready.monitoring.profiles.engine_duckdb import DuckEngine

        return DuckEngine(memory_limit=memory)
    if name == "spark":
        from deployready.monitoring.profiles.engine_spark import SparkEngine

        return SparkEngine("local[2]")
    try:
        from deployready.monitoring.profiles.engine import get_engine  # type: ignore[attr-defined]

        return get_engine("pandas")
    except ImportError:  # before the pandas engine: the reference computation
        return _ReferencePandas()


class _ReferencePandas:
    name = "pandas"

    def profile(self, sources: list[Source], layouts: dict[str, Layout]) -> dict[Source, Any]:
        from deployready.monitoring.logs_file import read_log_file
        from deployready.monitoring.logs_schema import read_header
        from deployready.monitoring.profiles.frame import profile_rows
        from deployready.monitoring.profiles.sources import file_features

        out = {}
        for s in sources:
            names = [n for n, _ in read_header(s.path)]
            frame = read_log_file(s.path, file_features(names, layouts))
            out[s] = profile_rows(frame, layouts)
        return out


def run(engine_name: str, data: Path, out: Path, memory: str | None) -> None:
    """One engine over every file (in this process); the merged long form to ``out``."""
    sources = [Source(p) for p in sorted(data.glob("*.parquet"))]
    layouts = _layouts(data)
    engine = _engine(engine_name, memory)
    began = time.perf_counter()
    long = merge(*engine.profile(sources, layouts).values())
    seconds = time.perf_counter() - began
    if hasattr(engine, "close"):
        engine.close()
    long.to_parquet(out)
    rows = sum(pq.ParquetFile(s.path).metadata.num_rows for s in sources)
    print(json.dumps({"seconds": seconds, "rows": rows}), flush=True)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _measure(engine: str, data: Path, out: Path, memory: str | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "run", "--engine", engine, "--data", str(data),
           "--out", str(out)] + (["--duckdb-memory", memory] if memory else [])
    began = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc, peak = psutil.Process(child.pid), 0
    deadline = time.monotonic() + 3 * 3600
    while child.poll() is None and time.monotonic() < deadline:
        peak = max(peak, _tree_rss(proc))
        time.sleep(0.05)
    if child.poll() is None:
        child.kill()
        raise RuntimeError(f"{engine}: no result in 3 h")
    stdout = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise RuntimeError(f"{engine} failed ({child.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall_seconds=time.perf_counter() - began, peak_rss_mb=peak / 2**20,
                  rows_per_second=result["rows"] / result["seconds"])
    return result


def bench(data: Path, engines: list[str], runs: int, memory: str | None) -> dict[str, Any]:
    size = sum(p.stat().st_size for p in data.glob("*.parquet"))
    report: dict[str, Any] = {
        "data": {"files": len(list(data.glob("*.parquet"))), "parquet_mb": size / 2**20},
        "duckdb_memory_limit": memory, "load_before": os.getloadavg(), "engines": {},
    }
    reference: pd.DataFrame | None = None
    for engine in engines:
        trials = []
        for i in range(runs):
            out = data.parent / f"{data.name}-long-{engine}.parquet"
            trials.append(_measure(engine, data, out, memory if engine == "duckdb" else None))
            print(engine, i, json.dumps(trials[-1]), "load", os.getloadavg(), flush=True)
            long = normalized(pd.read_parquet(out))
            if reference is None:
                reference = long
            pd.testing.assert_frame_equal(long, reference)  # every engine: the same numbers
        report["engines"][engine] = {
            "rows": trials[0]["rows"],
            "seconds_median": statistics.median(t["seconds"] for t in trials),
            "rows_per_second_median": statistics.median(t["rows_per_second"] for t in trials),
            "peak_rss_mb_median": statistics.median(t["peak_rss_mb"] for t in trials),
            "equal_to_first_engine": True,
            "trials": trials,
        }
    report["load_after"] = os.getloadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--rows", type=int, default=10_000_000)
    m.add_argument("--files", type=int, default=10)
    r = sub.add_parser("run")
    r.add_argument("--engine", required=True)
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--duckdb-memory")
    b = sub.add_parser("bench")
    b.add_argument("--data", type=Path, required=True)
    b.add_argument("--engines", nargs="+", default=["pandas", "duckdb", "spark"])
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--duckdb-memory", default="500MB")
    b.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.cmd == "make":
        make(args.out, args.rows, args.files)
    elif args.cmd == "run":
        run(args.engine, args.data, args.out, args.duckdb_memory)
    else:
        report = bench(args.data, args.engines, args.runs, args.duckdb_memory)
        text = json.dumps(report, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
