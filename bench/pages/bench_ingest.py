"""Ingest of one day's log file into a store that holds N days of the scale workspace.

    .venv/bin/python bench/pages/bench_ingest.py --source /tmp/deployready-bench-pages/scale \
        --target /tmp/deployready-bench-ingest --days 120

Copies the first N daily files of ``<source>/data/production`` (and its models and policy)
to ``--target``, ingests them, then times: three new day files, one each; an ingest with
nothing changed (a stat per file); one day's file rewritten (a row removed: re-profiled);
the same file grown by one line (only that line profiled).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from deployready.monitoring.profiles.ingest import ingest, ingest_if_changed
from deployready.workspace import Workspace


def timed(label: str, run: object) -> None:
    started = time.perf_counter()
    result = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"{label:16} {result.summary() if result else 'nothing to do'}  ({seconds:.3f} s)",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/tmp/deployready-bench-pages/scale"))
    parser.add_argument("--target", type=Path, default=Path("/tmp/deployready-bench-ingest"))
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    files = sorted((args.source / "data" / "production").glob("*.csv"))
    shutil.rmtree(args.target, ignore_errors=True)
    prod = args.target / "data" / "production"
    prod.mkdir(parents=True)
    shutil.copytree(args.source / "models", args.target / "models")
    shutil.copy(args.source / "deployready.toml", args.target / "deployready.toml")
    for f in files[:args.days]:
        shutil.copy(f, prod / f.name)
    ws = Workspace.open(args.target)
    timed("bulk", lambda: ingest(ws))
    for f in files[args.days:args.days + 3]:
        shutil.copy(f, prod / f.name)
        timed("new day", lambda: ingest(ws))
    timed("nothing changed", lambda: ingest_if_changed(ws))
    target = prod / files[args.days // 2].name
    lines = target.read_text().splitlines(keepends=True)
    target.write_text("".join(lines[:1] + lines[2:]))
    timed("changed day", lambda: ingest_if_changed(ws))
    with target.open("a") as fh:
        fh.write(lines[1])
    timed("grown day", lambda: ingest_if_changed(ws))
    return 0


if __name__ == "__main__":
    sys.exit(main())
