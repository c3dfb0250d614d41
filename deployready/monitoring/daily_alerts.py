"""The alerts of a daily record: one per failed item, one per warning, one for no data.

- a **failed** item (``fail``) raises an alert of its kind and severity (:data:`KINDS`);
- a **warning** item (``warn``: estimated performance below a threshold before the
  labels arrive) raises a ``warning`` alert of its kind — a warning, not a verdict: it
  does not turn the day red;
- a day without log rows raises a ``no_data`` warning.

Alerts are keyed ``daily/<version>/<date>/<item>``: a re-run finds the existing alert
and neither stores nor sends it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployready.checks import Status
from deployready.monitoring.alerts import Alert, Severity

if TYPE_CHECKING:
    from deployready.monitoring.daily_store import DailyRecord

#: item name → (alert kind, severity when the item fails)
KINDS: dict[str, tuple[str, Severity]] = {
    "p99": ("latency_p99", "critical"),
    "error_spike": ("error_rate", "critical"),
    "prediction_psi": ("prediction_drift", "warning"),
    "feature_psi": ("feature_drift", "warning"),
    "latency_spike": ("latency_spike", "critical"),
    "latency_drift": ("latency_drift", "warning"),
    "realized_performance": ("performance", "critical"),
    "estimated_performance": ("estimated_performance", "warning"),
}


def alert_key(version: str, day: str, check: str) -> str:
    return f"daily/{version}/{day}/{check}"


def alerts_of(record: DailyRecord) -> list[Alert]:
    """The alerts the record raises (see the module doc)."""
    if record.status == "no_data":
        return [
            Alert(
                "no_data",
                "warning",
                f"{record.version}: no production logs on {record.date}",
                record.version,
                {"date": record.date},
                alert_key(record.version, record.date, "no_data"),
            )
        ]
    out = []
    for i in record.checks:
        if i.status not in (Status.FAIL, Status.WARN):
            continue
        kind, severity = KINDS.get(i.name, (i.name, "warning"))
        what = "failed" if i.status is Status.FAIL else "warning"
        out.append(Alert(
            kind,
            severity if i.status is Status.FAIL else "warning",
            f"{record.version} {record.date}: {i.name} {what} — {i.message}",
            record.version,
            {"date": record.date, "check": i.name, "value": i.value, "threshold": i.threshold},
            alert_key(record.version, record.date, i.name),
        ))
    return out
