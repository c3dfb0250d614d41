"""Start the dashboard warm: ``python -m dashboard.serve [streamlit run flags…]``.

``streamlit run app.py`` imports each page's engine modules (pandas, scipy, scikit-learn,
plotly, the engine itself) inside the first visit's script run, so the first page a
release manager opens in a fresh server waits seconds for imports. This launcher imports
them first and then starts Streamlit's server on ``app.py`` in the same process (the
documented CLI entry, ``streamlit.web.cli.main``), so every page's first run finds them
loaded. The flags are those ``scripts/dashboard.sh`` has always passed (the loopback
address, port ``$PORT`` or 8501); extra arguments go to ``streamlit run`` after them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"

#: The modules the pages import on their first run, heaviest first. Importing one that is
#: missing (an optional engine) is skipped: the page that needs it says so itself.
WARM_MODULES: tuple[str, ...] = (
    "pandas",
    "numpy",
    "scipy.stats",
    "sklearn.metrics",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "plotly.graph_objects",
    "plotly.express",
    "pyarrow.parquet",
    "shap",
    "deployready.score",
    "deployready.certification.view",
    "deployready.certification.checks",
    "deployready.package.validate",
    "deployready.package.versioning",
    "deployready.loadtest",
    "deployready.loadtest.runs",
    "deployready.loadtest.checks",
    "deployready.loadtest.concurrency",
    "deployready.monitoring.logs",
    "deployready.monitoring.latency",
    "deployready.monitoring.latency_checks",
    "deployready.monitoring.drift",
    "deployready.monitoring.daily",
    "deployready.monitoring.alerts",
    "deployready.monitoring.profiles.ingest",
    "deployready.performance.api",
    "deployready.performance.join",
    "deployready.performance.daily",
    "deployready.rollout.events",
    "deployready.rollout.reviews",
    "deployready.report.build",
    "deployready.report.render",
    "deployready.charts.readiness",
    "deployready.charts.loadtest",
    "deployready.charts.monitoring",
    "deployready.charts.performance",
    "deployready.charts.rollout",
)


def warm_imports(modules: Sequence[str] = WARM_MODULES) -> dict[str, float]:
    """Import ``modules``; seconds each took. A library that is not installed (an
    optional engine) is left out; an engine module that is not there is an error (a
    renamed module: fix the list rather than start cold)."""
    took: dict[str, float] = {}
    for name in modules:
        top = name.split(".")[0]
        if top != "deployready" and importlib.util.find_spec(top) is None:
            continue
        t0 = time.perf_counter()
        importlib.import_module(name)
        took[name] = time.perf_counter() - t0
    return took


def streamlit_args(extra: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
    """The ``streamlit run`` command line: app.py, the dashboard's flags, then ``extra``."""
    port = (env if env is not None else dict(os.environ)).get("PORT", "8501")
    return [
        "run",
        str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", port,
        *extra,
    ]


def main(argv: Sequence[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    warm_imports()
    print(f"deployready dashboard: engine imported in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    from streamlit.web import cli

    args = streamlit_args(extra)
    sys.argv = ["streamlit", *args]
    cli.main(args=args, prog_name="streamlit")


if __name__ == "__main__":
    main()
