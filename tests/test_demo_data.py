"""The demo dataset: deterministic, time-ordered, drift and synthetic rows as specified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deployready.certification.metrics import synthetic_noise
from deployready.demo.data import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    make_dataset,
)
from deployready.errors import InputError

START, END = "2024-01-01", "2024-03-31"


def test_deterministic() -> None:
    a = make_dataset(
        3000,
        START,
        END,
        seed=7,
        synthetic_share=0.1,
        synthetic_noise=0.01,
        drift={"amount": 1.0, "channel": 0.3},
        drift_start="2024-03-01",
    )
    b = make_dataset(
        3000,
        START,
        END,
        seed=7,
        synthetic_share=0.1,
        synthetic_noise=0.01,
        drift={"amount": 1.0, "channel": 0.3},
        drift_start="2024-03-01",
    )
    pd.testing.assert_frame_equal(a, b)
    c = make_dataset(3000, START, END, seed=8)
    assert not np.allclose(a["amount"].to_numpy()[:100], c["amount"].to_numpy()[:100])


def test_columns_and_values() -> None:
    df = make_dataset(5000, START, END, seed=1, constant_feature=True)
    expected = [
        "event_time",
        *NUMERIC_FEATURES,
        *CATEGORICAL_FEATURES,
        "legacy_flag",
        "is_synthetic",
        "target",
    ]
    assert list(df.columns) == expected
    times = df["event_time"]
    assert str(times.dt.tz) == "UTC"
    assert times.is_monotonic_increasing
    assert times.min() >= pd.Timestamp(START, tz="UTC") and times.max() < pd.Timestamp(
        END, tz="UTC"
    )
    nan_cols = [c for c in df.columns if df[c].isna().any()]
    assert nan_cols == ["distance_km"]
    assert 0.005 < df["distance_km"].isna().mean() < 0.05
    assert 0.18 < df["target"].mean() < 0.32
    assert set(df["target"].unique()) == {0, 1}
    assert not df["is_synthetic"].any()
    assert df["legacy_flag"].value_counts(normalize=True).max() > 0.98
    assert df["amount"].skew() > 1.0  # skewed, like money
    assert df["hour_of_day"].between(0, 23).all()
    assert df["credit_score"].between(300, 850).all()
    for name in CATEGORICAL_FEATURES:
        assert df[name].nunique() >= 3
    assert "legacy_flag" not in make_dataset(100, START, END, seed=1).columns


def test_numeric_drift_after_drift_start_only() -> None:
    base = make_dataset(4000, START, END, seed=3)
    drifted = make_dataset(
        4000, START, END, seed=3, drift={"amount": 2.0}, drift_start="2024-03-01"
    )
    after = (base["event_time"] >= pd.Timestamp("2024-03-01", tz="UTC")).to_numpy()
    assert 0.2 < after.mean() < 0.5
    pd.testing.assert_frame_equal(base[~after], drifted[~after])
    shift = (drifted["amount"] - base["amount"])[after]
    assert np.allclose(shift, 2.0 * np.nanstd(base["amount"]))
    others = [c for c in NUMERIC_FEATURES if c != "amount"]
    pd.testing.assert_frame_equal(base.loc[after, others], drifted.loc[after, others])


def test_categorical_drift_moves_a_share() -> None:
    base = make_dataset(6000, START, END, seed=4)
    drifted = make_dataset(
        6000, START, END, seed=4, drift={"channel": 0.5}, drift_start="2024-03-01"
    )
    after = (base["event_time"] >= pd.Timestamp("2024-03-01", tz="UTC")).to_numpy()
    changed = (base["channel"] != drifted["channel"]).to_numpy()
    assert not changed[~after].any()
    assert 0.4 < changed[after].mean() < 0.6
    assert set(drifted["channel"]) <= {"web", "app", "store"}


def test_synthetic_rows() -> None:
    df = make_dataset(4000, START, END, seed=5, synthetic_share=0.25, synthetic_noise=0.01)
    syn = df["is_synthetic"].to_numpy()
    assert syn.sum() == 1000 and (~syn).sum() == 4000
    assert df["event_time"].is_monotonic_increasing
    # every copy directly follows a row with the same time (its source or another copy)
    idx = np.flatnonzero(syn)
    assert (df["event_time"].to_numpy()[idx] == df["event_time"].to_numpy()[idx - 1]).all()
    real = df[~syn]
    noise = synthetic_noise(real[list(NUMERIC_FEATURES)], df[syn][list(NUMERIC_FEATURES)])
    assert 0.007 < noise < 0.013
    # labels and categories are copied from the source row
    src = idx - 1
    while syn[src].any():  # a copy may follow another copy of the same source
        src = np.where(syn[src], src - 1, src)
    for col in ("target", *CATEGORICAL_FEATURES):
        assert (df[col].to_numpy()[idx] == df[col].to_numpy()[src]).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_rows": 0},
        {"end": "2023-01-01"},
        {"drift": {"amount": 1.0}},  # without drift_start
        {"drift": {"nope": 1.0}, "drift_start": "2024-02-01"},
        {"drift": {"channel": 1.5}, "drift_start": "2024-02-01"},
    ],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"n_rows": 100, "start": START, "end": END, "seed": 1, **kwargs}
    with pytest.raises(InputError):
        make_dataset(**args)  # type: ignore[arg-type]
