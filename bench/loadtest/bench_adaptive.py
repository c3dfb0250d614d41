"""The batching wait of ``deployready serve`` side by side: the fixed 2 ms wait
(``--fixed-wait``), no wait (``--max-wait-ms 0``) and the adaptive wait (the default),
on the demo package, through the real CLI, rounds interleaved.

    .venv/bin/python bench/loadtest/bench_adaptive.py --repeats 3

Each round runs every scenario once per variant, the variants' order rotating from round
to round so slow drifts of the machine's load hit them alike. Medians per variant, the
1-minute load average before each run, and every run go to
``bench/loadtest/results/adaptive-*.json``; the table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ab_serve import REPO, ensure_demo, head_revision, run_once

HERE = Path(__file__).resolve().parent
VARIANTS: dict[str, list[str]] = {
    "fixed 2 ms": ["--max-wait-ms", "2", "--fixed-wait"],
    "no wait (0 ms)": ["--max-wait-ms", "0"],
    "adaptive (≤ 2 ms)": ["--max-wait-ms", "2"],
}
SCENARIOS: dict[str, list[str]] = {
    "open 1000 req/s": ["--mode", "open", "--rate", "1000", "--requests", "5000",
                        "--concurrency", "100"],
    "closed 100 conn.": ["--mode", "closed", "--concurrency", "100", "--requests", "10000"],
}
KEYS = ("p50", "p99", "throughput_rps", "mean_batch_rows", "loadavg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workspace", type=Path, default=None)
    args = parser.parse_args()
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="deployready-wait-")) / "demo"
    ensure_demo(REPO, workspace)
    names = list(VARIANTS)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {v: [] for v in names} for s in SCENARIOS}
    for i in range(args.repeats):
        order = names[i % len(names):] + names[:i % len(names)]
        for scenario, extra in SCENARIOS.items():
            for variant in order:
                load = os.getloadavg()[0]
                out = run_once(REPO, workspace, [*extra, *VARIANTS[variant]])
                out["loadavg"] = load
                runs[scenario][variant].append(out)
                print(f"{scenario} | {variant} [{i + 1}/{args.repeats}]: {json.dumps(out)}",
                      file=sys.stderr)
    table = {s: {v: {k: round(statistics.median(float(r[k]) for r in rs), 3) for k in KEYS
                     if all(r.get(k) is not None for r in rs)}
                 for v, rs in by_variant.items()} for s, by_variant in runs.items()}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"adaptive-{stamp}.json").write_text(json.dumps(
        {"head": head_revision(), "cores": os.cpu_count(), "medians": table, "runs": runs},
        indent=2))
    print(f"\nmedians of {args.repeats} interleaved rounds ({head_revision()}, "
          f"{os.cpu_count()} cores)\n")
    print("| scenario | wait | P50 ms | P99 ms | req/s | mean batch rows | load avg |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for scenario, by_variant in table.items():
        for variant, m in by_variant.items():
            print(f"| {scenario} | {variant} | " + " | ".join(str(m.get(k, "")) for k in KEYS)
                  + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
