"""Serving path A/B: this checkout vs an earlier revision, interleaved, on the demo package.

    .venv/bin/python bench/loadtest/ab_serve.py --baseline ed4435f --repeats 5

The baseline's source is extracted with ``git archive`` into a temporary folder (no
worktree, nothing in ``.git`` changes) and each side runs the real CLI
(``python -m deployready loadtest -w WS --version v1.0 --json``) with its own tree first on
``PYTHONPATH`` — the worker and ``deployready serve`` subprocesses inherit it. Runs
alternate A, B, B, A, … so slow drifts of the machine's load hit both sides alike.
Medians per side, the ratio B/A, and every run go to ``bench/loadtest/results/ab-*.json``.

Each side runs on its own copy of the demo workspace. A baseline older than a policy key
refuses the current ``deployready.toml`` ("``load_test.x: unknown key``"): that key is
dropped from the baseline's copy only (it keeps its own default behaviour) and the dropped
keys are recorded in the result.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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


def ensure_demo(workspace: Path) -> None:
    if (workspace / "models" / "v1.0").is_dir():
        return
    subprocess.run([sys.executable, "-m", "deployready", "demo", str(workspace),
                    "--no-loadtest"], check=True, cwd=REPO)


UNKNOWN_KEY = re.compile(r"deployready\.toml: ([a-z_]+)(?:\.([a-z_]+))?: unknown key")


def drop_key(workspace: Path, section: str, key: str | None) -> None:
    """Remove ``key = ...`` from ``[section]`` of the workspace's policy file, or the
    whole section (and its sub-tables) when ``key`` is None."""
    policy = workspace / "deployready.toml"
    lines, current = [], None
    for line in policy.read_text().splitlines(keepends=True):
        if line.startswith("["):
            current = line.strip().strip("[]")
        in_section = current == section or (current or "").startswith(section + ".")
        if in_section and (key is None or re.match(rf"{key}\s*=", line)):
            continue
        lines.append(line)
    policy.write_text("".join(lines))


def run_once(tree: Path, workspace: Path, args: list[str],
             dropped: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    for _ in range(20):
        proc = subprocess.run([sys.executable, "-m", "deployready", "loadtest", "-w",
                               str(workspace), "--version", "v1.0", "--json", *args],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=600)
        unknown = UNKNOWN_KEY.search(proc.stderr) if proc.returncode == 2 else None
        if unknown is None:
            break
        drop_key(workspace, unknown.group(1), unknown.group(2))
        dropped.append(".".join(g for g in unknown.groups() if g))
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
                        help="demo workspace (built with --no-loadtest when missing)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deployready-ab-"))
    workspace = args.workspace or tmp / "demo"
    ensure_demo(workspace)
    sides = {"A": extract(args.baseline, tmp), "B": REPO}
    spaces = {side: tmp / f"workspace-{side}" for side in sides}
    for space in spaces.values():
        shutil.copytree(workspace, space)
    dropped: dict[str, list[str]] = {side: [] for side in sides}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"A": [], "B": []} for name in SCENARIOS}
    for i in range(args.repeats):
        order = ("A", "B") if i % 2 == 0 else ("B", "A")
        for name, extra in SCENARIOS.items():
            for side in order:
                out = run_once(sides[side], spaces[side], extra, dropped[side])
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
         "policy_keys_dropped": {k: sorted(set(v)) for k, v in dropped.items()},
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
