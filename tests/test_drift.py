"""PSI: properties (hypothesis), agreement with a direct computation, bins of the profile."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deployready.errors import PackageError
from deployready.monitoring.drift import (
    DriftResult,
    FeatureDrift,
    bin_keys,
    bin_labels,
    compute_drift,
    feature_drift,
    psi,
    status_of,
)
from deployready.package.profile import (
    categorical_counts,
    categorical_counts_fast,
    check_profile,
    fit_profile,
    numeric_counts,
    numeric_counts_fast,
)
from deployready.policy import DriftPolicy

EPS = DriftPolicy().epsilon

floats = st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.just(float("nan")))
values = hnp.arrays(np.float64, st.integers(1, 300), elements=floats)
props = st.lists(st.floats(0, 1), min_size=2, max_size=15)


def direct_psi(profile_spec: dict, column: pd.Series, eps: float) -> float:
    """A deliberately plain per-feature computation: loop over bins with math.log."""
    if profile_spec["kind"] == "numeric":
        counts = numeric_counts(np.array(profile_spec["edges"]), column.to_numpy(dtype=float))
    else:
        counts = categorical_counts(profile_spec["categories"], column)
    total = sum(counts)
    out = 0.0
    for ref, n in zip(profile_spec["proportions"], counts, strict=True):
        r = max(ref, eps)
        c = max(n / total, eps)
        out += (c - r) * math.log(c / r)
    return out


def frames(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "x": x,
        "k": rng.integers(0, 5, n).astype(float),  # few distinct values: duplicate edges
        "c": pd.array(rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05]),
                      dtype="string"),
    })


@given(values, st.lists(floats.filter(lambda v: v == v), max_size=12))
def test_fast_counts_equal_profile_counts(vals: np.ndarray, edges: list[float]) -> None:
    e = np.unique(np.array(edges, dtype=float))
    # values equal to edges are the boundary case of right-closed bins
    mixed = np.concatenate([vals, e])
    assert np.array_equal(numeric_counts_fast(e, mixed), numeric_counts(e, mixed))


@given(st.lists(st.sampled_from(["a", "b", "c", "zz", None]), min_size=1, max_size=200))
def test_categorical_counts_other_and_nan(items: list[str | None]) -> None:
    s = pd.Series(items, dtype="string")
    fast = categorical_counts_fast(["a", "b"], s)
    assert np.array_equal(fast, categorical_counts(["a", "b"], s))
    assert fast[2] == sum(1 for i in items if i in ("c", "zz"))  # other
    assert fast[3] == sum(1 for i in items if i is None)  # NaN bin


@given(props, st.randoms())
def test_psi_nonnegative(p: list[float], rnd) -> None:  # type: ignore[no-untyped-def]
    q = list(p)
    rnd.shuffle(q)
    assert psi(p, q, EPS) >= 0.0


@given(props)
def test_psi_zero_on_identical(p: list[float]) -> None:
    assert psi(p, p, EPS) == 0.0


def test_epsilon_floor_documented() -> None:
    # empty current bin: (eps - q) * ln(eps / q), not renormalized
    value = psi([0.5, 0.5], [1.0, 0.0], EPS)
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (EPS - 0.5) * math.log(EPS / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 2000), st.floats(-2, 2))
def test_agrees_with_direct_loop(seed: int, n: int, shift: float) -> None:
    ref = frames(seed, 3000)
    profile = fit_profile(ref, bins=10)
    cur = frames(seed + 1, n, shift)
    result = compute_drift(profile, cur, policy=DriftPolicy())
    for name in cur.columns:
        got = result.features[name].psi
        assert got is not None
        assert got == pytest.approx(direct_psi(profile["features"][name], cur[name], EPS),
                                    rel=1e-9, abs=1e-12)
        assert got >= 0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 500))
def test_identical_data_gives_zero_and_row_order_invariance(seed: int, n: int) -> None:
    data = frames(seed, n)
    profile = fit_profile(data, np.linspace(0, 1, n), bins=10)
    same = compute_drift(profile, data, np.linspace(0, 1, n))
    assert all(f.psi == 0.0 for f in same.features.values())
    assert same.prediction is not None and same.prediction.psi == 0.0
    cur = frames(seed + 7, 400, 0.3)
    perm = np.random.default_rng(seed).permutation(len(cur))
    a = compute_drift(profile, cur).psi_by_feature()
    b = compute_drift(profile, cur.iloc[perm].reset_index(drop=True)).psi_by_feature()
    assert a == b


def test_nan_has_its_own_bin() -> None:
    ref = pd.DataFrame({"x": np.r_[np.arange(100.0), [np.nan] * 0]})
    profile = fit_profile(ref, bins=4)
    cur = pd.DataFrame({"x": np.r_[np.arange(50.0), [np.nan] * 50]})
    f = compute_drift(profile, cur).features["x"]
    assert f.current[-1] == 0.5 and f.reference[-1] == 0.0
    assert f.bins[-1] == "(missing)"
    assert f.psi is not None and f.psi > 0.25


def test_result_stores_edges_and_proportions() -> None:
    ref = frames(1, 2000)
    profile = fit_profile(ref, bins=10)
    result = compute_drift(profile, frames(2, 500, 1.0))
    x = result.features["x"]
    assert x.edges == profile["features"]["x"]["edges"]
    assert x.reference == profile["features"]["x"]["proportions"]
    assert len(x.current) == len(x.edges) + 2 and sum(x.current) == pytest.approx(1.0)
    c = result.features["c"]
    assert c.categories == ["a", "b", "c"]
    assert c.bins == ["a", "b", "c", "(unseen)", "(missing)"]
    assert result.as_dict()["features"]["x"]["edges"] == x.edges
    assert type(result).from_dict(result.as_dict()) == result


def test_unseen_category_goes_to_other() -> None:
    profile = fit_profile(pd.DataFrame({"c": pd.array(["a", "b"] * 50, dtype="string")}))
    cur = pd.DataFrame({"c": pd.array(["a", "new"] * 50, dtype="string")})
    f = compute_drift(profile, cur).features["c"]
    assert f.current == [0.5, 0.0, 0.5, 0.0]
    assert f.status == "alert"


def test_status_levels() -> None:
    p = DriftPolicy()
    assert status_of(0.0999, p) == "ok"
    assert status_of(0.10, p) == "warn"
    assert status_of(0.2499, p) == "warn"
    assert status_of(0.25, p) == "alert"
    assert status_of(None, p) == "no_data"


def test_empty_current_is_no_data() -> None:
    spec = {"kind": "numeric", "edges": [0.0], "proportions": [0.5, 0.5, 0.0]}
    f = feature_drift("x", spec, np.zeros(3), DriftPolicy())
    assert f.psi is None and f.status == "no_data"


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3000))
def test_profile_fit_counts_as_the_definition(seed: int, n: int) -> None:
    """The one fitter counts by compare-and-count: the shares of the plain definition."""
    data = frames(seed, n)
    preds = np.random.default_rng(seed).random(n)
    profile = fit_profile(data, preds, bins=10)
    columns = {**{str(c): data[c] for c in data.columns}, "prediction": pd.Series(preds)}
    specs = {**profile["features"], "prediction": profile["prediction"]}
    assert set(specs) == set(columns)
    for name, spec in specs.items():
        if spec["kind"] == "numeric":
            counts = numeric_counts(np.array(spec["edges"]), columns[name].to_numpy(dtype=float))
        else:
            counts = categorical_counts(spec["categories"], columns[name])
        assert spec["proportions"] == (counts / n).tolist(), name


# --------------------------------------------------------------------------- bin identity

#: Real categories spelled like the other bins' labels, or like each other once printed.
LOOKALIKES = ["other", "NaN", "nan", "None", "", " other", "(unseen)", "(missing)",
              '"other"', "≤ 1", "null"]


def test_categories_named_like_the_other_bins_keep_their_own_bins() -> None:
    ref = pd.DataFrame({"c": pd.array(LOOKALIKES * 10 + [None] * 10, dtype="string")})
    profile = fit_profile(ref)
    cur = pd.DataFrame({"c": pd.array(["other"] * 10 + ["brand-new"] * 20 + [None] * 6
                                      + ["NaN"] * 4, dtype="string")})
    f = compute_drift(profile, cur).features["c"]
    assert len(set(f.bins)) == len(f.bins) == len(LOOKALIKES) + 2
    share = {json.dumps(k, sort_keys=True): c for k, c in zip(f.bin_keys, f.current, strict=True)}
    assert share[json.dumps({"kind": "category", "value": "other"})] == 10 / 40
    assert share[json.dumps({"kind": "category", "value": "NaN"})] == 4 / 40
    assert share[json.dumps({"kind": "unseen"})] == 20 / 40
    assert share[json.dumps({"kind": "missing"})] == 6 / 40
    label = dict(zip(map(json.dumps, f.bin_keys), f.bins, strict=True))
    unseen, missing = label[json.dumps({"kind": "unseen"})], label[json.dumps({"kind": "missing"})]
    category_labels = [lb for k, lb in label.items() if '"category"' in k]
    assert unseen not in category_labels and missing not in category_labels
    assert label[json.dumps({"kind": "category", "value": "other"})] == "other"  # plain stays
    assert f.psi == pytest.approx(direct_psi(profile["features"]["c"], cur["c"], EPS),
                                  rel=1e-12, abs=1e-12)
    assert FeatureDrift.from_dict(f.as_dict()) == f


def test_category_labels_are_one_to_one() -> None:
    spec = {"kind": "categorical", "categories": LOOKALIKES, "proportions": [0.0] * 13}
    labels = bin_labels(spec)
    assert len(set(labels)) == len(labels)
    keys = bin_keys(spec)
    assert keys[:-2] == [{"kind": "category", "value": c} for c in LOOKALIKES]
    assert keys[-2:] == [{"kind": "unseen"}, {"kind": "missing"}]


def test_numeric_bin_labels_tell_close_edges_apart() -> None:
    spec = {"kind": "numeric", "edges": [1.0, 1.00001, 1.00002, 1e6, 1000001.0],
            "proportions": [0.0] * 7}
    labels = bin_labels(spec)
    assert len(set(labels)) == len(labels) == 7
    assert labels[0] == "≤ 1" and labels[-1] == "(missing)"
    assert bin_keys(spec)[:2] == [{"kind": "range", "low": None, "high": 1.0},
                                  {"kind": "range", "low": 1.0, "high": 1.00001}]
    assert bin_keys(spec)[-2:] == [{"kind": "range", "low": 1000001.0, "high": None},
                                   {"kind": "missing"}]


def test_results_stored_with_the_old_labels_read_unambiguously() -> None:
    """A daily check stored before bins had distinct labels: a category ``other`` beside
    the ``other`` bin of unseen categories, and the NaN bin."""
    stored = {"name": "device", "kind": "categorical", "psi": 0.01, "status": "ok",
              "count": 40, "bins": ["desktop", "ios", "other", "other", "NaN"],
              "reference": [0.3, 0.3, 0.4, 0.0, 0.0], "current": [0.25, 0.25, 0.5, 0.0, 0.0],
              "edges": None, "categories": ["desktop", "ios", "other"]}
    f = FeatureDrift.from_dict(stored)
    assert f.bins == ["desktop", "ios", "other", "(unseen)", "(missing)"]
    assert f.bin_keys[2] == {"kind": "category", "value": "other"}
    result = DriftResult.from_dict({"epsilon": EPS, "psi_warn": 0.1, "psi_alert": 0.25,
                                    "rows": 40, "features": {"device": stored},
                                    "prediction": None})
    assert result.features["device"].bins == f.bins


def test_distribution_chart_has_one_bar_per_bin() -> None:
    from deployready.charts.monitoring import distribution_bars

    profile = fit_profile(pd.DataFrame({"c": pd.array(["other", "a"] * 5, dtype="string")}))
    f = compute_drift(profile, pd.DataFrame({"c": pd.array(["zz", "a"], dtype="string")}))
    fd = f.features["c"]
    fig = distribution_bars(fd.bins, fd.reference, fd.current, title="c")
    xs = list(fig.data[0].x)
    assert len(set(xs)) == len(xs) == 4


def test_profile_repeating_a_category_is_refused() -> None:
    profile = fit_profile(pd.DataFrame({"c": pd.array(["a", "b"], dtype="string")}))
    profile["features"]["c"]["categories"] = ["a", "a"]
    with pytest.raises(PackageError) as err:
        check_profile(profile, "reference_profile.json")
    assert err.value.location == "features.c.categories"
    assert "each category once" in str(err.value)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_logged_categories_named_like_missing_values_stay_categories(
    tmp_path: Path, engine: str
) -> None:
    """Written by the server's prediction log and counted by either log engine, the
    categories ``NaN``, ``nan``, ``None`` and ``other`` land in their own bins, a null in
    the missing bin and an unseen category in the unseen bin."""
    from deployready.monitoring.logs import ProductionLogs
    from deployready.serving.predlog import PredictionLog

    names = ["NaN", "None", "nan", "other"]
    ref = pd.DataFrame({"c": pd.array([*names, None], dtype="string")})
    profile = fit_profile(ref)
    assert profile["features"]["c"]["categories"] == names
    log = PredictionLog(tmp_path, "v1.0", ["c"], flush_seconds=0.01)
    ts = pd.Timestamp("2026-03-01T12:00:00Z").timestamp()
    values = ["other", "other", "NaN", "nan", "None", None, None, None, "brand-new"]
    log.add_request(ts, 1.0, [{"c": v} for v in values], [0.5] * len(values), "")
    log.close()
    logs = ProductionLogs(tmp_path, {"c": "categorical"}, engine)  # type: ignore[arg-type]
    try:
        (counts,) = logs.bin_counts(profile, "v1.0").values()
    finally:
        logs.close()
    assert counts.features["c"].tolist() == [1.0, 1.0, 1.0, 2.0, 1.0, 3.0]
    f = compute_drift(profile, pd.DataFrame({"c": pd.array(values, dtype="string")}))
    assert f.features["c"].current == (counts.features["c"] / len(values)).tolist()
