"""Where the browser's time goes on Streamlit's floor page (a title, one plotly chart, one
table — ``bench_render.FLOOR_PAGE``), served by plain ``streamlit run``: when each large
script chunk is requested and downloaded, and when the page is drawn completely (the
same condition as ``bench_render.IDLE_JS``). Each visit is a fresh browser context (a
cold cache). Run by hand::

    .venv/bin/python bench/pages/trace_floor.py --root /tmp/drbench --visits 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render as br

CHUNKS_JS = """() => performance.getEntriesByType('resource')
  .filter(e => e.name.endsWith('.js') && e.decodedBodySize > 400000)
  .map(e => [e.name.split('/').pop(), Math.round(e.startTime), Math.round(e.responseEnd),
             e.decodedBodySize])"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/drbench"))
    ap.add_argument("--visits", type=int, default=3)
    args = ap.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    page = br.write_floor_page(args.root)
    with br.serving_browser(["-m", "streamlit", "run", str(page)], args.root / "demo",
                            args.root / "trace-floor.log") as (_, url, browser):
        for visit in range(args.visits):
            with br.cold_page(browser) as tab:
                tab.goto(f"{url}/?with=chart", wait_until="commit")
                done = tab.wait_for_function(br.IDLE_JS, timeout=60_000, polling=20)
                print(f"visit {visit}: drawn at {float(done.json_value()):.0f} ms")
                for name, start, end, size in sorted(tab.evaluate(CHUNKS_JS),
                                                     key=lambda c: c[1]):
                    print(f"  {name:32} requested {start:5d} ms, downloaded {end:5d} ms, "
                          f"{size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
