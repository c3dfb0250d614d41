"""PSI benchmark: deployready vs Evidently, same machine, same process, same data.

Run from the repository root with the bench environment (Evidently lives only there):

    DO_NOT_TRACK=1 EVIDENTLY_DISABLE_TELEMETRY=1 \
        bench/.venv/bin/python bench/drift/bench_psi.py [--rows 100000 1000000] [--runs 5]

Compared, for N reference rows vs N current rows × 20 numeric features:

- ours, stored edges: PSI of every column against a reference profile fitted beforehand
  (the daily check's path: edges come from the package);
- ours, fitting edges: fit the reference profile (quantile edges + reference counts,
  ``profile.fit_profile``) and score, i.e. everything from raw data;
- Evidently's PSI stattest, called per column (``psi_stat_test``);
- Evidently's ``Report([DataDriftPreset(method="psi")])``.

Prints the median of ``--runs`` runs of each and the ratios; ``--json`` writes them too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deployready.monitoring.drift import compute_drift  # noqa: E402
from deployready.package.profile import fit_profile  # noqa: E402
from deployready.policy import DriftPolicy  # noqa: E402

FEATURES = 20


def make_data(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = {}
    cur = {}
    for j in range(FEATURES):
        kind = j % 3
        if kind == 0:
            ref[f"f{j}"] = rng.normal(0, 1, n)
            cur[f"f{j}"] = rng.normal(0.3 if j < 6 else 0.0, 1, n)
        elif kind == 1:
            ref[f"f{j}"] = rng.lognormal(0, 0.8, n)
            cur[f"f{j}"] = rng.lognormal(0.1 if j < 6 else 0.0, 0.8, n)
        else:
            ref[f"f{j}"] = rng.gamma(2.0, 3.0, n)
            cur[f"f{j}"] = rng.gamma(2.0, 3.0, n)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def ours_stored(profile: dict[str, Any], cur: pd.DataFrame) -> dict[str, float | None]:
    return compute_drift(profile, cur, policy=DriftPolicy()).psi_by_feature()


def ours_fitted(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, float | None]:
    profile = fit_profile(ref, bins=10)
    return compute_drift(profile, cur, policy=DriftPolicy()).psi_by_feature()


def evidently_stattest(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, float]:
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    return {c: float(psi_stat_test(ref[c], cur[c], ColumnType.Numerical, 0.1).drift_score)
            for c in ref.columns}


def evidently_report(ref: pd.DataFrame, cur: pd.DataFrame) -> Any:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report([DataDriftPreset(method="psi")]).run(current_data=cur, reference_data=ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--report-runs", type=int, default=3,
                        help="runs of the (slow) Evidently report")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import evidently

    env = {"python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
           "evidently": evidently.__version__, "cpus": os.cpu_count()}
    print(json.dumps(env))
    results = []
    for n in args.rows:
        ref, cur = make_data(n, seed=n)
        profile = fit_profile(ref, bins=10)  # the package's stored profile (not timed)
        ours_stored(profile, cur)  # warm-up
        evidently_stattest(ref.iloc[:1000], cur.iloc[:1000])  # warm-up imports
        t_stored, r1, psi_ours = timed(lambda p=profile, c=cur: ours_stored(p, c), args.runs)
        t_fitted, r2, _ = timed(lambda r=ref, c=cur: ours_fitted(r, c), args.runs)
        t_stat, r3, psi_ev = timed(lambda r=ref, c=cur: evidently_stattest(r, c), args.runs)
        t_report, r4, _ = timed(lambda r=ref, c=cur: evidently_report(r, c), args.report_runs)
        row = {
            "rows": n, "features": FEATURES,
            "ours_stored_edges_s": t_stored, "ours_fitting_edges_s": t_fitted,
            "evidently_stattest_s": t_stat, "evidently_report_s": t_report,
            "report_over_ours_stored": t_report / t_stored,
            "report_over_ours_fitted": t_report / t_fitted,
            "stattest_over_ours_stored": t_stat / t_stored,
            "stattest_over_ours_fitted": t_stat / t_fitted,
            "runs": {"ours_stored": r1, "ours_fitted": r2, "stattest": r3, "report": r4},
            "psi_f0": {"ours": psi_ours["f0"], "evidently": psi_ev["f0"]},
        }
        results.append(row)
        print(f"\nN = {n:,} rows × {FEATURES} features (median of {args.runs}; "
              f"report: {args.report_runs})")
        print(f"  ours, stored edges     {t_stored:9.4f} s")
        print(f"  ours, fitting edges    {t_fitted:9.4f} s")
        print(f"  Evidently PSI stattest {t_stat:9.4f} s   {t_stat / t_stored:7.1f}× stored, "
              f"{t_stat / t_fitted:6.1f}× fitting")
        print(f"  Evidently report       {t_report:9.4f} s   {t_report / t_stored:7.1f}× stored, "
              f"{t_report / t_fitted:6.1f}× fitting")
        print(f"  PSI of f0 (shifted): ours {psi_ours['f0']:.4f} (10 reference-quantile bins), "
              f"Evidently {psi_ev['f0']:.4f} (Sturges bins over reference+current)")
    if args.json:
        args.json.write_text(json.dumps({"env": env, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
