"""Page renders after one evidence file changed, on the workspace at scale.

    .venv/bin/python bench/pages/bench_after_change.py --root /tmp/deployready-bench-pages \
        --rounds 3

Copies ``<root>/scale`` (built by ``bench_render.py``) to a scratch folder, renders every
page once in this process (cold: imports, empty caches), once more (warm), then ``--rounds``
times: append one log row to the newest daily production file (a new evidence file
signature: every page cache keyed on the logs misses) and render every page again.
Prints the cold, warm and median after-change seconds per page (AppTest, server side).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = ["app.py", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "pages").glob("*.py"))]


def render(page: str) -> float:
    from streamlit.testing.v1 import AppTest

    started = time.perf_counter()
    app = AppTest.from_file(str(REPO / page), default_timeout=600)
    app.run()
    if app.exception:
        raise SystemExit(f"{page}: {app.exception[0].value}")
    return time.perf_counter() - started


def touch_newest_log(workspace: Path) -> None:
    newest = sorted((workspace / "data" / "production").glob("*.csv"))[-1]
    last = newest.read_text().splitlines()[-1]
    with newest.open("a") as fh:
        fh.write(last + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = args.root / "scale"
    if not source.is_dir():
        raise SystemExit(f"{source} is missing: run bench/pages/bench_render.py first")
    workspace = Path(tempfile.mkdtemp(prefix="deployready-after-change-")) / "scale"
    shutil.copytree(source, workspace)
    os.environ["DEPLOYREADY_WORKSPACE"] = str(workspace)
    cold = {page: render(page) for page in PAGES}
    warm = {page: render(page) for page in PAGES}
    after: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(args.rounds):
        touch_newest_log(workspace)
        for page in PAGES:
            after[page].append(render(page))
    load = os.getloadavg()[0]
    print(f"\nAppTest seconds, scale workspace, {args.rounds} rounds, load {load:.1f}\n")
    print("| page | cold | warm | after a log file changed (median) |")
    print("|---|---:|---:|---:|")
    for page in PAGES:
        print(f"| {page} | {cold[page]:.2f} | {warm[page]:.2f} | "
              f"{statistics.median(after[page]):.2f} |")
    shutil.rmtree(workspace.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
