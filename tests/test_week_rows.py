"""The week's sample of production rows: each day's share kept in the cache folder under
the day's profile revision, so a new day reads only its own file — and the sample is the
one drawn from every day's rows read again."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.memo import cache_path
from deployready.monitoring import logs_pandas
from deployready.monitoring.daily import read_profile
from deployready.monitoring.logs import FILE_FRAMES, ProductionLogs, day_bounds, features_of
from deployready.performance.sources import report_range, week_sample
from deployready.performance.week_rows import DayRows, day_positions, day_rows, takes, week_of
from deployready.workspace import Workspace


def reference_week_sample(ws: Workspace, version: str, last: date, rows: int,
                          seed: int = 0) -> pd.DataFrame:
    """The sample drawn from every day's rows read again: the days' successful counts from
    ``day_counts``, day d's first ``min(n_d, ceil(rows·n_d/total))`` rows of its seeded
    order, in time order, oldest day first, cut to ``rows``."""
    profile = read_profile(ws, version)
    logs = ProductionLogs.for_workspace(ws, profile, version=version)
    try:
        lo, hi = day_bounds(last - timedelta(days=6))[0], day_bounds(last)[1]
        ok = logs.day_counts(version, lo, hi)["ok"]
        total = int(ok.sum())
        parts = []
        for back in range(6, -1, -1):
            day = last - timedelta(days=back)
            n = int(ok.get(day, 0))
            take = min(n, -(-rows * n // total)) if total else 0
            if take <= 0:
                continue
            frame = logs.frame(version, *day_bounds(day), ok_only=True)
            assert len(frame) == n
            order = np.random.default_rng((seed, day.toordinal())).choice(
                n, min(n, rows), replace=False)
            parts.append(frame.iloc[np.sort(order[:take])])
    finally:
        logs.close()
    features = list(features_of(profile))
    if not parts:
        return pd.DataFrame(columns=features)
    sample = pd.concat(parts, ignore_index=True)
    return sample.iloc[:rows][[c for c in features if c in sample.columns]]


def file_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The log files whose rows are read from now on (nothing remembered in the process)."""
    FILE_FRAMES.clear()
    calls: list[str] = []
    real = logs_pandas.read_log_file

    def counted(path: str | Path, *args: Any, **kwargs: Any) -> pd.DataFrame:
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(logs_pandas, "read_log_file", counted)
    return calls


def kept_files(ws: Workspace) -> list[Path]:
    return sorted(cache_path(ws.root, "x").parent.glob("week-rows-*.parquet"))


def add_day(ws: Workspace) -> tuple[date, str]:
    """A new day's log file: the newest day's rows one day later."""
    newest = sorted(ws.production_dir.glob("predictions-*.csv"))[-1]
    day = date.fromisoformat(newest.stem.removeprefix("predictions-"))
    new = day + timedelta(days=1)
    target = newest.with_name(f"predictions-{new.isoformat()}.csv")
    target.write_text(newest.read_text().replace(day.isoformat(), new.isoformat()))
    return new, target.name


ROWS = 500  # the policy's default sample size


def demo(demo_ws: Path) -> tuple[Workspace, str, date]:
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, "v1.0", None, None)
    return ws, version, last


def drawn_week(demo_ws: Path) -> tuple[Workspace, str, date, pd.DataFrame]:
    """The demo's last week's sample of :data:`ROWS` rows, drawn (and kept) once."""
    ws, version, last = demo(demo_ws)
    return ws, version, last, week_sample(ws, version, last, ROWS)


@pytest.mark.parametrize("rows", [10, 500, 100_000])
def test_week_sample_equals_the_sample_drawn_from_every_days_rows(
    demo_ws: Path, rows: int
) -> None:
    ws, version, last = demo(demo_ws)
    first = last - timedelta(days=29)
    for end in (last, last - timedelta(days=3), first, first - timedelta(days=10)):
        want = reference_week_sample(ws, version, end, rows)
        pd.testing.assert_frame_equal(week_sample(ws, version, end, rows), want)
        pd.testing.assert_frame_equal(week_sample(ws, version, end, rows), want)  # kept
    everything = reference_week_sample(ws, version, last, 10**9)
    assert len(week_sample(ws, version, last, rows)) == min(rows, len(everything))


