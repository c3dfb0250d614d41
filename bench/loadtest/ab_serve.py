"""Serving path A/B: this checkout vs an earlier revision, interleaved, on the demo package.

    .venv/bin/python bench/loadtest/ab_serve.py --baseline ed4435f --repeats 5

The baseline's source is extracted with ``git archive`` into a temporary folder (no
worktree, nothing in ``.git`` changes) and each side runs the real CLI
(``python -m deployready loadtest -w WS --version v1.0 --json``) with its own tree first on
``PYTHONPATH`` — the worker and ``deployready serve`` subprocesses inherit it. Runs
alternate A, B, B, A, … so slow drifts of the machine's load hit both sides alike.
Medians per side, the ratio B/A, and every run go to ``bench/loadtest/results/ab-*.json``.

Each side runs on its own demo workspace, built by that side's code with the same seed
(the store, the policy file and the package format belong to the code that reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

SCENARIOS: dict[str, list[str]] = {
    "closed 100 × 1000": [],
    "open 1000 req/s × 3000": ["--mode", "open", "--rate", "1000", "--requests", "3000"],
}
KEYS = ("p50", "p95", "p99", "max", "throughput_rps", "noise_p99", "mean_batch_rows")


def extract(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "deployready"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def ensure_demo(tree: Path, workspace: Path) -> None:
    """The demo workspace as ``tree``'s code builds it (same seed on both sides)."""
    if (workspace / "models" / "v1.0").is_dir():
        return
    subprocess.run([sys.executable, "-m", "deployready", "demo", str(workspace),
                    "--no-loadtest"], check=True, cwd=tree,
                   env=dict(os.environ, PYTHONPATH=str(tree)))


def run_once(tree: Path, workspace: Path, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, "-m", "deployready", "loadtest", "-w", str(workspace),
                           "--version", "v1.0", "--json", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{tree}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)["result"]
    latency = result["latency_ms"]
    noise = (result.get("noise") or {}).get("latency_ms") or {}
    return {"p50": latency["p50"], "p95": latency["p95"], "p99": latency["p99"],
            "max": latency["max"], "throughput_rps": result["throughput_rps"],
            "noise_p99": noise.get("p99"),
            "mean_batch_rows": (result.get("server_stats") or {}).get("mean_batch_rows"),
            "errors": result["requests"]["errors"], "loadavg": os.getloadavg()[0]}


def head_revision() -> str:
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "deployready"],
                           capture_output=True, text=True).stdout.strip()
    return rev + (" + uncommitted changes" if dirty else "")


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: round(statistics.median(float(r[k]) for r in runs), 3)
            for k in KEYS if all(r.get(k) is not None for r in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision for side A")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workspace", type=Path, default=None,
                        help="folder for the two demo workspaces (demo-A, demo-B; built "
                             "with --no-loadtest when missing)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deployready-ab-"))
    sides = {"A": extract(args.baseline, tmp), "B": REPO}
    base = args.workspace or tmp
    spaces = {side: base / f"demo-{side}" for side in sides}
    for side, tree in sides.items():
        ensure_demo(tree, spaces[side])
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"A": [], "B": []} for name in SCENARIOS}
    for i in range(args.repeats):
        order = ("A", "B") if i % 2 == 0 else ("B", "A")
        for name, extra in SCENARIOS.items():
            for side in order:
                out = run_once(sides[side], spaces[side], extra)
                runs[name][side].append(out)
                print(f"{name} {side} [{i + 1}/{args.repeats}]: {json.dumps(out)}",
                      file=sys.stderr)
    table = {name: {side: medians(r) for side, r in by_side.items()}
             for name, by_side in runs.items()}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"ab-{stamp}.json").write_text(json.dumps(
        {"baseline": args.baseline, "head": head_revision(), "cores": os.cpu_count(),
         "medians": table, "runs": runs}, indent=2))
    print(f"\nA = {args.baseline}, B = this checkout; medians of {args.repeats} "
          "interleaved runs (ms unless noted)\n")
    print("| scenario | side | P50 | P95 | P99 | max | req/s | no-op P99 | mean batch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, by_side in table.items():
        for side in ("A", "B"):
            m = by_side[side]
            print(f"| {name} | {side} | " + " | ".join(str(m.get(k, "")) for k in KEYS) + " |")
        a, b = by_side["A"], by_side["B"]
        ratios = [f"{b[k] / a[k]:.2f}×" if a.get(k) else "" for k in KEYS]
        print(f"| {name} | B/A | " + " | ".join(ratios) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
