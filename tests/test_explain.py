"""The SHAP report: explainer choice, aggregation to source features, additivity, time bound."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from deployready.package.card import render_model_card
from deployready.package.checks import CARD_SECTIONS
from deployready.package.explain import CALIBRATION_ROWS, column_sources, explain_model

FEATURES = ["amount", "amount_band", "age", "region"]
KEYS = {
    "format",
    "explainer",
    "model_output",
    "base_value",
    "n_rows_explained",
    "global_importance",
    "local_explanations",
    "additivity_max_error",
    "time_s",
    "truncated",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    amount = rng.normal(100, 30, n)
    out = pd.DataFrame(
        {
            "amount": amount,
            # a feature whose name is a prefix-extension of another: mapping must not mix them
            "amount_band": np.where(amount > 100, "high", "low"),
            "age": rng.integers(18, 80, n),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    logit = 0.03 * (amount - 100) + 1.0 * (out["region"] == "north") - 0.4
    out["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return out


@pytest.fixture(scope="module")
def scaler(frame: pd.DataFrame) -> ColumnTransformer:
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), ["amount", "age"]),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ["amount_band", "region"],
            ),
        ]
    )
    return ct.fit(frame[FEATURES])


def fitted(model: Any, scaler: ColumnTransformer, frame: pd.DataFrame) -> Any:
    return model.fit(scaler.transform(frame[FEATURES]), frame["target"])


def check_report(report: dict[str, Any], n_local: int = 5) -> None:
    assert set(report) >= KEYS
    assert report["format"] == 1
    importance = report["global_importance"]
    values = list(importance.values())
    assert values == sorted(values, reverse=True)
    assert set(importance) == set(FEATURES)
    assert all(v >= 0 for v in importance.values())
    assert len(report["local_explanations"]) == min(n_local, report["n_rows_explained"])
    for entry in report["local_explanations"]:
        assert set(entry["contributions"]) == set(FEATURES)
        assert 0.0 <= entry["prediction"] <= 1.0
        total = report["base_value"] + sum(entry["contributions"].values())
        assert total == pytest.approx(entry["output"], abs=1e-6)


def test_column_sources_from_names(scaler: ColumnTransformer, frame: pd.DataFrame) -> None:
    names = list(scaler.get_feature_names_out())
    sources = column_sources(scaler, frame[FEATURES], FEATURES, len(names))
    assert dict(zip(names, sources, strict=True)) == {
        "num__amount": "amount",
        "num__age": "age",
        "cat__amount_band_high": "amount_band",
        "cat__amount_band_low": "amount_band",
        "cat__region_east": "region",
        "cat__region_north": "region",
        "cat__region_south": "region",
    }


class Anonymous:
    """A transformer that cannot name its output columns."""

    def __init__(self, inner: ColumnTransformer) -> None:
        self.inner = inner

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.inner.transform(frame))


def test_column_sources_by_perturbation(scaler: ColumnTransformer, frame: pd.DataFrame) -> None:
    wrapped = Anonymous(scaler)
    sources = column_sources(wrapped, frame[FEATURES], FEATURES, 7)
    assert sources == ["amount", "age", "amount_band", "amount_band", "region", "region", "region"]


def test_tree_explainer_gradient_boosting(scaler, frame) -> None:
    model = fitted(
        GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0), scaler, frame
    )
    report = explain_model(model, scaler, frame[FEATURES], max_rows=200, time_budget_s=60)
    check_report(report)
    assert report["explainer"] == "TreeExplainer"
    assert report["model_output"] == "log_odds"
    assert report["n_rows_explained"] == 200 and not report["truncated"]
    assert report["additivity_max_error"] < 1e-6
    top = list(report["global_importance"])[:2]
    assert "amount" in top


def test_tree_explainer_random_forest_probability(scaler, frame) -> None:
    model = fitted(
        RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), scaler, frame
    )
    report = explain_model(model, scaler, frame[FEATURES], max_rows=100, time_budget_s=60)
    check_report(report)
    assert report["explainer"] == "TreeExplainer"
    assert report["model_output"] == "probability"
    assert report["additivity_max_error"] < 1e-6


def test_linear_explainer(scaler, frame) -> None:
    model = fitted(LogisticRegression(max_iter=500), scaler, frame)
    report = explain_model(model, scaler, frame[FEATURES], max_rows=100, time_budget_s=60)
    check_report(report)
    assert report["explainer"] == "LinearExplainer"
    assert report["model_output"] == "log_odds"
    assert report["additivity_max_error"] < 1e-6


@pytest.mark.slow  # shap compiles its permutation code on first use (~10 s once per process)
def test_model_agnostic_explainer(scaler, frame) -> None:
    model = fitted(KNeighborsClassifier(n_neighbors=15), scaler, frame)
    report = explain_model(model, scaler, frame[FEATURES], max_rows=12, time_budget_s=60)
    check_report(report)
    assert report["explainer"] == "PermutationExplainer"
    assert report["model_output"] == "probability"
    assert report["additivity_max_error"] < 1e-6


def test_time_budget_truncates(scaler, frame) -> None:
    model = fitted(GradientBoostingClassifier(n_estimators=10, random_state=0), scaler, frame)
    report = explain_model(model, scaler, frame[FEATURES], max_rows=300, time_budget_s=1e-6)
    check_report(report)
    assert report["truncated"] is True
    assert report["n_rows_explained"] == CALIBRATION_ROWS


def test_sampling_is_seeded(scaler, frame) -> None:
    model = fitted(LogisticRegression(max_iter=500), scaler, frame)
    a = explain_model(model, scaler, frame[FEATURES], max_rows=50, time_budget_s=60)
    b = explain_model(model, scaler, frame[FEATURES], max_rows=50, time_budget_s=60)
    assert a["global_importance"] == b["global_importance"]
    assert [e["row"] for e in a["local_explanations"]] == [
        e["row"] for e in b["local_explanations"]
    ]


def test_model_card_sections() -> None:
    meta = {
        "version": "v1.1",
        "bump": "minor",
        "previous": "v1.0",
        "features": FEATURES,
        "metrics": {"roc_auc": 0.91},
        "training_data": {"rows": 10, "sha256": "ab", "period": {}},
    }
    shap_report = {"global_importance": {"amount": 0.5, "age": 0.1}, "explainer": "TreeExplainer"}
    files = {"model.pkl": {"sha256": "f" * 64, "size": 10}}
    text = render_model_card(meta, shap_report, files, {"limitations": ["only synthetic data"]})
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    for section in CARD_SECTIONS:
        assert any(h.startswith(section) for h in headings), section
    assert "- only synthetic data" in text and "| roc_auc | 0.91 |" in text
    assert "`" + "f" * 64 + "`" in text


def test_the_card_sections_are_written_where_the_card_is_rendered() -> None:
    """One list of sections: the renderer writes the very headings the Artifacts check
    asks for, in that order, and each once."""
    from deployready.package import card, checks

    assert checks.CARD_SECTIONS is card.CARD_SECTIONS
    text = render_model_card({"version": "v1.0"}, {}, {})
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(card.CARD_SECTIONS)
