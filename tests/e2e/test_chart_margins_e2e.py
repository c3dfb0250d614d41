"""The chart element's margin estimate (dashboard/chart_margins.js) against plotly.js itself,
in a real browser: on every chart of the demo's pages and on figures drawn at random (bars,
horizontal bars, dates, heatmaps; short and long labels, small and large numbers, percent
formats, titles, widths from a column to a wide screen), the margins it starts from hold
the axis labels plotly.js then draws, so plotly.js draws each figure once instead of
twice, and they add little room beyond what the labels take. No legend is drawn over the
x axis's labels."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import pytest

from dashboard.ui import chart_json
from tests.e2e.conftest import REPO, Server, wait_idle

pytestmark = pytest.mark.browser

#: The estimate may leave this much room beyond plotly.js's own (px): its widths are the
#: canvas's, plus a few px of slack per side.
SLACK_PX = 16
#: Slanted labels: plotly.js's box of a rotated label is a little smaller than its bounds.
SLACK_SLANTED_PX = 28

#: Each chart drawn: the margins it was given, whether plotly.js drew it a second time, and
#: the room its axes asked for (plotly.js's automargin pushes, by side).
DRAWN_JS = """(nodes) => nodes.map((n) => {
  const fl = n._fullLayout, given = n.layout.margin || {}, push = {};
  const others = {};
  for (const [id, p] of Object.entries(fl._pushmargin)) {
    const into = id === "x.automargin" || id === "y.automargin" ? push
      : id === "base" ? null : others;
    if (into) for (const s of ["l", "r", "b"]) into[s] = Math.max(into[s] || 0, p[s].size);
  }
  const own = n.dataset.figureMargin;
  // the legend's box against the x tick labels' boxes: a legend below the plot under them
  const legend = n.querySelector(".legend");
  const box = legend && legend.getBoundingClientRect();
  const hits = box ? [...n.querySelectorAll(".xtick text")].filter((t) => {
    const r = t.getBoundingClientRect();
    return r.width && r.right > box.left && r.left < box.right && r.bottom > box.top &&
      r.top < box.bottom;
  }).map((t) => t.textContent) : [];
  return {title: fl.title.text, fitted: own !== undefined, own: own ? JSON.parse(own) : {},
          given, push, others, legendOverLabels: hits,
          angle: fl.xaxis ? fl.xaxis._tickAngles : null,
          redrawn: "_redrawFromAutoMarginCount" in fl};
})"""

#: Every chart element of the page drawn (each of these pages has at least one).
ALL_DRAWN_JS = """() => {
  const charts = document.querySelectorAll('[data-testid="stMain"] .stBidiComponent');
  return charts.length > 0 && [...charts].every((c) => c.querySelector(".main-svg"));
}"""

DRAW_JS = """async ([spec, width]) => {
  const node = document.createElement("div");
  node.style.width = `${width}px`;
  document.body.appendChild(node);
  const margin = fitMargins(spec, width);
  if (margin) {
    node.dataset.figureMargin = JSON.stringify(spec.layout.margin || {});
    spec.layout.margin = {...(spec.layout.margin || {}), ...margin};
  }
  await Plotly.react(node, spec.data, spec.layout, {});
  return node;
}"""


def _check(drawn: dict[str, Any]) -> list[str]:
    """What is wrong with one drawn chart's margins (nothing: an empty list)."""
    if not drawn["fitted"]:
        return []
    slack = SLACK_SLANTED_PX if (drawn["angle"] or {}).get("xtick") not in (0, 90, None) \
        else SLACK_PX
    faults = []
    for side, pushed in drawn["push"].items():
        given = drawn["given"][side]
        if pushed <= 12.5:  # nothing but plotly.js's own padding
            continue
        # the room a legend or colour bar takes is there before the axes are drawn
        if pushed > max(given, drawn["others"].get(side, 0)) + 0.5:
            faults.append(f"{side}: labels need {pushed:.0f} px, estimate {given} px")
        # room added beyond the figure's own margin and the labels' need (the right margin
        # may also make room that turns the labels upright)
        elif side != "r" and given > drawn["own"].get(side, 0) and given - pushed > slack:
            faults.append(f"{side}: estimate {given} px, {given - pushed:.0f} px more than needed")
    return faults


@pytest.mark.parametrize("path", ["", "Certification", "Artifacts", "Latency", "Drift",
                                  "Rollout", "Monitoring", "Performance"])
