"""Review checklists: daily items from the daily check, weekly and monthly sign-offs.

- **Daily** items are automated: each day's stored daily check record
  (:mod:`deployready.monitoring.daily_store`) is read back as four items — P99 latency,
  error-rate spike, prediction distribution (PSI) and feature drift (PSI below the alert
  threshold) — each a :class:`~deployready.checks.Check` of category ``review`` with the
  record's own status. An item the record does not carry (a record written before the
  check existed) is ``missing``. A day is green exactly when its record is
  (:func:`deployready.monitoring.daily_store.is_green`).
- **Weekly** and **monthly** items come from ``policy.reviews``; asked for, each period
  carries the production-performance figures it is signed off against (weekly: realized
  and estimated performance, importance stability; monthly: the retrain decision —
  :mod:`deployready.rollout.review_figures`). A person signs a
  period off with their name, the time and a note; the period is an ISO week
  (``2026-W47``) or a month (``2026-11``).
- A period is signed once. Signing it again is an error naming the period, unless
  ``amend=True``: an amendment is a new row (the history is kept) and the latest row is
  the period's sign-off.
- An unticked item needs a note saying why.
- **Overdue**: a period that has ended with no sign-off. Tracking starts with the
  period of the first evidence of production (the first allowed rollout event or the
  first daily check), or an explicit ``since`` date.

Periods are defined in :mod:`deployready.rollout.periods`, sign-offs stored by
:mod:`deployready.rollout.signoffs`; this module re-exports their names (:data:`__all__`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from deployready.checks import Category, Check, Status
from deployready.monitoring.daily_store import DailyRecord, first_daily_date, is_green, newest_daily
from deployready.policy import Policy

if TYPE_CHECKING:
    from deployready.performance.api import PerformanceReport
from deployready.rollout.periods import (
    KINDS,
    Kind,
    next_period,
    period_bounds,
    period_of,
    periods_between,
)
from deployready.rollout.signoffs import (
    SignOff,
    current_signoffs,
    policy_items,
    sign_off,
    signoff_history,
)
from deployready.rollout.state import first_allowed_at
from deployready.workspace import Workspace

__all__ = [
    "DAILY_ITEMS",
    "ITEM_LABELS",
    "KINDS",
    "Checklists",
    "DailyReview",
    "Kind",
    "Overdue",
    "PeriodReview",
    "SignOff",
    "checklists",
    "current_signoffs",
    "daily_items_of",
    "daily_reviews",
    "next_period",
    "overdue",
    "overdue_periods",
    "period_bounds",
    "period_of",
    "periods_between",
    "policy_items",
    "review_item_dict",
    "sign_off",
    "signoff_history",
    "tracking_start",
]


@dataclass(frozen=True)
class Overdue:
    kind: str
    period: str
    start: date
    end: date  # exclusive
    items: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "period": self.period, "start": self.start.isoformat(),
                "end": (self.end - timedelta(days=1)).isoformat(), "items": self.items}


def tracking_start(ws: Workspace) -> date | None:
    """The first day with production evidence: an allowed rollout event or a daily check."""
    first_event = first_allowed_at(ws)
    found = [d for d in (first_event.date() if first_event else None, first_daily_date(ws)) if d]
    return min(found) if found else None


def overdue_periods(
    signed: Sequence[str], kind: str, since: date | None, today: date, items: list[str]
) -> list[Overdue]:
    """Ended periods from ``since`` up to ``today`` that are not in ``signed``."""
    if since is None:
        return []
    done = set(signed)
    out: list[Overdue] = []
    for period in periods_between(kind, since, today):
        start, end = period_bounds(kind, period)
        if end <= today and period not in done:
            out.append(Overdue(kind, period, start, end, items))
    return out


def overdue(
    ws: Workspace,
    *,
    today: date | None = None,
    since: date | None = None,
    policy: Policy | None = None,
) -> list[Overdue]:
    """Weekly and monthly periods that have ended without a sign-off, oldest first."""
    policy = policy or ws.policy()
    today = today or datetime.now(UTC).date()
    since = since or tracking_start(ws)
    out: list[Overdue] = []
    for kind in KINDS:
        out.extend(overdue_periods(list(current_signoffs(ws, kind)), kind, since, today,
                                   policy_items(policy, kind)))
    return sorted(out, key=lambda o: (o.end, o.kind))  # the longest overdue first


# --------------------------------------------------------------------------- daily items

DAILY_ITEMS: tuple[tuple[str, str], ...] = (
    ("p99", "P99 latency within target"),
    ("error_spike", "No error-rate spike"),
    ("prediction_psi", "Prediction distribution stable (PSI)"),
    ("feature_psi", "Feature drift PSI below alert"),
)


#: Label of each daily review item, by name.
ITEM_LABELS: dict[str, str] = dict(DAILY_ITEMS)

#: The keys of a daily review item in JSON (``reviews --json``, the report).
_ITEM_KEYS = ("status", "value", "threshold", "message")


def review_item_dict(item: Check) -> dict[str, Any]:
    """A review item as serialized: its name as ``key``, with its ``label``."""
    return {"key": item.name, "label": ITEM_LABELS.get(item.name, item.name),
            **item.as_dict(_ITEM_KEYS)}


@dataclass(frozen=True)
class DailyReview:
    date: str
    version: str
    package_sha256: str
    status: str
    created_at: str
    items: list[Check] = field(default_factory=list)

    @property
    def green(self) -> bool:
        return is_green(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date, "version": self.version,
                "package_sha256": self.package_sha256, "status": self.status,
                "created_at": self.created_at, "green": self.green,
                "items": [review_item_dict(i) for i in self.items]}


def daily_items_of(record: DailyRecord) -> list[Check]:
    """The four review items of a stored daily check, with the record's own verdicts.

    An item the record does not have is ``missing``; ``pending`` (no evidence that day)
    stays ``pending``.
    """
    items: list[Check] = []
    for key, _label in DAILY_ITEMS:
        c = record.check(key)
        if c is None:
            items.append(Check(key, Category.REVIEW, Status.MISSING, None, "",
                               "not in the daily record"))
            continue
        items.append(Check(key, Category.REVIEW, c.status, c.value, c.threshold, c.message))
    return items


def daily_reviews(
    ws: Workspace,
    version: str | None = None,
    *,
    days: int | None = 30,
) -> list[DailyReview]:
    """The newest ``days`` stored daily checks (newest first), optionally of one version."""
    return [
        DailyReview(date=r.date, version=r.version, package_sha256=r.package_sha256,
                    status=r.status, created_at=r.created_at, items=daily_items_of(r))
        for r in newest_daily(ws, version, days)
    ]


# --------------------------------------------------------------------------- the checklist


@dataclass(frozen=True)
class PeriodReview:
    kind: str
    period: str
    start: date
    end: date  # exclusive
    items: list[str]
    signoff: SignOff | None
    #: the production-performance figures it is signed off against
    #: (:mod:`deployready.rollout.review_figures`; None when not asked for)
    performance: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "period": self.period, "start": self.start.isoformat(),
                "end": (self.end - timedelta(days=1)).isoformat(), "items": self.items,
                "signoff": self.signoff.as_dict() if self.signoff else None,
                "performance": self.performance}


@dataclass(frozen=True)
class Checklists:
    daily: list[DailyReview]
    weekly: PeriodReview
    monthly: PeriodReview
    overdue: list[Overdue]
    history: list[SignOff]

    def as_dict(self) -> dict[str, Any]:
        return {"daily": [d.as_dict() for d in self.daily], "weekly": self.weekly.as_dict(),
                "monthly": self.monthly.as_dict(),
                "overdue": [o.as_dict() for o in self.overdue],
                "history": [s.as_dict() for s in self.history]}


def checklists(
    ws: Workspace,
    version: str | None = None,
    *,
    today: date | None = None,
    days: int = 14,
    policy: Policy | None = None,
    performance: bool | PerformanceReport = False,
) -> Checklists:
    """Everything the Monitoring page and the report show about reviews;
    ``performance`` adds each period's performance figures (True: read from the labels
    and logs; a report of the month: taken from it)."""
    from deployready.rollout.review_figures import period_figures

    policy = policy or ws.policy()
    today = today or datetime.now(UTC).date()
    reviews: dict[str, PeriodReview] = {}
    for kind in KINDS:
        period = period_of(kind, today)
        start, end = period_bounds(kind, period)
        figures = None
        if performance is not False:
            given = performance if not isinstance(performance, bool) else None
            figures = period_figures(ws, kind, end, version, today, given)
        reviews[kind] = PeriodReview(kind, period, start, end, policy_items(policy, kind),
                                     current_signoffs(ws, kind).get(period), figures)
    return Checklists(
        daily=daily_reviews(ws, version, days=days),
        weekly=reviews["weekly"], monthly=reviews["monthly"],
        overdue=overdue(ws, today=today, policy=policy),
        history=signoff_history(ws),
    )
