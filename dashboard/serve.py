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
    "pandas.io.formats.style",
    "shap",
    "streamlit.emojis",
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
    "dashboard.chart_theme",  # the charts' template, built once
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


def warm_figures() -> None:
    """Draw one figure of every trace type the charts use, with the layout parts they set:
    plotly loads a property's validator the first time it is set, seconds in all on a
    page's first chart."""
    import plotly.graph_objects as go
    import plotly.io as pio

    line = {"color": "#888", "dash": "dot", "width": 1}
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers+text", line=line, text=["a", "b"],
                   marker={"size": 4, "color": ["#888", "#444"], "symbol": "circle"},
                   fill="tozeroy", hovertemplate="%{x}<extra></extra>", customdata=[[0], [1]],
                   showlegend=True, name="a", legendgroup="a", yaxis="y2"),
        go.Bar(x=[0], y=[1], marker_color="#888", text=["a"], textposition="outside",
               orientation="v", hovertext=["a"], base=[0], width=[0.5], offsetgroup="a"),
        go.Heatmap(z=[[0, 1]], x=["a", "b"], y=["c"], colorscale="RdYlGn", zmin=0, zmax=1,
                   colorbar={"title": {"text": "a"}}, text=[["a", "b"]], texttemplate="%{text}",
                   xgap=1, ygap=1, showscale=True),
        go.Box(y=[0, 1], name="a", boxpoints="outliers", marker_color="#888"),
        go.Indicator(mode="gauge+number+delta", value=0.5, number={"suffix": "%"},
                     delta={"reference": 0.4}, domain={"x": [0, 1], "y": [0, 1]},
                     gauge={"axis": {"range": [0, 1]}, "bar": {"color": "#888"},
                            "steps": [{"range": [0, 1], "color": "#eee"}],
                            "threshold": {"line": {"color": "#888", "width": 2}, "value": 0.5}}),
    ])
    fig.update_layout(
        title={"text": "a"}, height=300, margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend={"orientation": "h", "y": -0.2}, hovermode="x unified", barmode="stack",
        xaxis={"title": {"text": "a"}, "tickformat": "%b %d", "type": "date", "range": [0, 1]},
        yaxis={"title": {"text": "b"}, "range": [0, 1], "tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={"overlaying": "y", "side": "right"}, showlegend=True, template="plotly_white",
        shapes=[{"type": "line", "x0": 0, "x1": 1, "y0": 0, "y1": 1, "line": line}],
        annotations=[{"text": "a", "x": 0, "y": 0, "showarrow": False}], bargap=0.1,
    )
    fig.add_hline(y=0.5, line_dash="dash", annotation_text="a")
    fig.add_vline(x=0.5, line_dash="dot")
    fig.add_vrect(x0=0, x1=0.5, fillcolor="#eee", opacity=0.2, line_width=0)
    pio.to_json(fig)


def warm_stack_inspection() -> None:
    """Fill ``inspect``'s map of module files: Streamlit inspects the stack of the first
    element a process draws (to tell a REPL apart), a scan of every imported module."""
    import inspect

    inspect.stack()


def settle_heap() -> None:
    """Collect once, then move everything the warm-up made (the imported libraries'
    millions of objects) out of the collector's reach: later collections — many on a
    page's first render, which builds large frames and records — then walk only what the
    pages make (``gc.freeze``)."""
    import gc

    gc.collect()
    gc.freeze()


def warm_up() -> float:
    """Everything the launcher does before serving; seconds it took."""
    t0 = time.perf_counter()
    warm_imports()
    warm_figures()
    warm_stack_inspection()
    settle_heap()
    return time.perf_counter() - t0


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
    took = warm_up()
    print(f"deployready dashboard: engine imported in {took:.1f} s",
          file=sys.stderr, flush=True)
    from streamlit.web import cli

    args = streamlit_args(extra)
    sys.argv = ["streamlit", *args]
    cli.main(args=args, prog_name="streamlit")


if __name__ == "__main__":
    main()
