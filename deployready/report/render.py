"""The readiness report rendered: JSON, Markdown or HTML of :func:`~deployready.report.
build.build_report`'s dictionary.

The HTML is self-contained: the plotly.js source is inlined once, with the first
figure, and every later figure reuses it; styles are inline, fonts are the system's.
Nothing is loaded from another host.

The tables are shared with the dashboard: the Monitoring page lays out
:func:`daily_table` and :func:`overdue_rows` of the same records.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deployready.access import channel_label
from deployready.checks import MISSING_VALUE, Status, status_label, status_text
from deployready.checks import format_value as _fmt
from deployready.report.performance import day_table, figures_text, performance_lines

FORMATS = ("json", "md", "html")


def render(report: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


# --------------------------------------------------------------------------- shared text


def _evidence_text(evidence: Any) -> str:
    if not isinstance(evidence, Mapping):
        return _fmt(evidence)
    parts = [str(evidence.get("source") or "")]
    if evidence.get("time"):
        parts.append(f"at {evidence['time']}")
    if evidence.get("package_sha256"):
        parts.append(f"package {str(evidence['package_sha256'])[:12]}")
    return " ".join(p for p in parts if p) or MISSING_VALUE


def _rows_for_checks(
    checks: Sequence[Mapping[str, Any]], *, marks: bool = True
) -> list[list[str]]:
    """Table rows; ``marks`` adds emoji to the status (Markdown), plain words otherwise."""
    status = status_text if marks else status_label
    return [[str(c.get("name")), status(str(c.get("status"))), _fmt(c.get("value")),
             str(c.get("threshold") or MISSING_VALUE), str(c.get("message") or ""),
             _evidence_text(c.get("evidence"))] for c in checks]


CHECK_HEADER = ["check", "status", "value", "threshold", "finding", "evidence"]


def daily_table(
    daily: Sequence[Mapping[str, Any]], *, status: Callable[[str], str] = status_text
) -> tuple[list[str], list[list[str]]]:
    """Daily checks (``DailyReview.as_dict()``) as a table: date, version, status, then one
    column per item (its status through ``status``, and its value)."""
    header = ["date", "version", "status"]
    labels: list[str] = []
    for d in daily:
        for item in d.get("items", []):
            if item["label"] not in labels:
                labels.append(item["label"])
    header += labels
    rows = []
    for d in daily:
        by_label = {i["label"]: i for i in d.get("items", [])}
        row = [str(d["date"]), str(d["version"]), str(d["status"])]
        for label in labels:
            item = by_label.get(label)
            row.append(f"{status(item['status'])} {_fmt(item.get('value'))}" if item
                       else MISSING_VALUE)
        rows.append(row)
    return header, rows


def _event_rows(events: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[str(e["id"]), str(e["created_at"]), str(e["version"]), str(e["action"]),
             f"{_fmt(e['from_pct'])} → {_fmt(e['to_pct'])} %",
             "allowed" if e["allowed"] else "REFUSED", str(e["actor"]),
             channel_label(e.get("channel")), str(e["reason"])]
            for e in events]


EVENT_HEADER = ["#", "time", "version", "action", "stage", "decision", "actor", "channel",
                "reason"]


def _signoff_rows(signoffs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[str(s["kind"]), str(s["period"]), str(s["name"]), channel_label(s.get("channel")),
             str(s["signed_at"]), "amendment" if s.get("amends") else "",
             str(s.get("note") or "")]
            for s in signoffs]


SIGNOFF_HEADER = ["kind", "period", "name", "channel", "signed at", "", "note"]


def overdue_rows(overdue: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Review periods that ended without a sign-off (``OverduePeriod.as_dict()``)."""
    return [[str(o["kind"]), str(o["period"]), str(o["start"]), str(o["end"])]
            for o in overdue]


OVERDUE_HEADER = ["kind", "period", "from", "to"]


def _latency_text(result: Mapping[str, Any]) -> str:
    lat = result.get("latency_ms")
    if not isinstance(lat, Mapping) or lat.get("p50") is None:
        return "—"
    return (" · ".join(f"{name} {_fmt(lat.get(key))} ms" for key, name in
                       (("p50", "P50"), ("p95", "P95"), ("p99", "P99")))
            + f" (n={_fmt(lat.get('count'))})")


