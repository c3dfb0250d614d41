"""Compiled preprocessing: bit-identical to scikit-learn or not used at all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from deployready.package import preprocess
from deployready.package.preprocess import compile_preprocessor

NUMERIC = ["amount", "age", "score"]
CATEGORICAL = ["channel", "region"]
FEATURES = NUMERIC + CATEGORICAL


def frame(n: int = 300, seed: int = 0, missing: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "amount": rng.gamma(2.0, 50.0, n),
        "age": rng.integers(18, 80, n).astype("int64"),
        "score": rng.normal(0.0, 1.0, n),
        "channel": rng.choice(["web", "store", "phone"], n).astype(object),
        "region": rng.choice(["north", "south"], n).astype(object),
    })
    data.loc[rng.uniform(size=n) < missing, "score"] = np.nan
    return data


def demo_like(**ohe: Any) -> ColumnTransformer:
    """The demo's preprocessing: median imputer + scaler, one-hot categories."""
    return ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("scale", StandardScaler())]), NUMERIC),
        ("categorical", OneHotEncoder(**({"handle_unknown": "ignore", "sparse_output": False}
                                         | ohe)), CATEGORICAL),
    ], verbose_feature_names_out=False)


def compiled(transformer: Any, data: pd.DataFrame) -> preprocess.Preprocessor:
    transformer.fit(data[FEATURES] if not isinstance(transformer, ColumnTransformer)
                    else data)
    return compile_preprocessor(transformer, FEATURES, data)


def assert_identical(pre: preprocess.Preprocessor, transformer: Any, data: pd.DataFrame) -> None:
    expected = transformer.transform(data[FEATURES])
    actual = pre.transform(data)
    assert type(actual) is np.ndarray and actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)  # NaN == NaN, no tolerance


@pytest.mark.parametrize("transformer", [
    demo_like(),
    demo_like(sparse_output=True),  # sparse block densified by the ColumnTransformer
    demo_like(handle_unknown="error"),
    ColumnTransformer([("n", MinMaxScaler(clip=True), ["amount", "age"]),
                       ("c", OneHotEncoder(sparse_output=False), CATEGORICAL)],
                      remainder="passthrough"),  # "score", with its NaN
    ColumnTransformer([("n", RobustScaler(), [0, 1]),
                       ("s", StandardScaler(with_mean=False), [2]),
                       ("c", "drop", CATEGORICAL)]),
    ColumnTransformer([("n", Pipeline([("i", SimpleImputer(strategy="mean")), ("p", "passthrough"),
                                       ("s", MinMaxScaler())]), NUMERIC)],
                      remainder="drop"),
], ids=["demo", "sparse-onehot", "unknown-error", "minmax-passthrough", "robust-indices",
        "pipeline-passthrough-step"])
def test_supported_transformers_compile_and_match_bit_for_bit(transformer: Any) -> None:
    data = frame()
    pre = compiled(transformer, data)
    assert (pre.kind, pre.reason) == ("compiled", "")
    for seed in (1, 2):
        assert_identical(pre, transformer, frame(200, seed=seed, missing=0.3))


def test_a_plain_scaler_over_numeric_features_compiles() -> None:
    data = frame(missing=0.0)[NUMERIC]
    scaler = StandardScaler().fit(data)
    pre = compile_preprocessor(scaler, NUMERIC, data)
    assert pre.kind == "compiled"
    np.testing.assert_array_equal(pre.transform(data), scaler.transform(data))


@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(-1e6, 1e6)),
                          st.integers(0, 120),
                          st.one_of(st.none(), st.floats(-1e3, 1e3)),
                          st.sampled_from(["web", "store", "phone", "fax", ""]),
                          st.sampled_from(["north", "south", "east"])),
                min_size=1, max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_request_rows_transform_identically(rows: list[tuple[Any, ...]]) -> None:
    transformer = demo_like()
    pre = compiled(transformer, frame())
    batch = pd.DataFrame(rows, columns=FEATURES)
    batch["amount"] = batch["amount"].astype("float64")
    batch["score"] = batch["score"].astype("float64")
    batch[CATEGORICAL] = batch[CATEGORICAL].astype(object)
    assert_identical(pre, transformer, batch)


def test_unknown_category_is_rejected_when_the_encoder_rejects_it() -> None:
    transformer = demo_like(handle_unknown="error")
    pre = compiled(transformer, frame())
    bad = frame(5, seed=3)
    bad.loc[2, "channel"] = "fax"
    with pytest.raises(ValueError, match="unknown categories"):
        transformer.transform(bad[FEATURES])
    with pytest.raises(ValueError, match="unknown categories"):
        pre.transform(bad)


class ShiftedScaler(StandardScaler):
    """A subclass overriding transform: must never be replayed as a StandardScaler."""

    def transform(self, X: Any, copy: Any = None) -> Any:
        return super().transform(X, copy=copy) + 1.0


