"""Two checkouts' dashboards side by side in the browser: each tree's warm server
(``python -m dashboard.serve`` with that tree's code and virtualenv) on the same demo
workspace, and one chromium visiting every page alternately on the two (the order swapped
each round), in fresh browser contexts (a cold cache), until the page is drawn (script
idle, every chart drawn). Visits interleaved this way see the same machine speed, which on
a noisy 2-core machine drifts by more than the differences measured. Run by hand, with
nothing else running::

    git worktree add /tmp/base <commit> && ln -s "$PWD/.venv" /tmp/base/.venv
    .venv/bin/python bench/pages/ab_browser.py --root /tmp/drbench --trees /tmp/base . \\
        --pages Drift Performance --visits 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render as br


def main() -> int:
    from playwright.sync_api import sync_playwright

    from deployready.loadtest.server import stop_server

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    ap.add_argument("--trees", type=Path, nargs=2, required=True, metavar=("A", "B"))
    ap.add_argument("--pages", nargs="+", default=[label for _, label, _ in br.PAGES])
    ap.add_argument("--visits", type=int, default=5, help="timed visits per page and tree")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    paths = {label: path for _, label, path in br.PAGES}
    trees = [t.resolve() for t in args.trees]
    demo = br.build_demo_ws(args.root)
    servers = [br.start_streamlit(["-m", "dashboard.serve"], demo,
                                  args.root / f"ab-browser-{i}.log", tree=t,
                                  python=str(t / ".venv" / "bin" / "python"))
               for i, t in enumerate(trees)]
    drawn: dict[str, dict[str, list[float]]] = {str(t): {p: [] for p in args.pages}
                                                 for t in trees}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=br.CHROMIUM, args=br.CHROME_FLAGS)
            for visit in range(args.visits + 1):  # the first round warms both servers
                for page_label in args.pages:
                    order = [0, 1] if visit % 2 == 0 else [1, 0]
                    for i in order:
                        with br.cold_page(browser) as page:
                            page.goto(f"{servers[i][1]}/{paths[page_label]}", wait_until="commit")
                            at = page.wait_for_function(br.IDLE_JS, timeout=120_000, polling=50)
                            if visit:
                                drawn[str(trees[i])][page_label].append(
                                    float(at.json_value()) / 1000)
            browser.close()
    finally:
        for server, _ in servers:
            stop_server(server)
    print(f"{'page':14} {'A: ' + trees[0].name:>18} {'B: ' + trees[1].name:>18}   B/A")
    for label in args.pages:
        a, b = (statistics.median(drawn[str(t)][label]) for t in trees)
        print(f"{label:14} {a:16.2f} s {b:16.2f} s   {b / a:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"trees": [str(t) for t in trees], "drawn_s": drawn},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
