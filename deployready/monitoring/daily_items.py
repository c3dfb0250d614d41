"""The six items of a day's daily check, as :class:`~deployready.checks.Check` records.

Each item is ``pass``, ``fail`` or ``pending`` (no evidence that day). The decisions
are the engine's own, asked here, never re-coded: a P99 comparison is
:func:`deployready.checks.verdict`, a PSI level is
:func:`deployready.monitoring.drift.psi_level`, a latency spike and a latency drift are
:func:`deployready.monitoring.latency.spike_status` and
:meth:`deployready.monitoring.latency.LatencyDrift.status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployready.checks import Category, Check, Status, pass_fail, verdict
from deployready.monitoring.drift import DriftResult, psi_level
from deployready.monitoring.latency import Baseline, drift_of, spike_status
from deployready.policy import DailyPolicy, Policy

CHECK_NAMES = (
    "p99",
    "error_spike",
    "prediction_psi",
    "feature_psi",
    "latency_spike",
    "latency_drift",
)


@dataclass(frozen=True)
class DayMeasures:
    """What was measured on one day of one version's production logs."""

    rows: int
    errors: int
    trailing: float | None  # median error rate of the previous days
    latency: Mapping[str, Any]  # summary of the successful requests (count, p50, …)
    spikes: list[dict[str, Any]]
    baseline: Baseline
    drift: DriftResult | None


def _item(name: str, status: Status, value: Any, threshold: str, message: str) -> Check:
    return Check(name, Category.DAILY, status, value, threshold, message)


def as_number(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if v != v else v


def is_error_spike(rate: float, trailing: float | None, daily: DailyPolicy) -> bool:
    """Above ``max_error_rate``, or above ``error_spike_factor`` × a trailing median > 0."""
    relative = bool(trailing) and rate > daily.error_spike_factor * float(trailing or 0)
    return rate > daily.max_error_rate or relative


def p99_item(policy: Policy, m: DayMeasures) -> Check:
    limit = policy.latency.p99_ms
    p99 = as_number(m.latency.get("p99"))
    if p99 is None:
        return _item(
            "p99", Status.PENDING, None, f"< {limit:g} ms", "No successful requests: no P99."
        )
    return _item(
        "p99",
        verdict(p99, "<", limit),
        round(p99, 3),
        f"< {limit:g} ms",
        f"P99 {p99:.1f} ms over {m.latency.get('count')} requests.",
    )


def error_item(policy: Policy, m: DayMeasures) -> Check:
    daily = policy.daily
    limit = f"≤ {daily.max_error_rate:.2%} and ≤ {daily.error_spike_factor:g}× the 7-day median"
    if not m.rows:
        return _item("error_spike", Status.PENDING, None, limit, "No requests.")
    rate = m.errors / m.rows
    med = "n/a" if m.trailing is None else f"{m.trailing:.2%}"
    return _item(
        "error_spike",
        pass_fail(not is_error_spike(rate, m.trailing, daily)),
        round(rate, 6),
        limit,
        f"{m.errors} errors in {m.rows} requests ({rate:.2%}); 7-day median {med}.",
    )


def prediction_item(policy: Policy, m: DayMeasures) -> Check:
    alert = policy.daily.prediction_psi_alert
    pred = m.drift.prediction if m.drift else None
    if pred is None or pred.psi is None:
        return _item(
            "prediction_psi", Status.PENDING, None, f"< {alert:g}", "No predictions to compare."
        )
    return _item(
        "prediction_psi",
        pass_fail(psi_level(pred.psi, policy.drift.psi_warn, alert) != "alert"),
        round(pred.psi, 6),
        f"< {alert:g}",
        f"Prediction PSI {pred.psi:.3f} over {pred.count} predictions.",
    )


def feature_item(policy: Policy, m: DayMeasures) -> Check:
    dp, drift = policy.drift, m.drift
    if drift is None or drift.max_psi is None:
        return _item(
            "feature_psi",
            Status.PENDING,
            None,
            f"< {dp.psi_alert:g}",
            "No feature values to compare.",
        )
    alert, warn = drift.alerting, drift.warning
    parts = []
    if alert:
        parts.append("alert: " + ", ".join(f"{n} {drift.features[n].psi:.3f}" for n in alert))
    if warn:
        parts.append("amber: " + ", ".join(f"{n} {drift.features[n].psi:.3f}" for n in warn))
    found = (
        "; ".join(parts) if parts else f"All {len(drift.features)} features below {dp.psi_warn:g}"
    )
    return _item(
        "feature_psi",
        pass_fail(not alert),
        round(drift.max_psi, 6),
        f"< {dp.psi_alert:g} per feature",
        f"{found} (max PSI {drift.max_psi:.3f}).",
    )


def spike_item(policy: Policy, m: DayMeasures) -> Check:
    lp = policy.latency
    threshold = f"P99 ≤ {lp.spike_ms:g} ms per {lp.window}"
    if not m.latency.get("count"):
        return _item("latency_spike", Status.PENDING, 0, threshold, "No successful requests.")
    spikes = m.spikes
    times = ", ".join(
        f"{s['start'][11:16]}–{s['end'][11:16]} UTC (P99 {s['p99']:.0f} ms)" for s in spikes[:12]
    )
    return _item(
        "latency_spike",
        spike_status(spikes),
        len(spikes),
        threshold,
        f"{len(spikes)} window(s) above {lp.spike_ms:g} ms: {times}."
        if spikes
        else f"No {lp.window} window with P99 above {lp.spike_ms:g} ms.",
    )


def drift_item(policy: Policy, m: DayMeasures) -> Check:
    lp, baseline = policy.latency, m.baseline
    threshold = f"≤ {lp.max_drift:.0%} slower"
    d = drift_of(m.latency, baseline)
    if d.value is None:
        return _item(
            "latency_drift",
            Status.PENDING,
            None,
            threshold,
            f"No latency baseline: {baseline.message}.",
        )
    return _item(
        "latency_drift",
        d.status(lp.max_drift),
        round(d.value, 4),
        threshold,
        f"P95 {d.p95_change:+.0%}, P99 {d.p99_change:+.0%} vs the {baseline.kind} baseline "
        f"({baseline.source}).",
    )


def daily_items(policy: Policy, measures: DayMeasures) -> list[Check]:
    """The items of one day, in :data:`CHECK_NAMES` order."""
    builders = (p99_item, error_item, prediction_item, feature_item, spike_item, drift_item)
    return [build(policy, measures) for build in builders]
