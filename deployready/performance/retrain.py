"""The retrain decision (monthly): ``retrain``, ``watch`` or ``no retrain``, with reasons.

Signals, over the period looked at:

- **realized decay**: days whose realized performance fails a certification threshold;
- **estimated decay**: days whose estimate is below a threshold (``warn``);
- **red-PSI features**: features whose drift check fails (PSI >= ``drift.psi_alert``);
- **importance instability**: failed importance-stability checks;
- **new labelled data**: labelled predictions made after the package's training cut-off
  (``training_data.cutoff`` of model_metadata.json, else the end of its training period,
  else its export time).

Decision (:func:`retrain_decision`, the one place it is made):

- ``retrain`` when realized performance failed on at least
  ``performance.retrain_fail_days`` days, or failed at all together with red-PSI features
  or unstable importances — and there are at least ``retrain_min_new_labels`` new
  labelled rows to retrain on;
- ``watch`` when any signal is present but the above does not hold (the reasons say
  which, including "not enough new labelled data to retrain on");
- ``no retrain`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from deployready.checks import Check, Status
from deployready.performance.estimated import EstimatedDay
from deployready.performance.realized import RealizedDay
from deployready.policy.sections import PerformancePolicy
from deployready.times import to_utc

Recommendation = Literal["retrain", "watch", "no retrain"]


@dataclass(frozen=True)
class RetrainDecision:
    recommendation: Recommendation
    reasons: list[str]
    signals: dict[str, Any] = field(default_factory=dict)


def training_cutoff(metadata: Mapping[str, Any]) -> pd.Timestamp | None:
    """The package's training cut-off (see the module doc); None when unknown."""
    training = metadata.get("training_data") or {}
    for value in (training.get("cutoff"), (training.get("period") or {}).get("end"),
                  metadata.get("created_at")):
        try:
            found = to_utc(value) if value else None
        except (ValueError, TypeError, OverflowError):
            found = None
        if found is not None:
            return found
    return None


def new_labels_since(joined: pd.DataFrame, cutoff: pd.Timestamp | None) -> int:
    """Labelled predictions made after ``cutoff`` (all of them when it is unknown)."""
    labelled = joined["label"].notna()
    if cutoff is not None:
        labelled &= joined["timestamp"] > cutoff
    return int(labelled.sum())


def retrain_decision(
    realized: Sequence[RealizedDay],
    estimated: Sequence[EstimatedDay],
    drift_checks: Iterable[Check],
    importance_checks: Iterable[Check],
    new_labels: int,
    policy: PerformancePolicy,
) -> RetrainDecision:
    """The recommendation and its reasons (see the module doc)."""
    failed = [d.day.isoformat() for d in realized if d.status is Status.FAIL]
    warned = [d.day.isoformat() for d in estimated if d.status is Status.WARN]
    red = [c.name for c in drift_checks if c.status is Status.FAIL]
    unstable = [c.name for c in importance_checks if c.status is Status.FAIL]
    reasons = []
    if failed:
        reasons.append(f"realized performance below threshold on {len(failed)} day(s)")
    if warned:
        reasons.append(f"estimated performance below threshold on {len(warned)} day(s)")
    if red:
        reasons.append(f"red PSI: {', '.join(red)}")
    if unstable:
        reasons.append(f"feature importance unstable: {', '.join(unstable)}")
    decayed = len(failed) >= policy.retrain_fail_days or bool(failed and (red or unstable))
    enough = new_labels >= policy.retrain_min_new_labels
    recommendation: Recommendation = "no retrain"
    if decayed and enough:
        recommendation = "retrain"
    elif reasons:
        recommendation = "watch"
        if decayed:
            reasons.append(f"not enough new labelled data to retrain on: {new_labels} < "
                           f"{policy.retrain_min_new_labels}")
    if not reasons:
        reasons.append("no decay, drift or instability")
    reasons.append(f"{new_labels} labelled predictions since the training cut-off")
    signals = {"failed_days": failed, "warned_days": warned, "red_psi": red,
               "unstable": unstable, "new_labels": new_labels}
    return RetrainDecision(recommendation, reasons, signals)
