"""Merged reads of latency, requests and errors are assembled from per-day pieces kept
under each day's revision: after an ingest only the days it touched are read again, and
the answer is the one a single read of the whole range gives — the same rows, in the same
order, with the same dtypes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_profiles_store import YEAR0, hour_profile, write

import deployready.monitoring.profiles.store as store_module
from deployready.monitoring.profiles.day_rows import DAY_ROWS
from deployready.monitoring.profiles.frame import normalized
from deployready.monitoring.profiles.store import ProfileStore

MEASURES = ["rows", "error", "latency", "latency_sum_us"]
DAY0 = datetime.fromtimestamp(YEAR0, UTC)


def _day(day: int, rng: np.random.Generator, version: str = "v1.0",
         sha: str = "a" * 64) -> pd.DataFrame:
    one = hour_profile(day, rng)
    errors = one[one["measure"] == "rows"].assign(measure="error", key="timeout",
                                                  value=rng.integers(0, 3, 24))
    return normalized(pd.concat([one, errors], ignore_index=True).assign(
        version=version, package_sha256=sha))


def _whole(store: ProfileStore, version: str | None, start: datetime | None,
           end: datetime | None, grain: str, days: list[date] | None) -> pd.DataFrame:
    """The same question answered by one read of every measure (not assembled by day)."""
    every = store.counts(version, start, end, grain=grain,  # type: ignore[arg-type]
                         days=days)
    return every[every["measure"].isin(MEASURES)].reset_index(drop=True)


def _asked(store: ProfileStore, version: str | None, start: datetime | None,
           end: datetime | None, grain: str, days: list[date] | None) -> pd.DataFrame:
    return store.counts(version, start, end, measures=MEASURES,
                        grain=grain, days=days)  # type: ignore[arg-type]


def _store(tmp: Path) -> ProfileStore:
    for name in ("profiles.db", "profiles.db-wal", "profiles.db-shm"):
        (tmp / name).unlink(missing_ok=True)
    return ProfileStore(tmp / "profiles.db")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["v1.0", "v2.0"]),
                             st.sampled_from(["a" * 64, "b" * 64])), min_size=1, max_size=5),
    start=st.none() | st.integers(-30, 6 * 24 + 30),
    end=st.none() | st.integers(-30, 6 * 24 + 30),
    version=st.sampled_from([None, "v1.0", "v2.0"]),
    grain=st.sampled_from(["hour", "day"]),
    only=st.none() | st.sets(st.integers(0, 5), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_a_read_by_day_is_the_read_of_the_whole_range(
        tmp_path: Path, files: list[tuple[int, str, str]], start: int | None, end: int | None,
        version: str | None, grain: str, only: set[int] | None, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store = _store(tmp_path)
    days = sorted(DAY0.date() + timedelta(days=d) for d in only) \
        if only is not None and grain == "day" else None
    # bounds in hours, some inside an hour (a quarter past)
    lo = None if start is None else DAY0 + timedelta(hours=start, minutes=15 * (start % 2))
    hi = None if end is None else DAY0 + timedelta(hours=end)
    for i, (day, ver, sha) in enumerate(files):
        write(store, f"f{i % 3}.csv", _day(day, rng, ver, sha))  # f0..f2: some re-profiled
        store.close()
        got = _asked(store, version, lo, hi, grain, days)  # pieces remembered between writes
        pd.testing.assert_frame_equal(got, _whole(store, version, lo, hi, grain, days))
        assert got.equals(_whole(store, version, lo, hi, grain, days))


def test_after_an_ingest_only_the_new_day_is_read(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    store = _store(tmp_path)
    for day in range(10):
        write(store, f"d{day}.csv", _day(day, rng))
    store.close()
    start, end = DAY0, DAY0 + timedelta(days=11)
    first = store.counts("v1.0", start, end, measures=MEASURES)
    pieces = len(DAY_ROWS)
    write(store, "d10.csv", _day(10, rng))  # one new day
    store.close()
    fetched: list[tuple[datetime, datetime]] = []
    real = store_module.rows_by_day

    def spy(question, revisions, lo, hi, days, fetch):  # type: ignore[no-untyped-def]
        def watched(a: datetime, b: datetime) -> list[tuple[object, ...]]:
            fetched.append((a, b))
            return fetch(a, b)
        return real(question, revisions, lo, hi, days, watched)

    monkeypatch.setattr(store_module, "rows_by_day", spy)
    after = store.counts("v1.0", start, end, measures=MEASURES)
    assert fetched == [(DAY0 + timedelta(days=10), DAY0 + timedelta(days=11))]
    assert len(DAY_ROWS) == pieces + 1
    assert len(after) > len(first)
    pd.testing.assert_frame_equal(after, _whole(store, "v1.0", start, end, "hour", None))
