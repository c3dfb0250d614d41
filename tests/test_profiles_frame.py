"""The long form of a profile: the vectorized :func:`profile_rows` equals a direct count
per (version, hour) with the drift counters and the latency histogram, on random frames
(NaN, unseen categories, values exactly on an edge, error rows, several versions and
hours); merging the profiles of two halves equals the profile of the whole."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.monitoring.drift import count_frame
from deployready.monitoring.logs_schema import REQUEST_ID
from deployready.monitoring.profiles.frame import (
    COLUMNS,
    Layout,
    empty_profile,
    merge,
    normalized,
    profile_rows,
)
from deployready.monitoring.profiles.histogram import EDGES, histogram_of

PROFILE_A: dict[str, Any] = {
    "features": {
        "amount": {"kind": "numeric", "edges": [-1.5, 0.0, 2.25, 10.0],
                   "proportions": [0.2] * 5 + [0.0]},
        "channel": {"kind": "categorical", "categories": ["app", "other", "web"],
                    "proportions": [0.3, 0.3, 0.4, 0.0, 0.0]},
    },
    "prediction": {"kind": "numeric", "edges": [0.1, 0.5, 0.9],
                   "proportions": [0.25] * 4 + [0.0]},
}
PROFILE_B: dict[str, Any] = {
    "features": {
        "amount": {"kind": "numeric", "edges": [0.0, 0.0, 5.0],
                   "proportions": [0.25] * 4 + [0.0]},
    },
    "prediction": {"kind": "numeric", "edges": [0.5],
                   "proportions": [0.5, 0.5, 0.0]},
}
LAYOUTS = {"v1.0": Layout("a" * 64, PROFILE_A), "v2.0": Layout("b" * 64, PROFILE_B)}
BASE = pd.Timestamp("2026-03-10T00:00:00Z")

amounts = st.one_of(st.sampled_from([-1.5, 0.0, 2.25, 10.0, 5.0, float("nan")]),
                    st.floats(-20, 20, allow_nan=False))
channels = st.one_of(st.sampled_from(["app", "web", "other", "NaN", "tv", ""]), st.none())
latencies = st.one_of(st.sampled_from([0.0, 0.0005, float(EDGES[10]), float(EDGES[500]),
                                       3_600_000.0]),
                      st.floats(0, 5000, allow_nan=False))
rows = st.tuples(
    st.integers(0, 60 * 60 * 50 - 1),  # seconds after BASE: about two days of hours
    st.sampled_from(["v1.0", "v2.0", "v9.9"]),
    latencies,
    st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 0.33]),
    st.sampled_from(["", "", "", "timeout", "bad_input"]),
    st.one_of(st.none(), st.text("abc", min_size=1, max_size=3)),
    amounts,
    channels,
)


def frame_of(data: list[tuple[Any, ...]]) -> pd.DataFrame:
    ts, version, latency, prediction, error, rid, amount, channel = (
        list(c) for c in zip(*data, strict=True)) if data else ([],) * 8
    prediction = [np.nan if e else p for e, p in zip(error, prediction, strict=True)]
    return pd.DataFrame({
        "timestamp": pd.to_datetime([BASE + pd.Timedelta(seconds=s) for s in ts], utc=True),
        "version": pd.array(version, dtype="str"),
        "latency_ms": np.asarray(latency, dtype=np.float64),
        "prediction": np.asarray(prediction, dtype=np.float64),
        "error": pd.array(error, dtype="str"),
        REQUEST_ID: pd.array(rid, dtype="string"),
        "amount": np.asarray(amount, dtype=np.float64),
        "channel": pd.array(channel, dtype="string"),
    })


def _rows(version: str, sha: str, hour: int, measure: str, key: str,
          buckets: Any, values: Any) -> pd.DataFrame:
    values = np.asarray(values, dtype=np.int64)
    n = len(values)
    return pd.DataFrame({"version": [version] * n, "package_sha256": [sha] * n,
                         "hour": [hour] * n, "measure": [measure] * n, "key": [key] * n,
                         "bucket": np.asarray(buckets, dtype=np.int64), "value": values})


def direct(frame: pd.DataFrame, layouts: dict[str, Layout]) -> pd.DataFrame:
    """The oracle: one (version, hour) at a time, with count_frame and histogram_of."""
    if frame.empty:
        return empty_profile()
    hours = frame["timestamp"].map(lambda t: int(t.timestamp()) // 3600 * 3600)
    parts = [empty_profile()]
    for (version, hour), rows in frame.groupby([frame["version"].astype(str), hours]):
        layout = layouts.get(str(version))
        sha = layout.package_sha256 if layout else ""
        one = [0]
        def add(m: str, k: str, b: Any, v: Any, ver: str = str(version), sha: str = sha,
                hour: int = int(hour)) -> None:
            parts.append(_rows(ver, sha, hour, m, k, b, v))

        micros = [int(t.value // 1000) for t in rows["timestamp"]]
        add("rows", "", one, [len(rows)])
        add("first_us", "", one, [min(micros)])
        add("last_us", "", one, [max(micros)])
        for kind, count in rows.loc[rows["error"] != "", "error"].value_counts().items():
            add("error", str(kind), one, [count])
        ok = rows[rows["error"] == ""]
        add("with_id", "", one, [int(ok[REQUEST_ID].notna().sum())])
        add("latency", "", *histogram_of(ok["latency_ms"].to_numpy()))
        add("latency_sum_us", "", one,
            [sum(int(np.floor(x * 1000.0)) for x in ok["latency_ms"])])
        if layout is not None and len(ok):
            feats, pred = count_frame(layout.profile, ok, ok["prediction"].to_numpy())
            for name, counts in {**feats, "": pred}.items():
                nz = np.flatnonzero(counts)
                add("prediction" if name == "" else "feature", name, nz, counts[nz])
    return normalized(pd.concat(parts, ignore_index=True))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=80))
def test_vectorized_profile_equals_a_direct_count_per_group(data: list[tuple[Any, ...]]) -> None:
    frame = frame_of(data)
    got = profile_rows(frame, LAYOUTS)
    want = direct(frame, LAYOUTS)
    pd.testing.assert_frame_equal(got, want)
    assert list(got.columns) == list(COLUMNS)


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, max_size=60), st.integers(0, 60))
def test_profiles_of_two_parts_merge_to_the_profile_of_the_whole(
    data: list[tuple[Any, ...]], cut: int
) -> None:
    frame = frame_of(data)
    first, second = frame.iloc[:cut], frame.iloc[cut:]
    merged = merge(profile_rows(first, LAYOUTS), profile_rows(second, LAYOUTS))
    pd.testing.assert_frame_equal(merged, profile_rows(frame, LAYOUTS))


def test_a_value_on_an_edge_falls_in_the_bin_it_closes() -> None:
    frame = frame_of([(0, "v1.0", 1.0, 0.5, "", "x", 0.0, "web"),
                      (1, "v1.0", 1.0, 0.5, "", "x", 2.25, "tv"),
                      (2, "v1.0", 1.0, 0.9, "", None, float("nan"), None)])
    got = profile_rows(frame, LAYOUTS).set_index(["measure", "key", "bucket"])["value"]
    assert got[("feature", "amount", 1)] == 1  # 0.0 in (-1.5, 0]
    assert got[("feature", "amount", 2)] == 1  # 2.25 in (0, 2.25]
    assert got[("feature", "amount", 5)] == 1  # NaN: the last bin
    assert got[("feature", "channel", 2)] == 1  # web
    assert got[("feature", "channel", 3)] == 1  # unseen
    assert got[("feature", "channel", 4)] == 1  # missing
    assert got[("prediction", "", 1)] == 2 and got[("prediction", "", 2)] == 1
    assert got[("with_id", "", 0)] == 2
