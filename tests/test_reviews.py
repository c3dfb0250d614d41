"""Review checklists: period maths (ISO weeks across years), sign-offs, overdue periods,
daily items read from the daily check records."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollout_support import add_daily, insert_event, make_workspace

from deployready.errors import InputError
from deployready.rollout.reviews import (
    checklists,
    current_signoffs,
    daily_reviews,
    next_period,
    overdue,
    overdue_periods,
    period_bounds,
    period_of,
    periods_between,
    sign_off,
    signoff_history,
)
from deployready.workspace import Workspace

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
kinds = st.sampled_from(["weekly", "monthly"])


# --------------------------------------------------------------------------- period maths


@given(kinds, days)
def test_a_day_lies_in_its_period(kind: str, day: date) -> None:
    start, end = period_bounds(kind, period_of(kind, day))
    assert start <= day < end
    if kind == "weekly":
        assert end - start == timedelta(days=7) and start.isoweekday() == 1
    else:
        assert start.day == 1 and 28 <= (end - start).days <= 31


@given(kinds, days)
def test_periods_tile_time(kind: str, day: date) -> None:
    period = period_of(kind, day)
    start, end = period_bounds(kind, period)
    nxt = next_period(kind, period)
    assert period_bounds(kind, nxt)[0] == end  # no gap, no overlap
    assert period_of(kind, end - timedelta(days=1)) == period
    assert period_of(kind, start - timedelta(days=1)) != period
    assert nxt > period  # the labels sort in time order


@given(kinds, days, st.integers(0, 800))
def test_periods_between_covers_every_day(kind: str, first: date, span: int) -> None:
    last = first + timedelta(days=span)
    periods = periods_between(kind, first, last)
    assert periods[0] == period_of(kind, first) and periods[-1] == period_of(kind, last)
    assert len(set(periods)) == len(periods) == len(sorted(periods))
    probe = first + timedelta(days=span // 2)
    assert period_of(kind, probe) in periods


def test_iso_weeks_across_year_boundaries() -> None:
    assert period_of("weekly", date(2026, 12, 31)) == "2026-W53"
    assert period_of("weekly", date(2027, 1, 3)) == "2026-W53"
    assert period_of("weekly", date(2027, 1, 4)) == "2027-W01"
    assert period_of("weekly", date(2024, 12, 30)) == "2025-W01"
    assert next_period("weekly", "2026-W53") == "2027-W01"
    assert next_period("weekly", "2025-W52") == "2026-W01"
    assert period_bounds("weekly", "2026-W47") == (date(2026, 11, 16), date(2026, 11, 23))
    assert next_period("monthly", "2026-12") == "2027-01"
    assert period_bounds("monthly", "2028-02") == (date(2028, 2, 1), date(2028, 3, 1))


@pytest.mark.parametrize("kind,bad", [("weekly", "2025-W53"), ("weekly", "2026-47"),
                                      ("weekly", "2026-W00"), ("monthly", "2026-13"),
                                      ("monthly", "2026-W01"), ("monthly", "26-11")])
def test_bad_periods_are_input_errors(kind: str, bad: str) -> None:
    with pytest.raises(InputError) as info:
        period_bounds(kind, bad)
    assert bad in str(info.value) and info.value.expected


@given(kinds, days, st.integers(0, 400), st.sets(st.integers(0, 60), max_size=20))
def test_overdue_is_every_ended_unsigned_period(
    kind: str, since: date, span: int, signed_idx: set[int]
) -> None:
    today = since + timedelta(days=span)
    periods = periods_between(kind, since, today)
    signed = [p for i, p in enumerate(periods) if i in signed_idx]
    late = overdue_periods(signed, kind, since, today, ["item"])
    expected = [p for p in periods if p not in signed and period_bounds(kind, p)[1] <= today]
    assert [o.period for o in late] == expected
    assert period_of(kind, today) not in [o.period for o in late]  # the current one is open


# --------------------------------------------------------------------------- sign-offs


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def test_sign_off_once_then_amend(ws: Workspace) -> None:
    today = date(2026, 11, 25)
    first = sign_off(ws, "weekly", "2026-W47", name="Ana", note="all fine", today=today)
    assert first.complete and first.period == "2026-W47" and first.signed_at
    assert [i["item"] for i in first.items] == list(ws.policy().reviews.weekly)
    with pytest.raises(InputError, match="2026-W47") as info:
        sign_off(ws, "weekly", "2026-W47", name="Ben", today=today)
    assert "Ana" in str(info.value) and "--amend" in str(info.value)
    amended = sign_off(ws, "weekly", "2026-W47", name="Ben", note="re-checked drift",
                       amend=True, today=today)
    assert amended.amends == first.id
    assert current_signoffs(ws, "weekly")["2026-W47"].name == "Ben"
    assert [s.name for s in signoff_history(ws, "weekly")] == ["Ben", "Ana"]


def test_sign_off_rules(ws: Workspace) -> None:
    today = date(2026, 11, 25)
    with pytest.raises(InputError, match="name"):
        sign_off(ws, "monthly", "2026-11", name=" ", today=today)
    with pytest.raises(InputError, match="not started"):
        sign_off(ws, "monthly", "2026-12", name="Ana", today=today)
    items = ws.policy().reviews.monthly
    partial = {items[0]: False}
    with pytest.raises(InputError, match="note"):
        sign_off(ws, "monthly", "2026-11", name="Ana", done=partial, today=today)
    with pytest.raises(InputError, match="unknown"):
        sign_off(ws, "monthly", "2026-11", name="Ana", done={"nope": True}, today=today)
    signed = sign_off(ws, "monthly", "2026-11", name="Ana", done=partial,
                      note="no fresh labels yet", today=today)
    assert not signed.complete
    assert signed.items[0] == {"item": items[0], "done": False}
    with pytest.raises(InputError, match="weekly or monthly"):
        sign_off(ws, "daily", "2026-11-01", name="Ana", today=today)


def test_overdue_from_the_first_production_evidence(ws: Workspace) -> None:
    assert overdue(ws, today=date(2026, 11, 25)) == []  # nothing deployed: nothing due
    insert_event(ws, "v1.1", "promote", 0, 5, created_at="2026-10-28T09:00:00+00:00")
    today = date(2026, 11, 25)  # a Wednesday of 2026-W48
    late = overdue(ws, today=today)
    assert [(o.kind, o.period) for o in late] == [
        ("monthly", "2026-10"), ("weekly", "2026-W44"), ("weekly", "2026-W45"),
        ("weekly", "2026-W46"), ("weekly", "2026-W47"),
    ]
    sign_off(ws, "weekly", "2026-W46", name="Ana", today=today)
    sign_off(ws, "monthly", "2026-10", name="Ana", today=today)
    assert [o.period for o in overdue(ws, today=today)] == ["2026-W44", "2026-W45", "2026-W47"]


def test_daily_items_come_from_the_daily_records(ws: Workspace) -> None:
    add_daily(ws, "v1.1", "2026-11-20")
    add_daily(ws, "v1.1", "2026-11-21", status="alert", failing=("feature_psi",))
    reviews = daily_reviews(ws, "v1.1")
    assert [r.date for r in reviews] == ["2026-11-21", "2026-11-20"]
    newest = {i.name: i.status for i in reviews[0].items}
    assert newest == {"p99": "pass", "error_spike": "pass", "prediction_psi": "pass",
                      "feature_psi": "fail"}
    assert not reviews[0].green and reviews[1].green
    lists = checklists(ws, "v1.1", today=date(2026, 11, 25))
    assert lists.weekly.period == "2026-W48" and lists.weekly.signoff is None
    assert lists.monthly.period == "2026-11"
    assert [o.period for o in lists.overdue][:1] == ["2026-W47"]
