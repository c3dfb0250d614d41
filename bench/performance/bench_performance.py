"""Production performance benchmark: deployready vs NannyML, same data, same machine.

Run from the repository root (data from ``make_data.py``; NannyML only in
``bench/.venv-nannyml``, usage logging off):

    .venv/bin/python bench/performance/bench_performance.py --data /tmp/deployready-bench-perf \
        --runs 5 --all-runs 5 --json bench/performance/results.json

Each run, interleaved (ours, NannyML, ours, …), on the same Parquet files:

- **ours** — what :func:`deployready.performance.performance_report` computes, called as it
  calls it: the calibrator of the labelled holdout (isotonic + its cross-fitted error,
  ``fit_calibrator``), realized performance of every day with its intervals
  (``realized_performance``: each day's labelled rows sorted once, ROC AUC, average
  precision and KS read from that order and equal to scikit-learn's, DeLong for ROC AUC
  from the same order, CLT for Brier, logit for average precision, a 200-draw
  count-table bootstrap for ECE and KS), the CBPE estimate of every day
  (``estimated_performance``) and the estimate's error. From the frame as read (its
  columns taken, not copied): the ``day`` column is derived inside the timed part
  (``utc_days``, as the product's join derives it), and the frame checked and its days
  grouped once (``joined_days``) for both sides, as ``performance_report`` does. Timed
  twice: with the metrics NannyML also has (``--metrics``, default roc_auc and
  average_precision), and with the default policy's five certification metrics
  (roc_auc, average_precision, brier, ece, ks) — the product's own job (``--all-runs`` of
  the runs). The realized figures alone (no intervals) are timed apart too, outside the
  total: as the product computes them (one sort per day) and with the registry's
  scikit-learn functions, for reference.
- **NannyML** — ``nannyml_side.py`` in a subprocess with the bench venv's Python: CBPE
  fitted on the same reference, estimating the same metrics per day (``chunk_period="D"``),
  and ``PerformanceCalculator`` for the realized figures. Its own timings (import and
  reading the files excluded, both sides).

Reports the median of ``--runs`` runs of each, the load average around each run, the
estimate error (mean |estimated − realized| over the days) of both, and the largest
difference between the two sides' realized figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deployready.certification.metrics import compute_metrics  # noqa: E402
from deployready.performance.api import estimate_error  # noqa: E402
from deployready.performance.estimated import estimated_performance, fit_calibrator  # noqa: E402
from deployready.performance.frame import joined_days  # noqa: E402
from deployready.performance.join import utc_days  # noqa: E402
from deployready.performance.realized import realized_performance  # noqa: E402
from deployready.performance.sorted_day import day_figures, sort_day  # noqa: E402
from deployready.policy import CertificationPolicy, PerformancePolicy  # noqa: E402

NANNYML_PYTHON = ROOT / "bench" / ".venv-nannyml" / "bin" / "python"
NOW = datetime(2024, 6, 1, tzinfo=UTC)  # every day of the data final


def joined_frame(analysis: pd.DataFrame) -> pd.DataFrame:
    """The joined frame of the product (``performance.frame``) from the file's columns
    (taken as they are, not copied; the ``day`` column derived as the product's join
    derives it)."""
    return pd.DataFrame({
        "request_id": analysis["request_id"],
        "timestamp": analysis["timestamp"],
        "day": utc_days(analysis["timestamp"]),
        "prediction": analysis["score"].astype(np.float64),
        "label": analysis["label"].astype(np.float64),
        "labeled_at": analysis["timestamp"],
    }, copy=False)


def ours(reference: pd.DataFrame, analysis: pd.DataFrame, metrics: list[str]) -> dict[str, Any]:
    """One run of our side; seconds of each step and the per-day figures."""
    perf = PerformancePolicy()
    default = CertificationPolicy().metrics
    rules = {m: default[m] for m in metrics}
    t0 = time.perf_counter()
    frame = joined_frame(analysis)
    days = joined_days(frame)  # checked and grouped once, as performance_report does
    t1 = time.perf_counter()
    calibrator = fit_calibrator(reference[["score", "label"]], perf)
    estimated = estimated_performance(days, calibrator, rules)
    t2 = time.perf_counter()
    realized = realized_performance(days, rules, perf, NOW)
    errors = estimate_error(realized, estimated)
    t3 = time.perf_counter()
    return {
        **figures_only(frame, metrics),
        "frame_s": t1 - t0,
        "estimate_s": t2 - t1,
        "realized_s": t3 - t2,
        "total_s": t3 - t0,
        "calibration_error": calibrator.error,
        "reliable": calibrator.reliable,
        "estimate_error": errors,
        "estimated": {m: {e.day.isoformat(): e.values[m] for e in estimated} for m in metrics},
        "realized": {
            m: {r.day.isoformat(): r.metrics[m].value for r in realized} for m in metrics
        },
        "intervals": {
            m: {r.day.isoformat(): [r.metrics[m].low, r.metrics[m].high] for r in realized}
            for m in metrics
        },
    }


def figures_only(frame: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    """Seconds of the realized figures alone (no intervals) of every day: as the product
    computes them (one sort per day) and by the registry's scikit-learn functions — what
    NannyML's realized side calls."""
    days = [(rows["label"].to_numpy(np.int64), rows["prediction"].to_numpy())
            for _, rows in frame.groupby("day", sort=False)]
    t0 = time.perf_counter()
    for y, p in days:
        day_figures(y, p, metrics, sort_day(y, p))
    t1 = time.perf_counter()
    for y, p in days:
        compute_metrics(y, p, metrics)
    return {"realized_figures_only_s": t1 - t0, "sklearn_figures_s": time.perf_counter() - t1}


