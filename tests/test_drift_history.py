"""The drift history: vectorized PSI equal to the per-period definition (hypothesis), the
history equal to ``drift_by_day`` on the demo (profiles, kept numbers, raw engine), the
kept numbers never trusted when stale, corrupt or tampered with, and one day's detail."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deployready.monitoring.daily import drift_by_day, read_profile
from deployready.monitoring.drift import DriftResult, feature_drift, psi_of_counts, status_of
from deployready.monitoring.drift_cache import cache_file, cache_key, read_cache
from deployready.monitoring.drift_history import DriftHistory, drift_history, drift_of_day
from deployready.monitoring.profiles.store import ProfileStore
from deployready.package.manifest import package_sha256
from deployready.policy import DriftPolicy
from deployready.workspace import Workspace

VERSION = "v1.0"


# --------------------------------------------------------------------------- the oracle


@st.composite
def counted(draw: st.DrawFn) -> tuple[dict[str, Any], np.ndarray, float]:
    """A numeric or categorical spec, its reference proportions (empty bins included) and
    a periods × bins matrix of counts with empty bins and empty periods."""
    if draw(st.booleans()):
        edges = sorted(set(draw(st.lists(st.floats(-1e3, 1e3), max_size=9))))
        spec: dict[str, Any] = {"kind": "numeric", "edges": edges}
        size = len(edges) + 2
    else:
        categories = draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=7,
                                   unique=True))
        spec = {"kind": "categorical", "categories": categories}
        size = len(categories) + 2
    weights = draw(hnp.arrays(np.float64, size, elements=st.sampled_from([0.0, 0.0, 1.0, 3.5,
                                                                          1e-6, 40.0])))
    spec["proportions"] = (weights / weights.sum() if weights.sum() else weights).tolist()
    periods = draw(st.integers(1, 12))
    counts = draw(hnp.arrays(np.int64, (periods, size), elements=st.sampled_from(
        [0, 0, 0, 1, 2, 7, 300, 10_000])))
    counts[draw(st.integers(0, periods - 1))] = 0  # a period without rows
    return spec, counts.astype(np.float64), draw(st.sampled_from([1e-4, 1e-6, 0.01]))


@settings(max_examples=300, deadline=None)
@given(counted())
def test_vectorized_psi_is_feature_drift(case: tuple[dict[str, Any], np.ndarray, float]) -> None:
    spec, counts, epsilon = case
    policy = DriftPolicy(epsilon=epsilon)
    values, shares = psi_of_counts(spec["proportions"], counts, epsilon)
    for i, row in enumerate(counts):
        one = feature_drift("f", spec, row, policy)
        got = None if math.isnan(values[i]) else float(values[i])
        if one.psi is None:
            assert got is None
        else:
            assert got is not None and math.isclose(got, one.psi, rel_tol=1e-12, abs_tol=1e-12)
        assert shares[i].tolist() == one.current
        assert status_of(got, policy) == one.status


def test_vectorized_psi_refuses_counts_of_other_bins() -> None:
    with pytest.raises(ValueError, match="3 bins counted, profile has 2"):
        psi_of_counts([0.5, 0.5], np.ones((4, 3)), 1e-4)


# --------------------------------------------------------------------------- the demo


def assert_same(history: DriftHistory, by_day: dict[date, DriftResult]) -> None:
    """Every (day, feature) and the prediction of every day, to 1e-12, statuses equal."""
    assert history.days == sorted(by_day)
    for j, day in enumerate(history.days):
        want = by_day[day]
        assert history.rows[j] == want.rows
        for i, name in enumerate(history.features):
            feature = want.features.get(name)
            if feature is None or feature.psi is None:
                assert math.isnan(history.psi[i, j]), (day, name)
                continue
            assert history.psi[i, j] == pytest.approx(feature.psi, rel=1e-12, abs=1e-12)
            assert history.status(name, day) == feature.status
        pred = want.prediction
        assert pred is not None and pred.psi is not None
        assert history.prediction_psi[j] == pytest.approx(pred.psi, rel=1e-12, abs=1e-12)
        assert history.prediction_current[j].tolist() == pred.current
        assert history.prediction_bins == pred.bins
        assert history.prediction_reference == pred.reference


@pytest.fixture
def ws(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("DEPLOYREADY_LOG_ENGINE", raising=False)
    return Workspace.open(demo_ws)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``days`` of every day-grain read of drift counts from the profile store
    (None: every day) — the store itself answers, this only records the question."""
    calls: list[Any] = []
    real: Callable[..., pd.DataFrame] = ProfileStore.counts

    def counts(self: ProfileStore, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if "feature" in (kwargs.get("measures") or ()):
            calls.append(kwargs.get("days"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ProfileStore, "counts", counts)
    return calls


def _cache(ws: Workspace) -> Path:
    return cache_file(ws.data_dir, VERSION)


def _key(ws: Workspace, policy: DriftPolicy | None = None) -> dict[str, Any]:
    profile = read_profile(ws, VERSION)
    return cache_key(VERSION, package_sha256(ws.package_path(VERSION)),
                     policy or ws.policy().drift, list(profile["features"]),
                     len(profile["prediction"]["proportions"]))


def test_history_equals_drift_by_day_computed_then_kept(ws: Workspace, asked: list[Any]) -> None:
    by_day = drift_by_day(ws, VERSION)
    assert len(by_day) == 30
    asked.clear()
    assert_same(drift_history(ws, VERSION), by_day)
    assert asked == [None]  # nothing kept yet: every day read once
    kept = read_cache(_cache(ws), _key(ws))
    assert kept is not None and kept.days.size >= 30
    asked.clear()
    assert_same(drift_history(ws, VERSION), by_day)  # from the kept numbers
    assert asked == []
    first, last = sorted(by_day)[3], sorted(by_day)[9]
    part = drift_history(ws, VERSION, first, last)
    assert_same(part, {d: r for d, r in by_day.items() if first <= d <= last})


def test_history_from_a_raw_engine_equals_drift_by_day(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "duckdb")
    by_day = drift_by_day(ws, VERSION)
    assert_same(drift_history(ws, VERSION), by_day)
    assert not _cache(ws).exists()  # the raw rows answer: nothing kept


def test_a_corrupt_or_tampered_cache_is_ignored(ws: Workspace, asked: list[Any]) -> None:
    by_day = drift_by_day(ws, VERSION)
    drift_history(ws, VERSION)
    target = _cache(ws)
    with np.load(target, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["psi"] = arrays["psi"].copy()
    arrays["psi"][-1, 0] += 0.5  # a PSI edited, the digest left as it was
    np.savez(target, **arrays)
    assert read_cache(target, _key(ws)) is None
    asked.clear()
    assert_same(drift_history(ws, VERSION), by_day)
    assert asked == [None] and read_cache(target, _key(ws)) is not None  # rewritten
    for broken in (b"not an npz file", target.read_bytes()[:200], b""):
        target.write_bytes(broken)
        asked.clear()
        assert_same(drift_history(ws, VERSION), by_day)
        assert asked == [None]


def test_kept_numbers_are_keyed_on_the_drift_policy(ws: Workspace) -> None:
    drift_history(ws, VERSION)
    other = dataclasses.replace(ws.policy(), drift=DriftPolicy(epsilon=1e-2))
    assert read_cache(_cache(ws), _key(ws, other.drift)) is None
    assert_same(drift_history(ws, VERSION, policy=other),
                drift_by_day(ws, VERSION, policy=other))


def _rewrite_day(ws: Workspace, day: date) -> None:
    """The day's log file rewritten with the same rows, ``amount`` tripled."""
    path = ws.production_dir / f"predictions-{day.isoformat()}.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    amount = pd.to_numeric(rows["amount"], errors="coerce")
    rows["amount"] = [repr(float(v) * 3) if v == v else "" for v in amount]
    rows.to_csv(path, index=False)


def test_a_rewritten_day_alone_is_computed_again(ws: Workspace, asked: list[Any]) -> None:
    before = drift_history(ws, VERSION)
    day = before.days[-5]
    _rewrite_day(ws, day)
    asked.clear()
    after = drift_history(ws, VERSION)
    assert asked == [[day]]  # only that day's counts read
    assert_same(after, drift_by_day(ws, VERSION))
    row, col = after.features.index("amount"), after.days.index(day)
    assert after.psi[row, col] != before.psi[row, col]
    assert after.rows[col] == before.rows[col]
    others = [j for j in range(len(after.days)) if j != col]
    np.testing.assert_array_equal(after.psi[:, others], before.psi[:, others])


def test_an_unwritable_cache_folder_still_answers(ws: Workspace) -> None:
    (ws.data_dir / "cache").mkdir(exist_ok=True)
    target = _cache(ws)
    target.mkdir()  # a folder where the file would be
    assert_same(drift_history(ws, VERSION), drift_by_day(ws, VERSION))
    assert target.is_dir()


def test_one_day_is_drift_by_day_of_that_day(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                            asked: list[Any]) -> None:
    by_day = drift_by_day(ws, VERSION)
    days = sorted(by_day)
    for day in (days[0], days[-1]):
        asked.clear()
        got = drift_of_day(ws, VERSION, day)
        assert got is not None and got.as_dict() == by_day[day].as_dict()
        assert asked == [[day]]
    assert drift_of_day(ws, VERSION, date(1999, 1, 1)) is None
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "pandas")
    got = drift_of_day(ws, VERSION, days[-1])
    assert got is not None and got.as_dict() == by_day[days[-1]].as_dict()
