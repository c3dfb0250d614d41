"""Review periods: an ISO week (``2026-W47``) for weekly reviews, a month (``2026-11``)
for monthly ones, each a half-open range of days."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from deployready.errors import InputError

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def review_kind(kind: str) -> Kind:
    """``kind`` as a review kind; InputError unless weekly or monthly."""
    if kind == "weekly":
        return "weekly"
    if kind == "monthly":
        return "monthly"
    raise InputError(f"unknown review kind {kind!r}", location="--kind",
                     expected="weekly or monthly")


def period_of(kind: str, day: date) -> str:
    """The period containing ``day``: ``2026-W47`` (ISO week) or ``2026-11``."""
    if review_kind(kind) == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def period_bounds(kind: str, period: str) -> tuple[date, date]:
    """First day and the day after the last day of a period (half-open)."""
    if review_kind(kind) == "weekly":
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
