"""Where a dashboard page's main-thread time goes in the browser: one page of the demo,
served warm (``python -m dashboard.serve``), visited in fresh browser contexts (a cold
cache) under Chrome's tracing. Per visit: the main thread's busy time in the first 3 s,
the evaluation of the chart library, and the longest tasks with what ran in them (the
chart element's draws run inside the library's ``load`` event: ``EventDispatch``). Run
by hand, with nothing else running::

    .venv/bin/python bench/pages/trace_page.py --root /tmp/drbench --page Latency --visits 2
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render as br

CATEGORIES = ["devtools.timeline", "v8", "disabled-by-default-devtools.timeline"]
KINDS = ("EvaluateScript", "v8.evaluateModule", "FunctionCall", "EventDispatch", "Layout",
         "UpdateLayoutTree", "Paint", "TimerFire", "FireAnimationFrame")


def summarise(events: list[dict[str, Any]], horizon_us: float = 3e6) -> dict[str, Any]:
    """Main-thread busy time, the chart library's evaluation and the long tasks."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("name") == "thread_name"}
    main = {k for k, v in names.items() if v == "CrRendererMain"}
    start = min(e["ts"] for e in events if e.get("name") == "ResourceSendRequest")
    mine = [e for e in events if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X"
            and 0 <= e["ts"] - start < horizon_us]
    tasks = [e for e in mine if e["name"] == "RunTask"]
    library = [e["dur"] / 1000 for e in mine if e["name"] == "EvaluateScript"
               and "plotly-deployready" in str(e.get("args", {}).get("data", {}).get("url"))]
    long_tasks = []
    for task in sorted(tasks, key=lambda t: -t["dur"])[:6]:
        inside: collections.Counter[str] = collections.Counter()
        for e in mine:
            if e["name"] in KINDS and task["ts"] <= e["ts"] <= task["ts"] + task["dur"]:
                inside[e["name"]] += e["dur"] / 1000
        long_tasks.append({"at_ms": round((task["ts"] - start) / 1000),
                           "ms": round(task["dur"] / 1000),
                           "inside_ms": {k: round(v) for k, v in inside.most_common(3)}})
    return {"main_thread_busy_ms": round(sum(t["dur"] for t in tasks) / 1000),
            "chart_library_evaluate_ms": [round(x) for x in library],
            "longest_tasks": sorted(long_tasks, key=lambda t: t["at_ms"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    ap.add_argument("--page", default="Latency", help="the page's URL path, e.g. Latency")
    ap.add_argument("--visits", type=int, default=2)
    args = ap.parse_args()
    demo = br.build_demo_ws(args.root)
    with br.serving_browser(["-m", "dashboard.serve"], demo, args.root / "trace-page.log"
                            ) as (_, url, browser):
        for visit in range(args.visits):
            out = args.root / f"trace-{args.page}-{visit}.json"
            with br.cold_page(browser) as page:
                browser.start_tracing(page=page, path=str(out), categories=CATEGORIES)
                page.goto(f"{url}/{args.page}", wait_until="commit")
                page.wait_for_function(br.IDLE_JS, timeout=120_000, polling=50)
                time.sleep(0.5)
                browser.stop_tracing()
            summary = summarise(json.loads(out.read_text())["traceEvents"])
            print(json.dumps({"page": args.page, "visit": visit, **summary}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
