"""Which scripts a dashboard page's main-thread time goes to in the browser: one page of
the demo, served warm (``python -m dashboard.serve``), visited in fresh browser contexts
(a cold cache) under V8's sampling profiler, from navigation until the page is drawn
(script idle, every chart drawn). Per script file, the self time per visit: the chart
library (``plotly-deployready.min.js``), React, Streamlit's chunks, the browser's own work
("(program)": style, layout, paint) and idle. Run by hand, with nothing else running::

    .venv/bin/python bench/pages/profile_page.py --root /tmp/drbench --page Latency --visits 3
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render as br


def self_time_by_file(profile: dict[str, Any]) -> collections.Counter[str]:
    """Sampled self time (ms) per script file of a ``Profiler.stop`` profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    out: collections.Counter[str] = collections.Counter()
    for sample, delta_us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[sample]["callFrame"]
        name = frame["url"].rsplit("/", 1)[-1] or f"({frame['functionName']})"
        out[name] += delta_us / 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    ap.add_argument("--page", default="Latency", help="the page's URL path, e.g. Latency")
    ap.add_argument("--visits", type=int, default=3)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    demo = br.build_demo_ws(args.root)
    total: collections.Counter[str] = collections.Counter()
    drawn = []
    with br.serving_browser(["-m", "dashboard.serve"], demo, args.root / "profile-page.log"
                            ) as (_, url, browser):
        for visit in range(args.visits + 1):  # the first visit warms the server
            with br.cold_page(browser) as page:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                cdp.send("Profiler.start")
                page.goto(f"{url}/{args.page}", wait_until="commit")
                at = page.wait_for_function(br.IDLE_JS, timeout=120_000, polling=50)
                profile = cdp.send("Profiler.stop")["profile"]
                seconds = float(at.json_value()) / 1000
            if visit:
                drawn.append(seconds)
                total += self_time_by_file(profile)
    print(f"{args.page}: drawn after {', '.join(f'{s:.2f}' for s in drawn)} s "
          f"(under the profiler); self time per visit, ms:")
    for name, ms in total.most_common(args.top):
        print(f"  {ms / args.visits:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
