"""Where a dashboard page's script time goes on the server: the demo served warm
(``python -m dashboard.serve``), its pages visited in fresh browser contexts while
``py-spy`` samples the server process; per page, the script's time per visit, and the
functions of the engine, the dashboard and plotly that took the most (inclusive).

py-spy is not a dependency of the project; install it anywhere (``python -m venv
/tmp/spy && /tmp/spy/bin/pip install py-spy``) and pass its path. Run by hand, with
nothing else running::

    .venv/bin/python bench/pages/profile_server.py --root /tmp/drbench \\
        --py-spy /tmp/spy/bin/py-spy --pages Latency Drift Performance --visits 4
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render as br

#: ``name (path:line)`` of a py-spy raw frame
_FRAME = re.compile(r"(?P<name>\S+) \((?P<path>[^:]+):\d+\)")
#: frames worth naming: the pages, the dashboard, the engine and plotly's figure building
_KEEP = ("pages/", "dashboard/", "deployready/", "plotly/", "_plotly_utils/")


def summarise(raw: Path, pages: list[str], visits: int, rate: int
              ) -> dict[str, tuple[float, list[tuple[str, float]]]]:
    """Per page: its script's ms per visit and the top inclusive frames (ms per visit)."""
    out = {}
    files = {p: f"_{p.replace(' ', '_')}.py" if p != "Overview" else "app.py" for p in pages}
    for page, file in files.items():
        incl: collections.Counter[str] = collections.Counter()
        total = 0
        for line in raw.read_text(encoding="utf-8").splitlines():
            stack, _, count = line.rpartition(" ")
            if file not in stack or "ScriptRunner" not in stack:
                continue
            n = int(count)
            total += n
            seen = set()
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                if not m or not any(k in m["path"] for k in _KEEP):
                    continue
                key = f"{m['name']} ({m['path'].split('site-packages/')[-1].split('/main/')[-1]})"
                if key not in seen:
                    seen.add(key)
                    incl[key] += n
        per_visit = 1000 / rate / visits
        out[page] = (total * per_visit,
                     [(k, v * per_visit) for k, v in incl.most_common(12)])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/deployready-bench-pages"))
    ap.add_argument("--py-spy", dest="py_spy", required=True, help="the py-spy executable")
    ap.add_argument("--pages", nargs="+", default=["Latency", "Drift", "Performance"],
                    help="URL paths of pages, e.g. Latency (Overview: the app's home)")
    ap.add_argument("--visits", type=int, default=4)
    ap.add_argument("--rate", type=int, default=200, help="samples per second")
    args = ap.parse_args()
    demo = br.build_demo_ws(args.root)
    raw = args.root / "profile-server.txt"
    with br.serving_browser(["-m", "dashboard.serve"], demo, args.root / "profile-server.log"
                            ) as (server, url, browser):

        def visit(page_name: str) -> None:
            with br.cold_page(browser) as page:
                page.goto(f"{url}/{'' if page_name == 'Overview' else page_name}",
                          wait_until="commit")
                page.wait_for_function(br.IDLE_JS, timeout=120_000, polling=50)

        for name in args.pages:  # warm: the server's caches, not the measurement
            visit(name)
        spy = subprocess.Popen([args.py_spy, "record", "-p", str(server.pid), "-r",
                                str(args.rate), "-f", "raw", "-o", str(raw), "--threads"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # py-spy attached
        for _ in range(args.visits):
            for name in args.pages:
                visit(name)
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    for page, (ms, top) in summarise(raw, args.pages, args.visits, args.rate).items():
        print(f"{page}: script {ms:.0f} ms per visit; inclusive, ms per visit:")
        for key, value in top:
            print(f"  {value:7.1f}  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
