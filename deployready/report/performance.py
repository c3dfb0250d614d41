"""The report's Performance section as tables: one row per prediction day (realized
metric with its interval, labelled/predictions, coverage, status, provisional; the
estimate and its status), the estimate's error against realized, importance stability
and the retrain decision — from ``PerformanceReport.as_dict()`` (the report's
``performance`` key), shared by the Markdown and HTML renderers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployready.checks import MISSING_VALUE, status_label
from deployready.checks import format_value as _fmt


def _figure(fig: Mapping[str, Any] | None) -> str:
    if not fig or fig.get("value") is None:
        return MISSING_VALUE
    if fig.get("low") is None:
        return f"{fig['value']:.3f}"
    return f"{fig['value']:.3f} [{fig['low']:.3f}, {fig['high']:.3f}]"


def metric_names(section: Mapping[str, Any]) -> list[str]:
    return list(section.get("estimate_error") or {})


def day_table(section: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-day table."""
    names = metric_names(section)
    header = ["day", "realized", "final", "labelled", "coverage",
              *[f"{n} (CI)" for n in names], "estimate", *[f"est. {n}" for n in names]]
    estimated = {e["day"]: e for e in section.get("estimated", [])}
    rows = []
    for d in section.get("realized", []):
        counts = d["counts"]
        est = estimated.get(d["day"], {})
        values = est.get("values", {})
        coverage = counts["labelled"] / counts["predictions"] if counts["predictions"] else 0.0
        rows.append([
            str(d["day"]), status_label(d["status"]),
            "provisional" if d["provisional"] else "final",
            f"{counts['labelled']}/{counts['predictions']}", f"{coverage:.1%}",
            *[_figure(d["metrics"].get(n)) for n in names],
            status_label(est["status"]) if est else MISSING_VALUE,
            *[_fmt(values.get(n)) for n in names],
        ])
    return header, rows


def summary_lines(section: Mapping[str, Any]) -> list[str]:
    """The estimate's error, the calibration, importance stability and the retrain
    decision, one statement each."""
    cal = section.get("calibration", {})
    errors = section.get("estimate_error") or {}
    lines = [
        "Estimate error (mean |estimate − realized| over the judged days): "
        + (", ".join(f"{n} {_fmt(e)}" for n, e in errors.items()) or MISSING_VALUE),
        "Calibration (CBPE): " + ("reliable" if cal.get("reliable") else "unreliable")
        + f", {cal.get('rows', 0)} holdout rows, cross-fitted ECE {_fmt(cal.get('error'))}"
        + (f" — {cal['reason']}" if cal.get("reason") else ""),
    ]
    imp = section.get("importance")
    if imp:
        checks = [c for c in section.get("checks", []) if c["name"].startswith("importance_")]
        lines.append("Importance stability: " + "; ".join(
            f"{c['name']} {status_label(c['status'])} ({c['message']})" for c in checks))
    retrain = section.get("retrain") or {}
    lines.append(f"Retrain decision: {str(retrain.get('recommendation', '')).upper()} — "
                 + "; ".join(retrain.get("reasons", [])))
    return lines


def performance_lines(section: Mapping[str, Any] | None) -> tuple[str | None, list[str]]:
    """(error, summary lines) of the section; the error when it could not be read."""
    if not section:
        return "not computed", []
    if "error" in section:
        return str(section["error"]), []
    return None, summary_lines(section)


def figures_text(figures: Mapping[str, Any] | None) -> str:
    """A review period's performance figures in one line (weekly or monthly)."""
    if not figures:
        return ""
    if "error" in figures:
        return f"performance: {figures['error']}"
    if "recommendation" in figures:
        return (f"retrain decision ({figures['start']} .. {figures['end']}): "
                f"{str(figures['recommendation']).upper()} — {'; '.join(figures['reasons'])}")
    metrics: Mapping[str, Any] = figures.get("metrics", {})
    parts = [f"{n} realized {_fmt(m['realized'])} / estimated {_fmt(m['estimated'])}"
             for n, m in metrics.items()]
    imp = figures.get("importance") or {}
    return (f"performance {figures['start']} .. {figures['end']}: " + "; ".join(parts)
            + f"; failed days {len(figures['failed_days'])}, pending "
            f"{len(figures['pending_days'])}; importance ρ {_fmt(imp.get('rank_correlation'))},"
            f" top-k overlap {_fmt(imp.get('top_k_overlap'))}")