def test_kept_days_are_not_read_and_a_new_day_reads_only_its_file(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, version, last, drawn = drawn_week(demo_ws)
    assert ws.policy().performance.importance_sample_rows == ROWS
    assert any(isinstance(t, pd.StringDtype) for t in drawn.dtypes)  # text columns too
    pd.testing.assert_frame_equal(drawn, reference_week_sample(ws, version, last, ROWS))
    assert len(kept_files(ws)) == 7
    reads = file_reads(monkeypatch)
    pd.testing.assert_frame_equal(week_sample(ws, version, last, ROWS), drawn)
    assert reads == []  # every day of the week kept: no log file read
    new, name = add_day(ws)
    moved = week_sample(ws, version, new, ROWS)
    assert reads == [name]  # only the new day's file
    assert len(kept_files(ws)) == 8
    pd.testing.assert_frame_equal(moved, reference_week_sample(ws, version, new, ROWS))


def test_a_rewritten_day_is_drawn_again(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, version, last, before = drawn_week(demo_ws)
    newest = sorted(ws.production_dir.glob("predictions-*.csv"))[-3]
    table = pd.read_csv(newest, dtype=str, keep_default_na=False)
    table.iloc[: len(table) // 3].to_csv(newest, index=False)  # the day's file rewritten
    reads = file_reads(monkeypatch)
    after = week_sample(ws, version, last, ROWS)
    assert reads == [newest.name]
    pd.testing.assert_frame_equal(after, reference_week_sample(ws, version, last, ROWS))
    assert not after.equals(before)


def test_a_growing_day_does_not_pile_up_kept_files(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ingest of a day file still being written is a new revision of the day, so a
    new kept file: beyond ``KEPT_DAYS`` the least recently used go, never the week's own
    (each report uses them), and the sample stays the one drawn from the rows."""
    from deployready.performance import week_rows

    monkeypatch.setattr(week_rows, "KEPT_DAYS", 9)
    ws, version, last, _ = drawn_week(demo_ws)
    newest = sorted(ws.production_dir.glob("predictions-*.csv"))[-1]
    assert newest.stem.endswith(last.isoformat())
    for _ in range(4):  # the day's writer appends its last row again, four times
        lines = newest.read_text().splitlines(keepends=True)
        newest.write_text("".join(lines) + lines[-1])
        grown = week_sample(ws, version, last, ROWS)
        pd.testing.assert_frame_equal(grown, reference_week_sample(ws, version, last, ROWS))
        assert len(kept_files(ws)) <= 9
    assert len(kept_files(ws)) == 9  # 7 + 4 revisions of the day were written, 2 went
    reads = file_reads(monkeypatch)
    week_sample(ws, version, last, ROWS)
    assert reads == []  # the week's seven days are all still kept


def test_an_unusable_kept_day_is_drawn_again(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, version, last, drawn = drawn_week(demo_ws)
    source, garbage, truncated, other_key, edited = kept_files(ws)[:5]
    garbage.write_bytes(b"PAR1 not a parquet file PAR1")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    other_key.write_bytes(source.read_bytes())  # another day's rows and key
    table = pq.read_table(edited)  # one value changed, the key and positions as they were
    rows = table.to_pandas()
    number = next(c for c in rows.columns if pd.api.types.is_float_dtype(rows[c]))
    rows.loc[0, number] = 12345.0
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False)
                   .replace_schema_metadata(table.schema.metadata), edited)
    reads = file_reads(monkeypatch)
    pd.testing.assert_frame_equal(week_sample(ws, version, last, ROWS), drawn)
    assert len(reads) == 4 and len(set(reads)) == 4  # those four days read again
    reads.clear()
    pd.testing.assert_frame_equal(week_sample(ws, version, last, ROWS), drawn)
    assert reads == []  # and kept again


def test_a_raw_engine_keeps_nothing_and_draws_the_same_sample(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, version, last, drawn = drawn_week(demo_ws)
    for path in kept_files(ws):
        path.unlink()
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "pandas")
    pd.testing.assert_frame_equal(week_sample(ws, version, last, ROWS), drawn)
    assert kept_files(ws) == []


# --------------------------------------------------------------------------- the scheme

START = date(2026, 1, 1)


def numbered_day(day: int, count: int, rows: int, seed: int) -> DayRows:
    """A day whose rows say which day and which position (time order) they are."""
    frame = pd.DataFrame({"day": np.full(count, day), "at": np.arange(count),
                          "text": pd.array([f"r{i}" for i in range(count)], dtype="string")})
    return day_rows(frame, ["day", "at", "text"], seed, START + timedelta(days=day), rows)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=7, max_size=7), st.integers(1, 150),
       st.integers(0, 2**32))
def test_the_week_sample_is_proportional_ordered_and_bounded(
    counts: list[int], rows: int, seed: int
) -> None:
    days = [numbered_day(d, n, rows, seed) for d, n in enumerate(counts)]
    sample = week_of(days, ["day", "at", "text"], rows)
    total = sum(counts)
    assert len(sample) == min(rows, total)
    assert sample["day"].is_monotonic_increasing  # oldest day first
    given_by = sample.groupby("day")["at"]
    assert all(at.is_monotonic_increasing and at.is_unique for _, at in given_by)
    got = [int((sample["day"] == d).sum()) for d in range(7)]
    want = takes(counts, rows)
    for d, n in enumerate(counts):  # the day's share rounded up, at most its rows
        assert want[d] <= n
        assert want[d] == n or rows * n <= want[d] * total < rows * n + total
    cut = [d for d in range(7) if got[d] != want[d]]  # the rounding's rows, newest cut
    assert all(got[d] < want[d] for d in cut)
    assert all(got[d] == 0 for d in range(7) if cut and d > cut[0])
    pd.testing.assert_frame_equal(week_of(days, ["day", "at", "text"], rows), sample)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 80), st.integers(0, 80), st.integers(0, 80), st.integers(1, 60),
       st.integers(0, 2**32))
def test_a_day_gives_nested_rows_whatever_week_it_is_in(
    count: int, other: int, another: int, rows: int, seed: int
) -> None:
    """The day's rows come from its own order: a week with more rows elsewhere takes a
    subset of what a week with fewer takes — all from the day's kept prefix."""
    day = numbered_day(0, count, rows, seed)
    assert len(day.positions) == min(count, rows) == len(day.rows)
    assert set(day.positions.tolist()) <= set(range(count))
    assert len(set(day.positions.tolist())) == len(day.positions)
    np.testing.assert_array_equal(day.positions, day_positions(seed, START,
                                                               count, rows))

    def given_rows(neighbours: int) -> set[int]:
        week = [day] + [numbered_day(d, neighbours, rows, seed) for d in range(1, 7)]
        sample = week_of(week, ["day", "at", "text"], rows)
        return set(sample.loc[sample["day"] == 0, "at"].tolist())

    small, large = sorted((other, another))
    assert given_rows(large) <= given_rows(small) <= set(day.positions.tolist())