def _loadtest_rows(runs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    out = []
    for r in runs:
        raw = r.get("result")
        result: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        summary = ", ".join(f"{k}={_fmt(v)}" for k, v in result.items()
                            if isinstance(v, int | float) and not isinstance(v, bool))
        again = r.get("reevaluation")
        now = str(again.get("message")) if isinstance(again, Mapping) else "as stored"
        out.append([str(r["id"]), str(r["started_at"]), str(r["mode"]), str(r["status"]),
                    _fmt(r["passed"]), "this package" if r["same_package"] else "other package",
                    str(r.get("profile_text") or "—"), _latency_text(result),
                    summary[:300] or _fmt(r.get("error")), now])
    return out


LOADTEST_HEADER = ["run", "started", "mode", "status", "passed", "evidence for", "profile",
                   "latency", "summary", "under the current policy"]


# --------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    meta = report.get("report", {})
    lines = [
        f"# Readiness report: {report['version']} — {report['status']}",
        "",
        f"- Score: **{_fmt(report['score'])} / {_fmt(report.get('max_score', 100))}**",
        f"- Package SHA-256: `{report.get('package_sha256') or 'none'}`",
        f"- Generated: {meta.get('generated_at', '')} · workspace `{meta.get('workspace', '')}`",
        "",
        "## Blockers",
        "",
    ]
    blockers = report.get("blockers", [])
    lines += _md_table(CHECK_HEADER, _rows_for_checks(blockers)) if blockers else [
        "None: every check passes.", ""]
    lines += ["## Checks by category", ""]
    for cat in report.get("categories", []):
        lines += [f"### {cat.get('label', cat['name'])} — {_fmt(cat['score'])} / "
                  f"{_fmt(cat['weight'])} ({cat.get('passed', '?')}/{cat.get('total', '?')})", ""]
        lines += _md_table(CHECK_HEADER, _rows_for_checks(cat.get("checks", [])))
    lines += ["## Load test", ""]
    lines += _md_table(LOADTEST_HEADER, _loadtest_rows(report["load_test"]["runs"]))
    lines += ["## Monitoring: daily checks", ""]
    header, rows = daily_table(report["monitoring"]["daily_checks"])
    lines += _md_table(header, rows)
    alerts = report["monitoring"]["alerts"]
    lines += ["### Alerts", ""]
    lines += _md_table(["time", "kind", "severity", "message"],
                       [[str(a["created_at"]), str(a["kind"]), str(a["severity"]),
                         str(a["message"])] for a in alerts])
    lines += _md_performance(report.get("performance"))
    ro = report["rollout"]
    gate = ro["gate"]
    lines += [
        "## Rollout", "",
        f"- {report['version']} is at **{ro['stage']} %** of traffic "
        f"(stable: {ro['state'].get('stable') or 'none'}, in rollout: "
        f"{ro['state'].get('canary') or 'none'})",
        f"- Next gate ({gate['current_stage']} % → {_fmt(gate['next_stage'])} %): "
        f"**{'ALLOWED' if gate['allowed'] else 'REFUSED'}**",
    ]
    lines += [f"  - {r}" for r in gate["reasons"]]
    lines += ["", "### Event log", ""]
    lines += _md_table(EVENT_HEADER, _event_rows(ro["events"]))
    rv = report["reviews"]
    lines += ["## Reviews", ""]
    for key in ("weekly", "monthly"):
        p = rv[key]
        s = p.get("signoff")
        state = f"signed off by {s['name']} at {s['signed_at']}" if s else "not signed off yet"
        lines += [f"- {key.capitalize()} {p['period']}: {state}"]
        if p.get("performance"):
            lines += [f"  - {figures_text(p['performance'])}"]
    lines += ["", "### Overdue", ""]
    lines += _md_table(OVERDUE_HEADER, overdue_rows(rv["overdue"]))
    lines += ["### Sign-offs", ""]
    lines += _md_table(SIGNOFF_HEADER, _signoff_rows(rv["signoffs"]))
    return "\n".join(lines).rstrip() + "\n"


def _md_performance(section: Mapping[str, Any] | None) -> list[str]:
    error, summary = performance_lines(section)
    lines = ["## Production performance", ""]
    if error is not None:
        return [*lines, f"Not available: {error}", ""]
    assert section is not None
    lines += _md_table(*day_table(section))
    return lines + [f"- {line}" for line in summary] + [""]


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#111827;padding:0 1rem}
h1{margin-bottom:.2rem} .ready{color:#16a34a} .notready{color:#dc2626}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f9fafb} tr.refused td{background:#fef2f2} tr.fail td{background:#fef2f2}
code{font-size:.85rem} .meta{color:#6b7280} .charts>div{margin-bottom:1rem}
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                row_classes: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_h(c)}</th>" for c in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{_h(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Mapping[str, Any]) -> str:
    from deployready.charts.report import figures  # plotly: the HTML only

    figs = figures(report)
    config = {"displaylogo": False, "responsive": True}
    chart_html = [
        fig.to_html(include_plotlyjs=(i == 0), full_html=False, config=config,
                    default_width="100%")
        for i, fig in enumerate(figs)
    ]
    ready = report["status"] == "READY"
    meta = report.get("report", {})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Readiness report {_h(report['version'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>{_h(report["version"])}: <span class="{"ready" if ready else "notready"}">'
        f"{_h(report['status'])}</span></h1>",
        f'<p class="meta">score {_h(_fmt(report["score"]))} / '
        f"{_h(_fmt(report.get('max_score', 100)))} · package "
        f"<code>{_h(report.get('package_sha256') or 'none')}</code> · generated "
        f"{_h(meta.get('generated_at', ''))} · workspace <code>{_h(meta.get('workspace', ''))}"
        "</code></p>",
        '<div class="charts">' + "".join(f"<div>{c}</div>" for c in chart_html[:2]) + "</div>",
        "<h2>Blockers</h2>",
    ]
    blockers = report.get("blockers", [])
    parts.append(_html_table(CHECK_HEADER, _rows_for_checks(blockers, marks=False)) if blockers
                 else "<p>None: every check passes.</p>")
    parts.append("<h2>Checks by category</h2>")
    for cat in report.get("categories", []):
        checks = cat.get("checks", [])
        parts.append(f"<h3>{_h(cat.get('label', cat['name']))} — {_h(_fmt(cat['score']))} / "
                     f"{_h(_fmt(cat['weight']))}</h3>")
        parts.append(_html_table(CHECK_HEADER, _rows_for_checks(checks, marks=False),
                                 ["" if c.get("status") == Status.PASS else "fail"
                                  for c in checks]))
    parts.append("<h2>Load test</h2>")
    parts.append(_html_table(LOADTEST_HEADER, _loadtest_rows(report["load_test"]["runs"])))
    parts.append("<h2>Monitoring: daily checks</h2>")
    extra = chart_html[2:]
    ro = report["rollout"]
    daily_chart = extra[-1] if report["monitoring"]["daily_checks"] else ""
    parts.append(daily_chart)
    header, rows = daily_table(report["monitoring"]["daily_checks"], status=status_label)
    parts.append(_html_table(header, rows))
    parts.append("<h3>Alerts</h3>")
    parts.append(_html_table(["time", "kind", "severity", "message"],
                             [[str(a["created_at"]), str(a["kind"]), str(a["severity"]),
                               str(a["message"])] for a in report["monitoring"]["alerts"]]))
    parts.extend(_html_performance(report.get("performance")))
    parts.extend(_html_rollout(ro, extra))
    parts.extend(_html_reviews(report["reviews"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_rollout(ro: Mapping[str, Any], extra: list[str]) -> list[str]:
    """The report's Rollout section in HTML: its charts, the next gate, the event log."""
    gate = ro["gate"]
    parts = ["<h2>Rollout</h2>", extra[0] if extra else ""]
    if ro["events"] and len(extra) > 1:
        parts.append(extra[1])
    parts.append(
        f"<p>Next gate ({_h(gate['current_stage'])} % → {_h(_fmt(gate['next_stage']))} %): "
        f"<strong>{'ALLOWED' if gate['allowed'] else 'REFUSED'}</strong></p><ul>"
        + "".join(f"<li>{_h(r)}</li>" for r in gate["reasons"]) + "</ul>"
    )
    parts.append("<h3>Event log</h3>")
    events = ro["events"]
    parts.append(_html_table(EVENT_HEADER, _event_rows(events),
                             ["" if e["allowed"] else "refused" for e in events]))
    return parts


def _html_performance(section: Mapping[str, Any] | None) -> list[str]:
    """The report's Production performance section in HTML."""
    error, summary = performance_lines(section)
    parts = ["<h2>Production performance</h2>"]
    if error is not None:
        return [*parts, f"<p>Not available: {_h(error)}</p>"]
    assert section is not None
    header, rows = day_table(section)
    marks = [status_label(d["status"]) if d["status"] == Status.FAIL else ""
             for d in section.get("realized", [])]
    parts.append(_html_table(header, rows, marks))
    return [*parts, "<ul>" + "".join(f"<li>{_h(line)}</li>" for line in summary) + "</ul>"]


def _html_reviews(rv: Mapping[str, Any]) -> list[str]:
    """The report's Reviews section in HTML: this period's sign-offs, the overdue ones."""
    parts = ["<h2>Reviews</h2><ul>"]
    for key in ("weekly", "monthly"):
        p = rv[key]
        s = p.get("signoff")
        state = f"signed off by {s['name']} at {s['signed_at']}" if s else "not signed off yet"
        more = f"<br>{_h(figures_text(p['performance']))}" if p.get("performance") else ""
        parts.append(f"<li>{_h(key.capitalize())} {_h(p['period'])}: {_h(state)}{more}</li>")
    parts.append("</ul><h3>Overdue</h3>")
    parts.append(_html_table(OVERDUE_HEADER, overdue_rows(rv["overdue"])))
    parts.append("<h3>Sign-offs</h3>")
    parts.append(_html_table(SIGNOFF_HEADER, _signoff_rows(rv["signoffs"])))
    return parts
