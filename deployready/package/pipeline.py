"""The shape of a fitted model as a package holds it: the model and the preprocessing in
front of it ("the scaler"), split from a whole scikit-learn ``Pipeline`` when one is
passed, and the words that say what to pass when they do not fit together."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from deployready.errors import InputError
from deployready.package.profile import feature_kind

PIPELINE_EXPECTED = (
    "either a whole Pipeline (preprocessing steps, then the classifier) as the model and "
    "no scaler, or the classifier as the model and its preprocessing as the scaler"
)


def split_pipeline(model: Any, scaler: Any) -> tuple[Any, Any]:
    """(model, scaler) of what was passed: a scikit-learn ``Pipeline`` as ``model`` is
    split into its final estimator and the steps before it (the single transformer, or
    ``model[:-1]``; None when there is none); anything else is returned unchanged.

    InputError when a Pipeline comes with a scaler too, or does not end in a classifier
    with ``predict_proba``."""
    if not isinstance(model, Pipeline):
        return model, scaler
    if scaler is not None:
        raise InputError(
            "a whole Pipeline was passed as the model, and a scaler as well",
            location="scaler",
            expected=PIPELINE_EXPECTED,
        )
    name, final = model.steps[-1]
    if final is None or isinstance(final, str) or not hasattr(final, "predict_proba"):
        raise InputError(
            f"the Pipeline's last step {name!r} is not a classifier with predict_proba",
            location="model",
            expected="a Pipeline ending in a binary classifier",
        )
    before = [step for _, step in model.steps[:-1] if step is not None and step != "passthrough"]
    if not before:
        return final, None
    if len(model.steps) == 2:
        return final, before[0]
    return final, model[:-1]


def _categorical_names(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if feature_kind(frame[c]) == "categorical"]


def scaler_expected(frame: pd.DataFrame) -> str:
    """What a scaler must be, naming the text columns of ``frame``."""
    text = _categorical_names(frame)
    named = f" (here {', '.join(text[:6])}{', ...' if len(text) > 6 else ''})" if text else ""
    return (
        "a transformer taking every feature column as it is, text columns included"
        f"{named} — scaler=None for the default preprocessor (impute and standardize the "
        "numbers, one-hot encode the text), a ColumnTransformer that encodes the text "
        "columns, or the whole Pipeline as the model"
    )


MODEL_EXPECTED = "a binary classifier with predict_proba that takes the scaler's output"


def short_reason(exc: BaseException) -> str:
    """An exception message on one line, at most 300 characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def as_served(model: Any, train: pd.DataFrame, features: list[str]) -> tuple[Any, Any]:
    """(model, scaler) of a model that is the whole serving function, as a registry holds
    one: a Pipeline split as :func:`split_pipeline` splits it; a bare classifier (no
    preprocessing in front of it) gets the identity — a ``FunctionTransformer`` fitted on
    ``train[features]``, which hands the rows on as they are — never the default
    preprocessor, which would change what the model is given."""
    model, scaler = split_pipeline(model, None)
    if scaler is None:
        scaler = FunctionTransformer(feature_names_out="one-to-one").fit(train[features])
    return model, scaler
