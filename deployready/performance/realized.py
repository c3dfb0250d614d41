"""Realized performance: the policy's certification metrics per prediction day, on the
predictions whose labels have come.

For each day of the joined frame (:mod:`~deployready.performance.frame`):

- ``predictions`` = the day's rows + its unjoinable predictions; ``labelled`` = rows
  with a label; ``coverage`` = labelled / predictions;
- every metric of ``[certification.metrics]`` on the labelled rows, equal to the
  certification registry's (scikit-learn's) figures exactly: the labelled rows are
  sorted once and ROC AUC, average precision and KS read from that order, the Brier
  score and ECE computed as the registry computes them
  (:mod:`~deployready.performance.sorted_day`; other metrics by the registry), with a
  confidence interval at ``performance.confidence`` — DeLong for ROC AUC (from the same
  order), CLT for the Brier score and log loss, Boyd et al.'s logit interval for average
  precision, a seeded percentile bootstrap of the (score cell, label) count table for
  the others (:mod:`~deployready.performance.intervals`);
- **status**: ``pending`` while labelled < ``min_labelled`` or coverage <
  ``min_coverage`` (the finding says how many more labels are needed), or while the
  labelled rows hold a single class; else ``pass`` / ``fail`` against each metric's
  certification threshold;
- **provisional** until ``label_window_days`` whole days have passed since the end of
  the day, relative to the ``now`` given (labels can still arrive and change it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from deployready.checks import Category, Check, Evidence, Status, verdict
from deployready.performance.frame import JoinedDays, as_numbers, joined_days
from deployready.performance.intervals import metric_intervals
from deployready.performance.sorted_day import day_figures, sort_day
from deployready.policy.sections import MetricRule, PerformancePolicy


@dataclass(frozen=True)
class MetricFigure:
    """One metric of one day: value, interval and verdict against its threshold."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    interval: str  # "DeLong", "CLT", "logit" or "bootstrap"
    threshold: str  # e.g. ">= 0.8"
    status: Status


@dataclass(frozen=True)
class DayCounts:
    predictions: int  # joinable rows + unjoinable predictions
    unjoinable: int
    labelled: int

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0


@dataclass(frozen=True)
class RealizedDay:
    """Realized performance of one prediction day."""

    day: date
    counts: DayCounts
    provisional: bool
    final_on: date  # the first day the figures are final
    status: Status  # pending, pass or fail
    needed: int  # more labels needed before the day is judged (0 once it is)
    finding: str
    metrics: dict[str, MetricFigure] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


def labels_needed(counts: DayCounts, policy: PerformancePolicy) -> int:
    """How many more labels the day needs to meet both minimums (0 when it meets them)."""
    by_coverage = math.ceil(policy.min_coverage * counts.predictions - 1e-9)
    return max(0, policy.min_labelled - counts.labelled, by_coverage - counts.labelled)


def is_provisional(day: date, now: datetime, policy: PerformancePolicy) -> bool:
    """Labels may still arrive: fewer than ``label_window_days`` since the day ended."""
    return now.date() < final_on(day, policy)


def final_on(day: date, policy: PerformancePolicy) -> date:
    return day + timedelta(days=1 + policy.label_window_days)


def _figures(
    y: np.ndarray, p: np.ndarray, rules: Mapping[str, MetricRule], policy: PerformancePolicy
) -> dict[str, MetricFigure]:
    names = list(rules)
    day = sort_day(y, p)  # the one sort of the day's labelled rows
    values = day_figures(y, p, names, day)
    intervals = metric_intervals(
        {name: values[name] for name in names}, y, p,
        confidence=policy.confidence, resamples=policy.bootstrap_resamples, day=day,
    )
    return {
        name: MetricFigure(
            name,
            values[name],
            intervals[name].low,
            intervals[name].high,
            intervals[name].method,
            f"{rules[name].op} {rules[name].threshold:g}",
            verdict(values[name], rules[name].op, rules[name].threshold),
        )
        for name in names
    }


def realized_day(
    day: date,
    rows: pd.DataFrame,
    unjoinable: int,
    rules: Mapping[str, MetricRule],
    policy: PerformancePolicy,
    now: datetime,
) -> RealizedDay:
    """Realized performance of the joined ``rows`` of one day (see the module doc)."""
    return _realized(day, as_numbers(rows["label"]), as_numbers(rows["prediction"]), unjoinable,
                     rules, policy, now)


