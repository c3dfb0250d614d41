"""Merged profile reads are remembered per store generation: the same question asked
again (by another page, or the same page re-rendered) is not read again, and any
committed ingest — or a store deleted and rebuilt — is a new answer."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from test_profiles_store import hour_profile, write

from deployready.monitoring.profiles.frame import merge
from deployready.monitoring.profiles.store import ProfileStore


def test_a_read_is_remembered_until_the_generation_moves(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.db")
    rng = np.random.default_rng(3)
    first, second = hour_profile(0, rng), hour_profile(0, rng)
    write(store, "a.csv", first)
    store.close()
    before = store.counts("v1.0", measures=["rows", "latency"])
    # a change behind the store's back (no generation moved): the remembered answer
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE profile_hours SET value = value + 1")
    again = store.counts("v1.0", measures=["rows", "latency"])
    pd.testing.assert_frame_equal(again, before)
    again.loc[0, "value"] = -1  # a caller's change stays its own
    assert store.counts("v1.0", measures=["rows", "latency"])["value"].iloc[0] != -1
    write(store, "b.csv", second)  # a committed ingest: read again
    store.close()
    after = store.counts("v1.0", measures=["rows", "latency"])
    assert int(after["value"].sum()) == int(before["value"].sum()) + int(
        second.loc[second["measure"].isin(["rows", "latency"]), "value"].sum()) + len(
        first.loc[first["measure"].isin(["rows", "latency"])].drop_duplicates(
            ["hour", "measure", "key", "bucket"]))


def test_a_rebuilt_store_is_a_new_answer(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.db")
    rng = np.random.default_rng(4)
    first, second = hour_profile(0, rng), hour_profile(0, rng)
    write(store, "a.csv", first)
    store.close()
    old = store.counts("v1.0", grain="day")
    for name in ("profiles.db", "profiles.db-wal", "profiles.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
    write(store, "a.csv", second)  # the same generation as before, other counts
    store.close()
    new = store.counts("v1.0", grain="day")
    want = merge(second.assign(hour=second["hour"] // 86400 * 86400))
    assert new["value"].tolist() == want["value"].tolist() != old["value"].tolist()
