"""deployready dashboard — Overview (entry point of the multipage app).

Run with ``streamlit run app.py``. The other pages live in ``pages/``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import identity, ui
from deployready.charts.readiness import category_bars, score_gauge
from deployready.checks import Check, format_value, status_glyph, status_label
from deployready.score import Readiness

ui.setup_page("Overview", "🏁")
ws, version = ui.sidebar()

st.title("🏁 Readiness overview")

if ws.is_empty():
    st.info(f"The workspace `{ws.root}` has no model packages and no certification history yet.")
    if st.button("Build the demo workspace here", type="primary"):
        from deployready.demo.build import build_demo

        with st.spinner("Training, certifying and exporting the demo models…"):
            done = ui.guarded(lambda: (identity.require_action(ws, "build-demo", str(ws.root),
                                                               ws.policy()),
                                       build_demo(ws.root))[1], "Building the demo workspace")
        if done is not None:
            st.rerun()
    st.caption("Or from a shell: `deployready demo DIR`.")
    st.stop()

ui.require_versions(ws)
assert version is not None
scored: str = version
readiness = ui.guarded(lambda: ui.readiness(ws, scored), "Scoring")
if readiness is None:
    st.stop()


def checks_table(checks: list[Check]) -> pd.DataFrame:
    rows = []
    for c in checks:
        ev = c.evidence
        rows.append(
            {
                "": status_glyph(c.status),
                "check": c.name,
                "status": status_label(c.status),
                "value": format_value(c.value),
                "threshold": c.threshold,
                "finding": c.message,
                "evidence": ev.source if ev else "",
                "measured at": (ev.time or "") if ev else "",
                "package": (ev.package_sha256 or "")[:12] if ev else "",
            }
        )
    return pd.DataFrame(rows)


@st.cache_resource(show_spinner=False, max_entries=32)
def figures(score: float, max_score: float, ready: bool,
            categories: tuple[tuple[tuple[str, Any], ...], ...]) -> tuple[Any, Any]:
    """The gauge and the category bars of a score, built once per score (a new day's log
    mostly leaves them as they were). Shared figures: drawing one only reads it."""
    return (score_gauge(score, max_score, ready),
            category_bars([dict(c) for c in categories]))


def render(r: Readiness) -> None:
    badge = "🟢 READY" if r.ready else "🔴 NOT READY"
    st.subheader(f"{r.version} — {badge}")
    st.caption(f"package sha256 `{r.package_sha256}` · scored {r.generated_at}")
    for error in r.errors:  # evidence that could not be read: the CLI exits 2 on it
        st.error(f"**Evidence could not be read.** {error}", icon="🚫")
    # the fields the bars need (Readiness.as_dict() would also copy every check's evidence)
    categories = [
        {"label": c.label, "weight": c.weight, "score": round(c.score, 4), "passed": c.passed,
         "total": c.total}
        for c in r.categories
    ]
    gauge, bars = figures(r.score, r.max_score, r.ready,
                          tuple(tuple(sorted(c.items())) for c in categories))
    left, right = st.columns([2, 3])
    with left:
        ui.chart(gauge, key="gauge")
    with right:
        ui.chart(bars, key="categories")

    latency = r.category("latency")
    kinds = {
        str(c.evidence.detail.get("source_kind"))
        for c in latency.checks
        if c.evidence and c.evidence.detail.get("source_kind")
    }
    if kinds:
        st.caption("Latency evidence from: " + ", ".join(sorted(kinds)).replace("_", " "))
    else:
        st.caption(
            "Latency evidence: none yet (no production logs and no load test for this package)."
        )

    st.markdown("### Blockers")
    if not r.blockers:
        st.success("No blockers: every check passes on evidence for this exact package.")
    # Checks of one category that fail for the same reason are one blocker line.
    groups: list[tuple[str, str, str, list[str]]] = []
    for c in r.blockers:
        key = (str(c.category), str(c.status), c.message)
        if groups and groups[-1][:3] == key:
            groups[-1][3].append(c.name)
        else:
            groups.append((*key, [c.name]))
    for i, (category, status, message, names) in enumerate(groups, 1):
        st.markdown(
            f"{i}. {status_glyph(status)} **{category.replace('_', ' ')} · "
            f"{', '.join(names)}** — {message}"
        )

    st.markdown("### Checklist")
    for cat in r.categories:
        points = f"{cat.score:.1f}/{cat.weight:g} points"
        title = f"{cat.label} — {points} ({cat.passed}/{cat.total} checks pass)"
        with st.expander(title, expanded=cat.passed < cat.total):
            st.dataframe(checks_table(cat.checks), hide_index=True, width="stretch")

    report_section(r)


def report_section(r: Readiness) -> None:
    from deployready.report.build import build_report
    from deployready.report.render import render

    st.markdown("### Report")
    st.caption(
        "The whole verdict with its evidence. The HTML report is self-contained (charts included)."
    )
    cols = st.columns(3)
    root, version = ws.root, r.version
    for col, fmt, mime in zip(
        cols,
        ("html", "md", "json"),
        ("text/html", "text/markdown", "application/json"),
        strict=True,
    ):

        def build(fmt: str = fmt) -> str:
            # Runs when the button is clicked, outside the script thread: engine only.
            from deployready.workspace import Workspace

            return render(build_report(Workspace.open(root), version), fmt)

        col.download_button(
            f"Download {fmt.upper()} report",
            data=build,
            file_name=f"deployready-{version}.{fmt}",
            mime=mime,
            key=f"report-{fmt}",
            on_click="ignore",
        )


render(readiness)
