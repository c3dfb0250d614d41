"""The ingest: every log row profiled once — idempotent, incremental on grown files,
re-profiled on rewritten, shrunk or re-packaged ones, forgetting deleted ones — and a
bad file carried as an error with nothing of it stored."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deployready.errors import InputError, LogError
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.profiles.frame import merge, profile_rows
from deployready.monitoring.profiles.ingest import ingest, ingest_if_changed, profile_store
from deployready.monitoring.profiles.layouts import layouts_of
from deployready.monitoring.profiles.store import PROFILES_FILE
from deployready.workspace import Workspace
from tests.hostile.cases import LOG_CASES, Case
from tests.hostile.conftest import assert_untouched, hostile_master, hws, snapshot
from tests.monitoring_support import (
    FEATURES,
    crafted_logs,
    make_package,
    new_workspace,
    package_hash,
    write_csv,
)

DAY = "2026-03-10"
__all__ = ["hostile_master", "hws"]  # the hostile suite's workspace fixtures


def day_rows(ws: Workspace, day: str = DAY, n: int = 300, *, version: str = "v1.0",
             seed: int = 0, request_ids: bool = True) -> pd.DataFrame:
    from deployready.demo.data import make_dataset

    rng = np.random.default_rng(seed)
    feats = make_dataset(n, "2026-01-01", "2026-02-01", seed=seed + 10)[FEATURES]
    feats.loc[feats.index[:5], "channel"] = "never-seen"
    errors = ["" if e > 0.05 else "timeout" for e in rng.random(n)]
    frame = crafted_logs(day, rng.gamma(2.0, 20.0, n), version=version, errors=errors,
                         spacing_s=60.0, features=feats,
                         predictions=rng.random(n))
    if request_ids:
        frame.insert(5, "request_id", [f"r{seed}-{i}" if i % 7 else "" for i in range(n)])
    return frame


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = new_workspace(tmp_path / "ws")
    make_package(ws, "v1.0", n=2000)
    return ws


def stored(ws: Workspace) -> pd.DataFrame:
    return profile_store(ws).counts()


def direct(ws: Workspace) -> pd.DataFrame:
    """The oracle: every log file read whole and profiled at once."""
    layouts = layouts_of(ws)
    features = {n: s["kind"] for lay in layouts.values()
                for n, s in lay.profile["features"].items()}
    frames = []
    for path in sorted(ws.production_dir.glob("*.csv")):
        names = pd.read_csv(path, nrows=0).columns
        frames.append(profile_rows(read_log_file(
            path, {k: v for k, v in features.items() if k in names}), layouts))
    return merge(*frames)


def test_ingest_twice_stores_each_row_once(ws: Workspace) -> None:
    write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws))
    write_csv(ws, "predictions-2026-03-11.csv", day_rows(ws, "2026-03-11", seed=1))
    first = ingest(ws)
    assert first.ok and sorted(first.read) == [
        "data/production/predictions-2026-03-10.csv", "data/production/predictions-2026-03-11.csv"]
    assert first.rows == 600
    counts = stored(ws)
    generation = profile_store(ws).generation()
    again = ingest(ws)
    assert again.ok and again.read == [] and len(again.skipped) == 2 and again.rows == 0
    pd.testing.assert_frame_equal(stored(ws), counts)
    pd.testing.assert_frame_equal(counts, direct(ws))
    assert profile_store(ws).generation() == generation
    assert ingest_if_changed(ws) is None
    assert (ws.data_dir / PROFILES_FILE).exists()


def test_day_rollup_equals_the_hours_merged_per_day(ws: Workspace) -> None:
    write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws, n=2000))
    ingest(ws)
    store = profile_store(ws)
    hours = store.counts()
    days = store.counts(grain="day")
    from_hours = merge(hours.assign(hour=hours["hour"] // 86400 * 86400))
    assert sorted(days["day"].unique()) == [pd.Timestamp(DAY).date(),
                                            pd.Timestamp("2026-03-11").date()]
    as_hours = days.assign(hour=[int(pd.Timestamp(d, tz="UTC").timestamp()) for d in days["day"]])
    pd.testing.assert_frame_equal(merge(as_hours.drop(columns="day")), from_hours)
    one = store.counts("v1.0", pd.Timestamp(DAY, tz="UTC").to_pydatetime(),
                       pd.Timestamp("2026-03-11", tz="UTC").to_pydatetime(),
                       measures=["rows"], grain="day")
    assert one["value"].tolist() == [1440]  # one request a minute for a day
    assert store.counts("v9.9").empty


def test_a_growing_file_is_profiled_by_its_new_lines(ws: Workspace, tmp_path: Path) -> None:
    rows = day_rows(ws, n=600)
    final = tmp_path / "final.csv"
    rows.to_csv(final, index=False)
    text = final.read_bytes()
    lines = text.splitlines(keepends=True)
    path = ws.production_dir / f"predictions-{DAY}.csv"
    ws.production_dir.mkdir(parents=True)
    path.write_bytes(b"".join(lines[:201]))
    assert ingest(ws).read == [f"data/production/predictions-{DAY}.csv"]
    # a live writer (holding the lock) in the middle of a line: that line waits
    half = lines[401][: len(lines[401]) // 2]
    path.write_bytes(b"".join(lines[:401]) + half)
    with path.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        grown = ingest(ws)
    assert grown.ok and grown.grown == [f"data/production/predictions-{DAY}.csv"]
    assert grown.rows == 200
    path.write_bytes(text)
    last = ingest(ws)
    assert last.ok and last.grown and last.rows == 200
    segments = profile_store(ws).segments(f"data/production/predictions-{DAY}.csv")
    assert [(s.row_start, s.row_end) for s in segments] == [(0, 200), (200, 400), (400, 600)]
    assert segments[1].byte_end == len(b"".join(lines[:401]))
    pd.testing.assert_frame_equal(stored(ws), direct(ws))


def test_a_bad_row_in_new_lines_is_named_in_the_log_file(ws: Workspace) -> None:
    path = write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws, n=50))
    ingest(ws)
    before = stored(ws)
    bad = day_rows(ws, n=10, seed=3)
    bad.loc[bad.index[4], "latency_ms"] = -1.0
    with path.open("a", encoding="utf-8") as fh:
        fh.write(bad.to_csv(index=False, header=False))
    result = ingest(ws)
    assert not result.ok and result.grown == []
    error = result.errors[0]
    assert isinstance(error, LogError)
    assert error.source == str(path) and error.location == "row 55, column latency_ms"
    assert "negative latency" in str(error)
    pd.testing.assert_frame_equal(stored(ws), before)


@pytest.mark.parametrize("change", ["rewritten", "shrunk"])
def test_a_rewritten_or_shrunk_file_is_profiled_again(ws: Workspace, change: str) -> None:
    path = write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws, n=400))
    ingest(ws)
    if change == "rewritten":
        write_csv(ws, path.name, day_rows(ws, n=400, seed=5))
    else:
        write_csv(ws, path.name, day_rows(ws, n=150))
    result = ingest(ws)
    assert result.ok and result.reprofiled == [f"data/production/{path.name}"]
    assert len(profile_store(ws).segments()) == 1
    pd.testing.assert_frame_equal(stored(ws), direct(ws))


def test_a_deleted_file_takes_its_profiles_with_it(ws: Workspace) -> None:
    gone = write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws))
    write_csv(ws, "predictions-2026-03-11.csv", day_rows(ws, "2026-03-11", seed=1))
    ingest(ws)
    gone.unlink()
    assert ingest_if_changed(ws) is not None
    assert profile_store(ws).segments(f"data/production/{gone.name}") == []
    pd.testing.assert_frame_equal(stored(ws), direct(ws))
    days = profile_store(ws).counts(grain="day")["day"]
    assert sorted(days.astype(str).unique()) == ["2026-03-11"]


def test_a_package_rebuilt_with_another_hash_reprofiles_its_files(ws: Workspace) -> None:
    write_csv(ws, f"predictions-{DAY}.csv", day_rows(ws))
    ingest(ws)
    old = package_hash(ws, "v1.0")
    assert set(stored(ws)["package_sha256"]) == {old}
    make_package(ws, "v1.0", n=2000, seed=9)
    manifest = ws.package_path("v1.0") / "MANIFEST.json"
    manifest.write_text(manifest.read_text().replace("2026-01-01T00", "2026-01-02T00"))
    assert package_hash(ws, "v1.0") != old
    result = ingest_if_changed(ws)
    assert result is not None and result.reprofiled == [f"data/production/predictions-{DAY}.csv"]
    assert set(stored(ws)["package_sha256"]) == {package_hash(ws, "v1.0")}
    pd.testing.assert_frame_equal(stored(ws), direct(ws))


def test_two_versions_in_one_file_and_a_file_without_ids(ws: Workspace) -> None:
    make_package(ws, "v1.1", n=2000, seed=4)
    both = pd.concat([day_rows(ws, n=200), day_rows(ws, n=200, version="v1.1", seed=2),
                      day_rows(ws, n=50, version="v0.9", seed=6)])
    write_csv(ws, f"predictions-{DAY}.csv", both)
    write_csv(ws, "predictions-2026-03-11.csv",
              day_rows(ws, "2026-03-11", seed=1, request_ids=False))
    assert ingest(ws).ok
    counts = stored(ws)
    shas = counts.groupby("version")["package_sha256"].unique().map(list).to_dict()
    assert shas == {"v0.9": [""], "v1.0": [package_hash(ws, "v1.0")],
                    "v1.1": [package_hash(ws, "v1.1")]}
    assert not ((counts["version"] == "v0.9") & counts["measure"].isin(
        ["feature", "prediction"])).any()
    later = counts[counts["hour"] >= pd.Timestamp("2026-03-11", tz="UTC").timestamp()]
    assert "with_id" not in set(later["measure"])
    pd.testing.assert_frame_equal(counts, direct(ws))
    layouts = json.loads(json.dumps(profile_store(ws).sources()[
        f"data/production/predictions-{DAY}.csv"].layouts))
    assert layouts == {"v0.9": "", "v1.0": package_hash(ws, "v1.0"),
                       "v1.1": package_hash(ws, "v1.1")}


def test_a_version_without_its_feature_columns_is_an_error(ws: Workspace) -> None:
    rows = day_rows(ws).drop(columns=["amount"])
    write_csv(ws, f"predictions-{DAY}.csv", rows)
    write_csv(ws, "predictions-2026-03-11.csv", day_rows(ws, "2026-03-11", seed=1))
    result = ingest(ws)
    assert [e.location for e in result.errors] == ["header"]
    assert "missing column(s) amount" in str(result.errors[0])
    assert result.read == ["data/production/predictions-2026-03-11.csv"]
    assert profile_store(ws).segments(f"data/production/predictions-{DAY}.csv") == []


def test_an_unknown_engine_is_refused(ws: Workspace) -> None:
    with pytest.raises(InputError, match="unknown profile engine 'polars'"):
        ingest(ws, "polars")


@pytest.mark.parametrize(
    "case", [c for c in LOG_CASES if c.error is LogError], ids=lambda c: c.name)
def test_every_hostile_log_is_named_and_nothing_of_it_stored(
    case: Case, hws: Workspace
) -> None:
    assert ingest(hws).ok  # the master's logs, all in already
    case.mutate(hws.root)
    before = snapshot(hws)
    result = ingest(hws)
    errors = [e for e in result.errors if isinstance(e, LogError)]
    assert errors, result
    message = str(errors[0])
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert result.read == result.grown == result.reprofiled == []
    store = profile_store(hws)
    bad = Path(str(errors[0].source)).relative_to(hws.root).as_posix()
    if result.removed:  # the day's CSV was replaced by a bad Parquet file: its rows go
        assert result.removed == [f"data/production/predictions-{DAY}.csv"]
        assert store.segments(bad) == [] and bad not in store.sources()
    else:
        profiled = before["profiled"]
        assert isinstance(profiled, dict)
        assert snapshot(hws)["profiled"] == profiled  # the bad file's old profile kept
        assert_untouched(before, hws)
