"""Time bounds, days and windows: UTC everywhere.

Shared by the policy (which validates the latency window and baseline bounds so that an
error names ``deployready.toml``) and the monitoring that measures over them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

import pandas as pd

from deployready.errors import LogError

__all__ = [
    "TimeLike",
    "as_date",
    "day_bounds",
    "to_utc",
    "utc_today",
    "window_delta",
    "yesterday",
]

TimeLike: TypeAlias = str | date | datetime | pd.Timestamp | None


def to_utc(value: TimeLike) -> pd.Timestamp | None:
    """A time bound as a UTC timestamp (a bare date means its midnight UTC)."""
    if value is None or value == "":
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def day_bounds(day: str | date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = to_utc(pd.Timestamp(day).date())
    assert start is not None
    return start, start + pd.Timedelta(days=1)


def window_delta(window: str) -> pd.Timedelta:
    """A window alias (``1h``, ``15min``, ``1D``) that divides one day evenly."""
    try:
        delta = pd.Timedelta(pd.tseries.frequencies.to_offset(window))
    except (ValueError, TypeError) as exc:
        raise LogError(
            f"invalid window {window!r}",
            location="latency.window",
            expected="e.g. '1h', '15min', '1D'",
        ) from exc
    day = pd.Timedelta(days=1)
    if delta <= pd.Timedelta(0) or day % delta != pd.Timedelta(0):
        raise LogError(
            f"window {window!r} does not divide a day",
            location="latency.window",
            expected="a window that divides 24 h, e.g. '1h', '15min', '1D'",
        )
    return delta


def utc_today() -> date:
    return datetime.now(UTC).date()


def as_date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise LogError(f"invalid date {value!r}", location="date", expected="YYYY-MM-DD") from exc


def yesterday() -> date:
    return utc_today() - timedelta(days=1)