def test_demo_charts_start_from_margins_that_hold_their_labels(server: Server, page: Any,
                                                               path: str) -> None:
    page.goto(f"{server.url}/{path}")
    wait_idle(page)
    page.wait_for_function(ALL_DRAWN_JS, timeout=60_000)
    drawn = page.evaluate(f"""() => ({DRAWN_JS})([...document.querySelectorAll(
        '[data-testid="stMain"] .deployready-chart')])""")
    assert drawn
    faults = {d["title"]: problems for d in drawn if (problems := _check(d))}
    assert not faults, faults
    overlaps = {d["title"]: d["legendOverLabels"] for d in drawn if d["legendOverLabels"]}
    assert not overlaps, f"legends drawn over x labels: {overlaps}"
    # every cartesian chart got an estimate; only the gauges (no axes) are drawn as given
    assert sum(d["fitted"] for d in drawn) >= len(drawn) - (2 if path == "" else 0)


# ------------------------------------------------------------------ figures at random


def _words(rng: random.Random, n: int, lo: int, hi: int) -> list[str]:
    alphabet = string.ascii_lowercase + "_ "
    out: list[str] = []
    while len(out) < n:
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi))).strip()
        if word and word not in out:
            out.append(word)
    return out


def _numbers(rng: random.Random, n: int) -> list[float]:
    scale = 10 ** rng.uniform(-3, 6)
    shift = rng.choice([0.0, 0.0, -0.5])
    return [round(scale * (rng.random() + shift), 6) for _ in range(n)]


def _figure(rng: random.Random) -> go.Figure:
    kind = rng.choice(["bars", "hbars", "dates", "heatmap"])
    fig = go.Figure()
    if kind == "bars":
        labels = _words(rng, rng.randint(2, 40), 2, rng.choice([6, 12, 24]))
        fig.add_bar(x=labels, y=_numbers(rng, len(labels)))
        fig.update_xaxes(type="category")
    elif kind == "hbars":
        labels = _words(rng, rng.randint(2, 25), 3, 28)
        fig.add_bar(y=labels, x=_numbers(rng, len(labels)), orientation="h")
    elif kind == "dates":
        days = rng.randint(2, 400)
        start = datetime(2026, 1, 1)
        step = timedelta(hours=1) if days < 10 else timedelta(days=1)
        stamps = [start + i * step for i in range(days * (24 if days < 10 else 1))]
        fig.add_scatter(x=stamps, y=_numbers(rng, len(stamps)), mode="lines")
    else:
        days = [(date(2026, 11, 1) + timedelta(days=i)).isoformat()
                for i in range(rng.randint(3, 45))]
        features = _words(rng, rng.randint(2, 15), 3, 20)
        fig.add_heatmap(x=days, y=features, z=[[rng.random() for _ in days] for _ in features])
        fig.update_xaxes(type="category")
    if kind != "hbars" and rng.random() < 0.3:
        fig.update_yaxes(tickformat=".0%")
    if rng.random() < 0.5:
        fig.update_yaxes(title_text=rng.choice(["ms", "share", "requests per second"]))
    if rng.random() < 0.3:
        fig.update_xaxes(title_text="day")
    fig.update_layout(title="random", height=rng.choice([260, 340, 450]),
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


@pytest.fixture
def plotly_page(page: Any) -> Iterator[Any]:
    """A blank page with the dashboard's plotly.js build and the margin estimate."""
    page.set_content("<html><body style='font-family: sans-serif; margin: 0'></body></html>")
    page.add_script_tag(path=str(REPO / "static" / "plotly-deployready.min.js"))
    estimate = (REPO / "dashboard" / "chart_margins.js").read_text(encoding="utf-8")
    page.add_script_tag(content=estimate.replace("export function", "function"))
    yield page


def test_random_figures_start_from_margins_that_hold_their_labels(plotly_page: Any) -> None:
    rng = random.Random(20261201)
    faults = {}
    redrawn = 0
    cases = 60
    for case in range(cases):
        fig = _figure(rng)
        width = rng.randint(380, 1400)
        node = plotly_page.evaluate_handle(DRAW_JS, [json.loads(chart_json(fig)), width])
        [drawn] = plotly_page.evaluate(DRAWN_JS, [node])
        assert drawn["fitted"], case
        redrawn += drawn["redrawn"]
        if problems := _check(drawn):
            faults[f"case {case}: {fig.data[0].type} at {width} px"] = problems
        plotly_page.evaluate("(n) => { Plotly.purge(n); n.remove(); }", node)
    # known misses (plotly.js then draws twice, as without the estimate): near the width
    # where plotly.js turns the labels it may guess the other angle; a date label at the
    # axis's right end; numbers turned on a plot a few labels wide
    assert len(faults) <= cases * 0.15, faults
    assert redrawn <= cases * 0.15, f"{redrawn} of {cases} drawn twice"
