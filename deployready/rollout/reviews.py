"""Review checklists: daily items from the daily check, weekly and monthly sign-offs.

- **Daily** items are automated: each day's stored daily check record
  (:mod:`deployready.monitoring.daily_store`) is read back as four items — P99 latency,
  error-rate spike, prediction distribution (PSI) and feature drift (PSI below the alert
  threshold) — each a :class:`~deployready.checks.Check` of category ``review`` with the
  record's own status. An item the record does not carry (a record written before the
  check existed) is ``missing``. A day is green exactly when its record is
  (:func:`deployready.monitoring.daily_store.is_green`).
- **Weekly** and **monthly** items come from ``policy.reviews``. A person signs a
  period off with their name, the time and a note; the period is an ISO week
  (``2026-W47``) or a month (``2026-11``).
- A period is signed once. Signing it again is an error naming the period, unless
  ``amend=True``: an amendment is a new row (the history is kept) and the latest row is
  the period's sign-off.
- An unticked item needs a note saying why.
- **Overdue**: a period that has ended with no sign-off. Tracking starts with the
  period of the first evidence of production (the first allowed rollout event or the
  first daily check), or an explicit ``since`` date.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from deployready.checks import Category, Check, Status
from deployready.errors import InputError
from deployready.monitoring.daily_store import DailyRecord, first_daily_date, is_green, newest_daily
from deployready.policy import Policy
from deployready.rollout.state import first_allowed_at
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


# --------------------------------------------------------------------------- periods


def _kind(kind: str) -> Kind:
    if kind == "weekly":
        return "weekly"
    if kind == "monthly":
        return "monthly"
    raise InputError(f"unknown review kind {kind!r}", location="--kind",
                     expected="weekly or monthly")


def period_of(kind: str, day: date) -> str:
    """The period containing ``day``: ``2026-W47`` (ISO week) or ``2026-11``."""
    if _kind(kind) == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def period_bounds(kind: str, period: str) -> tuple[date, date]:
    """First day and the day after the last day of a period (half-open)."""
    if _kind(kind) == "weekly":
        match = _WEEK_RE.match(period)
        if match:
            year, week = int(match.group(1)), int(match.group(2))
            try:
                start = date.fromisocalendar(year, week, 1)
            except ValueError:
                start = None
            if start is not None:
                return start, start + timedelta(days=7)
        raise InputError(f"not an ISO week: {period!r}", location="--period",
                         expected="YYYY-Www, a week that exists in that ISO year (e.g. 2026-W47)")
    match = _MONTH_RE.match(period)
    if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 1:
        year, month = int(match.group(1)), int(match.group(2))
        start = date(year, month, 1)
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return start, end
    raise InputError(f"not a month: {period!r}", location="--period",
                     expected="YYYY-MM (e.g. 2026-11)")


def next_period(kind: str, period: str) -> str:
    return period_of(kind, period_bounds(kind, period)[1])


def periods_between(kind: str, first: date, last: date) -> list[str]:
    """Every period from the one containing ``first`` to the one containing ``last``."""
    if last < first:
        return []
    out = [period_of(kind, first)]
    end = period_of(kind, last)
    while out[-1] != end:
        out.append(next_period(kind, out[-1]))
    return out


# --------------------------------------------------------------------------- sign-offs


@dataclass(frozen=True)
class SignOff:
    id: int
    kind: str
    period: str
    version: str | None
    name: str
    signed_at: str
    note: str
    items: list[dict[str, Any]]
    amends: int | None = None  # id of the sign-off this one amends

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SignOff:
        try:
            raw = json.loads(row["items_json"] or "[]")
        except json.JSONDecodeError:
            raw = []
        items: list[dict[str, Any]]
        amends: int | None = None
        if isinstance(raw, dict):
            items = list(raw.get("items", []))
            amends = raw.get("amends")
        else:
            items = list(raw)
        return cls(
            id=int(row["id"]), kind=str(row["kind"]), period=str(row["period"]),
            version=row["version"], name=str(row["name"]), signed_at=str(row["signed_at"]),
            note=str(row["note"]), items=items, amends=amends,
        )

    @property
    def complete(self) -> bool:
        return all(bool(i.get("done")) for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "period": self.period, "version": self.version,
            "name": self.name, "signed_at": self.signed_at, "note": self.note,
            "items": self.items, "amends": self.amends, "complete": self.complete,
        }


_SIGNOFF_SQL = "SELECT id, kind, period, version, name, signed_at, note, items_json FROM signoffs"


def signoff_history(ws: Workspace, kind: str | None = None) -> list[SignOff]:
    """Every sign-off row, newest first (amendments included)."""
    if kind is None:
        rows = ws.store.query(f"{_SIGNOFF_SQL} ORDER BY id DESC")
    else:
        rows = ws.store.query(f"{_SIGNOFF_SQL} WHERE kind = ? ORDER BY id DESC", (_kind(kind),))
    return [SignOff.from_row(r) for r in rows]


def current_signoffs(ws: Workspace, kind: str) -> dict[str, SignOff]:
    """The effective sign-off of each signed period (the latest row of the period)."""
    out: dict[str, SignOff] = {}
    for s in signoff_history(ws, kind):
        out.setdefault(s.period, s)
    return out


def policy_items(policy: Policy, kind: str) -> list[str]:
    return list(policy.reviews.weekly if _kind(kind) == "weekly" else policy.reviews.monthly)


def sign_off(
    ws: Workspace,
    kind: str,
    period: str,
    *,
    name: str,
    note: str = "",
    version: str | None = None,
    done: Mapping[str, bool] | None = None,
    amend: bool = False,
    today: date | None = None,
    policy: Policy | None = None,
) -> SignOff:
    """Sign a weekly or monthly review period off.

    ``done`` maps each policy item to whether it was done (default: all done); an item
    not done needs a ``note``. A future period cannot be signed; the current one can.
    """
    kind = _kind(kind)
    policy = policy or ws.policy()
    name = name.strip()
    note = note.strip()
    if not name:
        raise InputError("a name is required to sign off", location="--name",
                         expected="the reviewer's name")
    start, _ = period_bounds(kind, period)
    today = today or datetime.now(UTC).date()
    if start > today:
        raise InputError(f"{kind} review {period} has not started yet", location="--period",
                         expected=f"{period_of(kind, today)} or earlier")
    items = policy_items(policy, kind)
    done = dict(done) if done is not None else dict.fromkeys(items, True)
    unknown = [k for k in done if k not in items]
    if unknown:
        raise InputError(f"unknown {kind} review item {unknown[0]!r}", location="items",
                         expected="; ".join(items))
    recorded = [{"item": item, "done": bool(done.get(item, False))} for item in items]
    skipped = [r["item"] for r in recorded if not r["done"]]
    if skipped and not note:
        raise InputError(f"{len(skipped)} item(s) not done ({skipped[0]!r}…): say why in the note",
                         location="--note", expected="a note explaining the items not done")
    with ws.store.transaction() as conn:
        existing = conn.execute(
            f"{_SIGNOFF_SQL} WHERE kind = ? AND period = ? ORDER BY id DESC LIMIT 1",
            (kind, period),
        ).fetchone()
        if existing is not None and not amend:
            prev = SignOff.from_row(existing)
            raise InputError(
                f"{kind} review {period} was already signed off by {prev.name} at "
                f"{prev.signed_at}", location="--period",
                expected="another period, or --amend to amend this sign-off",
            )
        payload: Any = recorded
        if existing is not None:
            payload = {"items": recorded, "amends": int(existing["id"])}
        cur = conn.execute(
            "INSERT INTO signoffs (kind, period, version, name, signed_at, note, items_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, period, version, name, utcnow(), note, dumps(payload)),
        )
        row = conn.execute(f"{_SIGNOFF_SQL} WHERE id = ?", (cur.lastrowid,)).fetchone()
    return SignOff.from_row(row)


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

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "period": self.period, "start": self.start.isoformat(),
                "end": (self.end - timedelta(days=1)).isoformat(), "items": self.items,
                "signoff": self.signoff.as_dict() if self.signoff else None}


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
) -> Checklists:
    """Everything the Monitoring page and the report show about reviews."""
    policy = policy or ws.policy()
    today = today or datetime.now(UTC).date()
    reviews: dict[str, PeriodReview] = {}
    for kind in KINDS:
        period = period_of(kind, today)
        start, end = period_bounds(kind, period)
        reviews[kind] = PeriodReview(kind, period, start, end, policy_items(policy, kind),
                                     current_signoffs(ws, kind).get(period))
    return Checklists(
        daily=daily_reviews(ws, version, days=days),
        weekly=reviews["weekly"], monthly=reviews["monthly"],
        overdue=overdue(ws, today=today, policy=policy),
        history=signoff_history(ws),
    )
