"""The profile store: the read API over a year of hourly profiles (fast by its indexes
and the daily roll-up), hour/day bounds, generation, and ``deployready ingest``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deployready.errors import StoreError
from deployready.monitoring.profiles.bookkeeping import FileWrite, SourceRow
from deployready.monitoring.profiles.frame import empty_profile, merge, normalized
from deployready.monitoring.profiles.store import ProfileStore

REPO = Path(__file__).resolve().parent.parent
YEAR0 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def hour_profile(day: int, rng: np.random.Generator) -> pd.DataFrame:
    """One day of hourly long form: rows, first/last, 30 latency buckets, 6 features."""
    hours = YEAR0 + day * 86400 + np.arange(24) * 3600
    parts = []
    for measure, key, buckets in [("rows", "", [0]), ("first_us", "", [0]), ("last_us", "", [0]),
                                  ("latency", "", range(600, 630)),
                                  *(("feature", f"f{i}", range(12)) for i in range(6))]:
        grid = pd.MultiIndex.from_product([hours, list(buckets)]).to_frame(index=False)
        parts.append(pd.DataFrame({
            "version": "v1.0", "package_sha256": "a" * 64, "hour": grid[0], "measure": measure,
            "key": key, "bucket": grid[1], "value": rng.integers(1, 50, len(grid))}))
    return normalized(pd.concat(parts, ignore_index=True))


def write(store: ProfileStore, path: str, profile: pd.DataFrame, *, replace: bool = True,
          start: int = 0) -> None:
    rows = int(profile.loc[profile["measure"] == "rows", "value"].sum())
    known = store.sources().get(path)
    source = SourceRow(path, 1, 1, 1, start + rows, "f", {"v1.0": "a" * 64}, "pandas", "now")
    assert store.write_file(FileWrite(source, profile, (start, start + rows, 0, 1), replace,
                                      known))


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProfileStore, list[pd.DataFrame]]:
    store = ProfileStore(tmp_path_factory.mktemp("year") / "profiles.db")
    rng = np.random.default_rng(0)
    one = hour_profile(0, rng)
    days = [one.assign(hour=one["hour"] + d * 86400, value=rng.integers(1, 50, len(one)))
            for d in range(365)]
    t0 = time.perf_counter()
    for d, profile in enumerate(days):
        write(store, f"data/production/d{d:03}.csv", profile)
    store.close()
    print(f"a year of hourly profiles written in {time.perf_counter() - t0:.1f} s")
    return store, days


def test_a_year_reads_exactly(year: tuple[ProfileStore, list[pd.DataFrame]]) -> None:
    store, days = year
    t0 = time.perf_counter()
    daily = store.counts("v1.0", grain="day")
    t1 = time.perf_counter()
    rows = store.counts("v1.0", measures=["rows"])
    t2 = time.perf_counter()
    week = store.counts("v1.0", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC))
    t3 = time.perf_counter()
    assert len(daily) == 365 * (3 + 30 + 72)
    assert len(rows) == 365 * 24 and rows["value"].sum() == sum(
        int(d.loc[d["measure"] == "rows", "value"].sum()) for d in days)
    pd.testing.assert_frame_equal(week, merge(*days[59:66]))
    seconds = (t1 - t0, t2 - t1, t3 - t2)
    print("reads of a year (day grain, one measure by hour, a week by hour):", seconds)


def test_days_merge_hours_exactly_and_follow_rewrites(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.db")
    assert store.generation() == 0 and store.counts().empty and store.sources() == {}
    rng = np.random.default_rng(1)
    first, second, third = (hour_profile(0, rng) for _ in range(3))
    write(store, "a.csv", first)
    write(store, "b.csv", second)
    generation = store.generation()
    day = store.counts(grain="day")
    want = merge(first, second)
    want = merge(want.assign(hour=YEAR0))
    assert day["day"].tolist()[0] == datetime(2025, 1, 1).date()
    pd.testing.assert_frame_equal(day.drop(columns="day"), want.drop(columns="hour"))
    assert day.loc[day["measure"] == "first_us", "value"].iloc[0] == min(
        first.loc[first["measure"] == "first_us", "value"].min(),
        second.loc[second["measure"] == "first_us", "value"].min())
    write(store, "a.csv", third)  # re-profiled: its old counts leave the day
    assert store.generation() > generation
    after = store.counts(grain="day").drop(columns="day")
    pd.testing.assert_frame_equal(after, merge(merge(third, second).assign(hour=YEAR0))
                                  .drop(columns="hour"))
    assert store.remove_file("a.csv", store.sources()["a.csv"])
    store.close()
    left = store.counts(grain="day").drop(columns="day")
    pd.testing.assert_frame_equal(left, merge(second.assign(hour=YEAR0)).drop(columns="hour"))
    assert [s.path for s in store.segments()] == ["b.csv"]


def test_a_stale_decision_is_not_written(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.db")
    profile = hour_profile(0, np.random.default_rng(2))
    write(store, "a.csv", profile)
    source = SourceRow("a.csv", 2, 2, 2, 10, "g", {}, "pandas", "later")
    late = FileWrite(source, profile, (0, 10, 0, 2), replace=False, expected=None)
    assert not store.write_file(late)  # another ingest stored the file meanwhile
    store.close()
    assert len(store.segments("a.csv")) == 1


def test_a_file_that_is_not_a_store_is_an_error_that_says_how_to_rebuild(
    tmp_path: Path
) -> None:
    path = tmp_path / "profiles.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="delete it and run `deployready ingest`"):
        ProfileStore(path).counts()
    assert empty_profile().empty


def test_cli_ingest_reports_and_exits_2_naming_a_bad_file(tmp_path: Path) -> None:
    from tests.monitoring_support import crafted_logs, new_workspace, write_csv

    ws = new_workspace(tmp_path / "ws")
    write_csv(ws, "predictions-2026-03-10.csv", crafted_logs("2026-03-10", [5.0] * 20))
    bad = crafted_logs("2026-03-11", [5.0] * 20)
    bad.loc[7, "prediction"] = 1.5
    write_csv(ws, "predictions-2026-03-11.csv", bad)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deployready", "ingest", "-w",
                               str(ws.root), *args], capture_output=True, text=True,
                              timeout=120, cwd=REPO, check=False,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})

    done = run()
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("ingest (pandas): 1 file(s) read")
    assert "predictions-2026-03-11.csv: row 8, column prediction" in done.stderr
    assert done.stderr.startswith("deployready: error: ") and "Traceback" not in done.stderr
    bad.loc[7, "prediction"] = 0.5
    write_csv(ws, "predictions-2026-03-11.csv", bad)
    done = run("--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["read"] == ["data/production/predictions-2026-03-11.csv"]
    assert data["skipped"] == ["data/production/predictions-2026-03-10.csv"]
    assert data["rows"] == 20 and data["errors"] == []


def test_each_write_gives_the_days_it_touches_a_new_revision(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.db")
    assert store.day_revisions() == {}
    rng = np.random.default_rng(3)
    first, second = hour_profile(0, rng), hour_profile(1, rng)
    write(store, "a.csv", first)
    write(store, "b.csv", second)
    day0, day1 = datetime(2025, 1, 1).date(), datetime(2025, 1, 2).date()
    before = store.day_revisions()
    assert before is not None and set(before) == {day0, day1}
    # re-profiled with the same rows, other values: a new revision of its day only
    write(store, "a.csv", first.assign(value=first["value"] + 1))
    after = store.day_revisions()
    assert after is not None and after[day0] != before[day0] and after[day1] == before[day1]
    assert store.remove_file("b.csv", store.sources()["b.csv"])
    store.close()
    gone = store.day_revisions()
    assert gone is not None and gone[day1] != after[day1] and gone[day0] == after[day0]


def test_a_store_written_before_revisions_gets_one_for_every_day(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "profiles.db"
    store = ProfileStore(path)
    rng = np.random.default_rng(4)
    write(store, "a.csv", hour_profile(0, rng))
    write(store, "b.csv", hour_profile(5, rng))
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE profile_day_revisions")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    revisions = ProfileStore(path).day_revisions()
    assert revisions is not None
    assert sorted(revisions) == [datetime(2025, 1, 1).date(), datetime(2025, 1, 6).date()]
    assert len(set(revisions.values())) == 2
    assert ProfileStore(path).day_revisions() == revisions  # filled once, then kept


def test_a_store_of_schema_2_gets_the_measure_index_of_the_daily_rollups(
        tmp_path: Path) -> None:
    """Every page asks the versions' row counts and first/last times: one measure across
    all days, which without the index scans every daily bin count."""
    import sqlite3

    path = tmp_path / "profiles.db"
    store = ProfileStore(path)
    write(store, "a.csv", hour_profile(0, np.random.default_rng(5)))
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP INDEX profile_days_measure")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    before = ProfileStore(path).counts(measures=("rows",), grain="day")
    conn = sqlite3.connect(path, isolation_level=None)
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT value FROM profile_days "
                        "WHERE measure IN ('rows', 'first_us')").fetchall()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    assert any("profile_days_measure" in str(step) for step in plan)
    assert len(before) and set(before["measure"]) == {"rows"}
