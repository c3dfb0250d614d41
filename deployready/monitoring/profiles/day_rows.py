"""Merged profile reads assembled from one piece per UTC day, each remembered under the
day's revision (``profile_day_revisions``, see :mod:`.store`).

Every committed ingest moves the store's generation, so the answers remembered per
generation (:mod:`.fetched`) are all asked again after one new day file — a month of
hourly latency counts read again to add one day. A day's rows of one question (version,
package, measures, grain and, at the hour grain, the part of the day asked) are a
function of that day's content, and the day's revision changes in the transaction of
every write that touches the day: so each day's rows are remembered under its revision,
and a read after an ingest fetches only the days whose revision moved (one query over
their span). The pieces, each in key order, joined in day order and sorted stably by
version and package, are the rows of the whole question in key order — the same rows,
in the same order, as one query over the whole range (``tests/test_profiles_day_rows.py``).

Only questions without bin counts go this way (latency, requests, errors, versions): a
year of feature bins is read by the drift cache, not asked again per day.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from deployready.memo import FileMemo

__all__ = ["BIN_MEASURES", "DAY_ROWS", "by_day", "rows_by_day"]

Rows = list[tuple[Any, ...]]
#: fetch(start, end): the question's rows of [start, end) (day starts at the day grain)
Fetch = Callable[[datetime | None, datetime | None], Rows]

#: measures whose rows are per-bin counts (many per day): not remembered per day
BIN_MEASURES = frozenset({"feature", "prediction"})
_DAY = timedelta(days=1)

#: A day's rows of one question by (question, day, revision, part of the day); 64 MiB at
#: most (a fetched row — a tuple of seven, its own strings — is ≈ 450 bytes).
DAY_ROWS: FileMemo[Rows] = FileMemo(64 * 2**20, lambda rows: 64 + 450 * len(rows))


def by_day(measures: Sequence[str] | None) -> bool:
    """Whether a question of ``measures`` is read day by day (no bin counts in it)."""
    return measures is not None and not BIN_MEASURES & set(measures)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _bounds(day: date, start: datetime | None, end: datetime | None,
            grain: str) -> tuple[datetime, datetime] | None:
    """The part of ``day`` the question asks for (None: none of it). At the day grain a
    day counts when its start is in [start, end); at the hour grain its hours in
    [start, end) count."""
    lo, hi = _midnight(day), _midnight(day) + _DAY
    if grain == "day":
        inside = (start is None or lo >= start) and (end is None or lo < end)
        return (lo, hi) if inside else None
    lo, hi = max(lo, start) if start else lo, min(hi, end) if end else hi
    return (lo, hi) if lo < hi else None


def _day_of(grain: str) -> Callable[[Any], date]:
    if grain == "day":
        return lambda text: date.fromisoformat(str(text))
    return lambda hour: date.fromordinal(719163 + int(hour) // 86400)  # 719163: 1970-01-01


def rows_by_day(question: tuple[Hashable, ...], revisions: Mapping[date, str] | None,
                start: datetime | None, end: datetime | None,
                days: Sequence[date] | None, fetch: Fetch) -> Rows:
    """The rows of ``question`` (the store, version, package, grain and measures) over
    [start, end) (and ``days``), in key order: each day's piece remembered under
    ``(question, day, revision, part of the day)``, the days not remembered fetched with
    one ``fetch`` over their span. ``revisions``: every day with counts (a day without
    one has none), read in the same snapshot as ``fetch``; None: one ``fetch`` of it all,
    nothing remembered."""
    if revisions is None:
        return fetch(start, end)
    grain = str(question[3])
    start, end = _utc(start), _utc(end)
    wanted = set(days) if days is not None else None
    keys: dict[date, tuple[Hashable, ...]] = {}
    pieces: dict[date, Rows] = {}
    for day in sorted(revisions):
        part = _bounds(day, start, end, grain)
        if part is None or (wanted is not None and day not in wanted):
            continue
        keys[day] = (question, day, revisions[day], part)
        got = DAY_ROWS.get(keys[day])
        if got is not None:
            pieces[day] = got
    missing = [d for d in keys if d not in pieces]
    if missing:
        lo = _bounds(missing[0], start, end, grain)
        hi = _bounds(missing[-1], start, end, grain)
        assert lo is not None and hi is not None
        fetched: dict[date, Rows] = {d: [] for d in keys if missing[0] <= d <= missing[-1]}
        day_of = _day_of(grain)
        for row in fetch(lo[0], hi[1]):
            piece = fetched.get(day_of(row[2]))
            if piece is None:  # counts of a day without a revision: nothing is remembered
                return fetch(start, end)
            piece.append(row)
        for day, rows in fetched.items():
            DAY_ROWS.put(keys[day], rows)
        pieces.update(fetched)
    rows = [row for day in sorted(pieces) for row in pieces[day]]
    return sorted(rows, key=itemgetter(0, 1))  # stable: days stay in order per package