def _realized(
    day: date,
    label: np.ndarray,
    prediction: np.ndarray,
    unjoinable: int,
    rules: Mapping[str, MetricRule],
    policy: PerformancePolicy,
    now: datetime,
) -> RealizedDay:
    """:func:`realized_day` of the day's ``label`` (NaN: none yet) and ``prediction``."""
    labelled = ~np.isnan(label)
    counts = DayCounts(label.size + unjoinable, unjoinable, int(labelled.sum()))
    provisional = is_provisional(day, now, policy)
    needed = labels_needed(counts, policy)
    every = counts.labelled == label.size
    y = (label if every else label[labelled]).astype(np.int64)
    p = prediction if every else prediction[labelled]
    if needed:
        finding = (
            f"{counts.labelled} of {counts.predictions} predictions labelled "
            f"({counts.coverage:.1%}): {needed} more label(s) needed "
            f"(at least {policy.min_labelled} and {policy.min_coverage:.0%} coverage)"
        )
        figures: dict[str, MetricFigure] = {}
        status = Status.PENDING
    elif y.size == 0 or y.min() == y.max():
        finding = f"the {counts.labelled} labelled predictions hold a single class"
        figures, status = {}, Status.PENDING
    else:
        figures = _figures(y, p, rules, policy)
        failed = [f.name for f in figures.values() if f.status is Status.FAIL]
        status = Status.FAIL if failed else Status.PASS
        verdict_text = f"below threshold: {', '.join(failed)}" if failed else "all thresholds met"
        finding = (
            f"{verdict_text} on {counts.labelled} labelled predictions "
            f"({counts.coverage:.1%} coverage)"
        )
    if provisional:
        finding += f"; provisional until {final_on(day, policy).isoformat()}"
    result = RealizedDay(day, counts, provisional, final_on(day, policy), status, needed, finding,
                         figures)
    result.checks.extend(realized_checks(result, rules, policy))
    return result


def realized_checks(
    day: RealizedDay, rules: Mapping[str, MetricRule], policy: PerformancePolicy
) -> list[Check]:
    """One Check per certification metric of the day (``realized_<metric>``)."""
    checks = []
    for name, rule in rules.items():
        fig = day.metrics.get(name)
        detail = {
            "day": day.day.isoformat(),
            "labelled": day.counts.labelled,
            "predictions": day.counts.predictions,
            "unjoinable": day.counts.unjoinable,
            "coverage": day.counts.coverage,
            "provisional": day.provisional,
            "final_on": day.final_on.isoformat(),
            "labels_needed": day.needed,
            "confidence": policy.confidence,
        }
        if fig is None:
            status, value, message = day.status, None, day.finding
        else:
            status, value = fig.status, fig.value
            detail.update(low=fig.low, high=fig.high, interval=fig.interval)
            shown = "—" if fig.low is None else f"[{fig.low:.4g}, {fig.high:.4g}]"
            message = (
                f"{name} {fig.value:.4g} ({policy.confidence:.0%} CI {shown}, {fig.interval}) "
                f"on {day.counts.labelled} labelled predictions"
                + ("; provisional" if day.provisional else "")
            )
        checks.append(Check(
            f"realized_{name}", Category.PERFORMANCE, status, value,
            f"{rule.op} {rule.threshold:g}", message,
            Evidence("production log + data/labels (joined on request_id)", detail=detail),
        ))
    return checks


def realized_performance(
    joined: pd.DataFrame | JoinedDays,
    rules: Mapping[str, MetricRule],
    policy: PerformancePolicy,
    now: datetime,
    unjoinable: Mapping[date, int] | None = None,
) -> list[RealizedDay]:
    """Realized performance of every day of ``joined`` (a joined frame, or its
    :class:`~deployready.performance.frame.JoinedDays`) and every day with only
    unjoinable predictions, oldest first."""
    days = joined_days(joined)
    unjoinable = dict(unjoinable or {})
    label, prediction = as_numbers(days.frame["label"]), as_numbers(days.frame["prediction"])
    none = np.zeros(0, dtype=np.int64)
    return [
        _realized(d, label[days.rows.get(d, none)], prediction[days.rows.get(d, none)],
                  unjoinable.get(d, 0), rules, policy, now)
        for d in sorted(set(days.rows) | set(unjoinable))
    ]