@pytest.mark.parametrize(("transformer", "reason"), [
    (ColumnTransformer([("n", ShiftedScaler(), NUMERIC)]), "ShiftedScaler is not one of"),
    (ColumnTransformer([("n", QuantileTransformer(n_quantiles=50), NUMERIC)]),
     "QuantileTransformer is not one of"),
    (ColumnTransformer([("c", OneHotEncoder(drop="first", sparse_output=False), CATEGORICAL)]),
     "OneHotEncoder with drop"),
    (ColumnTransformer([("c", OneHotEncoder(min_frequency=50, sparse_output=False),
                         CATEGORICAL)]), "infrequent"),
    (ColumnTransformer([("n", SimpleImputer(add_indicator=True), NUMERIC)]), "add_indicator"),
    (ColumnTransformer([("c", OneHotEncoder(), CATEGORICAL)], sparse_threshold=1.0),
     "sparse output"),
    (ColumnTransformer([("n", StandardScaler(), NUMERIC)],
                       transformer_weights={"n": 2.0}), "transformer_weights"),
    (demo_like().set_output(transform="pandas"), "differs from scikit-learn on holdout rows"),
    (ColumnTransformer([("n", StandardScaler(), NUMERIC)], remainder="passthrough"),
     "differs from scikit-learn on holdout rows"),  # strings passed through: object output
])
def test_anything_else_runs_scikit_learn_and_says_why(transformer: Any, reason: str) -> None:
    data = frame()
    pre = compiled(transformer, data)
    assert pre.kind == "scikit-learn"
    assert reason in pre.reason
    assert reason in pre.describe()
    expected = transformer.transform(data[FEATURES])
    actual = pre.transform(data)  # scikit-learn itself: same type, same values
    assert type(actual) is type(expected)
    assert pd.DataFrame(dense(actual)).equals(pd.DataFrame(dense(expected)))


def dense(x: Any) -> Any:
    return x.toarray() if hasattr(x, "toarray") else x


def test_a_plan_that_drifts_from_scikit_learn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verification is what makes the plan safe: a wrong step never serves."""
    key = "sklearn.preprocessing._data.StandardScaler"
    real = preprocess._STEPS[key]

    def off_by_a_little(est: Any) -> preprocess.Step:
        step = real(est)
        return lambda x: step(x) + 1e-12

    monkeypatch.setitem(preprocess._STEPS, key, off_by_a_little)
    pre = compiled(demo_like(), frame())
    assert pre.kind == "scikit-learn"
    assert pre.reason == "differs from scikit-learn on holdout rows"


def test_a_plan_wrong_only_on_missing_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_imputation(est: Any) -> preprocess.Step:
        return lambda x: x

    monkeypatch.setitem(preprocess._STEPS, "sklearn.impute._base.SimpleImputer", no_imputation)
    pre = compiled(demo_like(), frame(missing=0.0))  # holdout rows have no NaN
    assert pre.kind == "scikit-learn"
    assert pre.reason == "differs from scikit-learn on rows with missing numbers"


def _onehot_marks_first(monkeypatch: pytest.MonkeyPatch,
                        rows: Any) -> None:
    """A wrong one-hot step: also sets the first category where ``rows(x, out)``."""
    key = "sklearn.preprocessing._encoders.OneHotEncoder"
    real = preprocess._STEPS[key]

    def wrong(est: Any) -> preprocess.Step:
        step = real(est)

        def run(x: np.ndarray) -> np.ndarray:
            out = step(x)
            out[rows(x, out), 0] = 1.0
            return out

        return run

    monkeypatch.setitem(preprocess._STEPS, key, wrong)


def test_a_plan_wrong_only_on_unseen_categories_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _onehot_marks_first(monkeypatch, lambda x, out: out.sum(axis=1) == 0)
    pre = compiled(demo_like(), frame())
    assert pre.kind == "scikit-learn"
    assert pre.reason == "differs from scikit-learn on rows with unseen categories"


def test_a_plan_wrong_only_on_missing_categories_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _onehot_marks_first(monkeypatch, lambda x, out: pd.isna(x[:, 0]))
    pre = compiled(demo_like(), frame(missing=0.0))
    assert pre.kind == "scikit-learn"
    assert pre.reason == "differs from scikit-learn on rows with missing categories"


def test_no_holdout_means_no_plan() -> None:
    transformer = demo_like().fit(frame())
    pre = compile_preprocessor(transformer, FEATURES, frame().iloc[:0])
    assert (pre.kind, pre.reason) == ("scikit-learn", "no holdout rows to verify against")


def test_an_encoder_fitted_with_none_is_not_replayed() -> None:
    """scikit-learn keeps None and NaN apart; a request's null arrives as NaN."""
    data = frame()
    data["channel"] = data["channel"].astype(object)
    data.loc[::7, "channel"] = None
    transformer = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore",
                                                         sparse_output=False), ["channel"])])
    transformer.fit(data[FEATURES])
    pre = compile_preprocessor(transformer, FEATURES, frame())
    assert pre.kind == "scikit-learn"
    assert pre.reason == "OneHotEncoder fitted with None as a category"


def test_a_nan_category_matches_nan_only() -> None:
    data = frame()
    data["channel"] = data["channel"].astype(object)
    data.loc[::7, "channel"] = np.nan
    transformer = demo_like().fit(data)
    pre = compile_preprocessor(transformer, FEATURES, frame())
    assert pre.kind == "compiled"
    probe = frame(6, seed=4)
    probe["channel"] = pd.Series(["web", np.nan, "fax", np.nan, "store", "phone"], dtype=object)
    assert_identical(pre, transformer, probe)


def test_integer_input_stays_integer_where_scikit_learn_keeps_it() -> None:
    transformer = ColumnTransformer([("i", SimpleImputer(strategy="most_frequent"), ["age"])])
    data = frame()
    transformer.fit(data)
    with_null = data.copy()
    with_null["age"] = with_null["age"].astype(np.float64)
    with_null.loc[3, "age"] = np.nan  # the holdout has a null: float, as a request batch
    pre = compile_preprocessor(transformer, FEATURES, with_null)
    assert pre.kind == "compiled"
    assert_identical(pre, transformer, data)  # an all-integer batch: int64 both ways
    assert pre.transform(data).dtype == np.int64
    assert_identical(pre, transformer, with_null)