def nannyml(data: Path, metrics: list[str], python: Path) -> dict[str, Any]:
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1", DO_NOT_TRACK="1")
    out = subprocess.run(
        [str(python), str(Path(__file__).with_name("nannyml_side.py")), str(data), *metrics],
        capture_output=True, text=True, env=env, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"NannyML side failed ({out.returncode}):\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["total_s"] = result["estimate_s"] + result["realized_s"]
    return result


def mean_abs_error(
    estimated: dict[str, dict[str, float | None]], realized: dict[str, dict[str, float | None]]
) -> dict[str, float]:
    out = {}
    for m, days in realized.items():
        gaps = [abs(estimated[m][d] - v) for d, v in days.items()  # type: ignore[operator]
                if v is not None and estimated[m].get(d) is not None]
        out[m] = float(np.mean(gaps))
    return out


def largest_gap(a: dict[str, dict[str, float | None]], b: dict[str, dict[str, float]]) -> dict:
    """metric → the largest |a − b| over the days (realized figures of the two sides)."""
    out = {}
    for m, days in a.items():
        shared = [d for d in days if d in b[m]]
        out[m] = {
            "days_compared": len(shared),
            "max_abs_diff": max(abs(days[d] - b[m][d]) for d in shared),  # type: ignore[operator]
        }
    return out


def timed_runs(args: argparse.Namespace, metrics: list[str], every: list[str]) -> dict[str, list]:
    reference = pd.read_parquet(args.data / "reference.parquet")
    analysis = pd.read_parquet(args.data / "analysis.parquet")
    runs: dict[str, list] = {"ours": [], "ours_all": [], "nannyml": []}
    for i in range(args.runs):
        sides = [("ours", metrics), ("nannyml", metrics)]
        if i < args.all_runs:
            sides.insert(1, ("ours_all", every))
        for name, names in sides if i % 2 == 0 else sides[::-1]:
            load = os.getloadavg()
            if name == "nannyml":
                result = nannyml(args.data, names, args.nannyml_python)
            else:
                result = ours(reference, analysis, names)
            result["load_before"], result["load_after"] = load, os.getloadavg()
            runs[name].append(result)
            print(f"run {i + 1} {name:8s} {result['total_s']:8.2f} s "
                  f"(estimate {result['estimate_s']:.2f}, realized {result['realized_s']:.2f}) "
                  f"load {load[0]:.2f} → {result['load_after'][0]:.2f}", flush=True)
    return runs


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summary(runs: dict[str, list], metrics: list[str]) -> dict[str, Any]:
    ours_run, nml_run, all_run = runs["ours"][-1], runs["nannyml"][-1], runs["ours_all"][-1]
    out: dict[str, Any] = {}
    for side, rs in runs.items():
        out[side] = {k: median(rs, k) for k in ("estimate_s", "realized_s", "total_s")}
        if side != "nannyml":
            for key in ("realized_figures_only_s", "sklearn_figures_s"):
                out[side][key] = median(rs, key)
        out[side]["total_runs_s"] = [r["total_s"] for r in rs]
    out["speedup_total"] = out["nannyml"]["total_s"] / out["ours"]["total_s"]
    out["speedup_estimate"] = out["nannyml"]["estimate_s"] / out["ours"]["estimate_s"]
    out["speedup_realized"] = out["nannyml"]["realized_s"] / out["ours"]["realized_s"]
    out["speedup_total_vs_ours_all_metrics"] = (
        out["nannyml"]["total_s"] / out["ours_all"]["total_s"]
    )
    out["estimate_error"] = {
        "ours": mean_abs_error(ours_run["estimated"], ours_run["realized"]),
        "nannyml": mean_abs_error(nml_run["estimated"], nml_run["realized"]),
        "ours_all_metrics": mean_abs_error(all_run["estimated"], all_run["realized"]),
    }
    out["realized_agreement"] = largest_gap(ours_run["realized"], nml_run["realized"])
    out["load_range"] = [
        min(min(r["load_before"][0], r["load_after"][0]) for rs in runs.values() for r in rs),
        max(max(r["load_before"][0], r["load_after"][0]) for rs in runs.values() for r in rs),
    ]
    return out


def versions(nml_run: dict[str, Any]) -> dict[str, str]:
    import scipy
    import sklearn

    return {
        "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
        "nannyml": nml_run["version"], "pandas_nannyml_venv": nml_run["pandas"],
        "cpus": str(os.cpu_count()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/deployready-bench-perf"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--metrics", nargs="+", default=["roc_auc", "average_precision"])
    parser.add_argument("--all-runs", type=int, default=5,
                        help="runs of ours with the policy's five metrics (of --runs)")
    parser.add_argument("--nannyml-python", type=Path, default=NANNYML_PYTHON)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    every = list(CertificationPolicy().metrics)
    runs = timed_runs(args, args.metrics, every)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": json.loads((args.data / "meta.json").read_text()),
        "metrics": args.metrics, "all_metrics": every, "runs": args.runs,
        "versions": versions(runs["nannyml"][-1]),
        "summary": summary(runs, args.metrics),
        "raw": runs,
    }
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
