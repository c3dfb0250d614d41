"""Fitting a training run's (scaler, model) pipeline: the time-series CV folds and the
final fit on the whole training part, on threads (definitions in
:mod:`deployready.certification.training`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from deployready.certification.metrics import get_metric, is_categorical
from deployready.certification.training_data import TrainingData, iso_time
from deployready.errors import InputError
from deployready.package.pipeline import MODEL_EXPECTED, scaler_expected, short_reason
from deployready.policy import CVPolicy

#: One fit: training features and labels, then test features and labels (None: no test).
_Job = tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, np.ndarray | None]


def default_preprocessor(frame: pd.DataFrame, features: Sequence[str]) -> ColumnTransformer:
    """Median-impute + standardize numeric features, one-hot categorical ones."""
    numeric = [f for f in features if not is_categorical(frame[f])]
    categorical = [f for f in features if is_categorical(frame[f])]
    return ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )


def _fit_pipeline(pipe: Pipeline, x: pd.DataFrame, y: np.ndarray) -> None:
    """``pipe.fit`` (scaler, then model), with an InputError naming the step that cannot
    be fitted instead of the library's own ValueError or TypeError."""
    scaler, model = pipe.named_steps["scaler"], pipe.named_steps["model"]
    try:
        transformed = scaler.fit_transform(x, y)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"the scaler {type(scaler).__name__} cannot be fitted on the training features: "
            f"{short_reason(exc)}",
            location="scaler",
            expected=scaler_expected(x),
        ) from exc
    try:
        model.fit(transformed, y)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"the model {type(model).__name__} cannot be fitted on the scaler's output: "
            f"{short_reason(exc)}",
            location="model",
            expected=MODEL_EXPECTED,
        ) from exc


def _fit_score(
    pipe: Pipeline,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame | None,
    y_test: np.ndarray | None,
    metric: str,
) -> tuple[Pipeline, float]:
    _fit_pipeline(pipe, x_train, y_train)
    if x_test is None or y_test is None:
        return pipe, math.nan
    if np.unique(y_test).size != 2:
        raise InputError(
            "a CV test window holds only one class", expected="both classes in every fold"
        )
    return pipe, float(get_metric(metric).fn(y_test, pipe.predict_proba(x_test)[:, 1]))


def _folds(run: TrainingData, min_folds: int) -> tuple[list[_Job], list[dict[str, Any]]]:
    """The CV fits and each fold's bounds: ``TimeSeriesSplit`` of the training part, test
    rows purged of times not after the fold's training and of synthetic rows."""
    cut = run.cut
    x_train, y_train = run.train[run.features], run.y[:cut]
    t_train, syn_train = run.t[:cut], run.syn[:cut]
    jobs: list[_Job] = []
    folds: list[dict[str, Any]] = []
    for i, (tr, te) in enumerate(TimeSeriesSplit(n_splits=min_folds).split(x_train), start=1):
        te = te[(t_train[te] > t_train[tr].max()) & ~syn_train[te]]
        if te.size == 0:
            raise InputError(
                f"CV fold {i} has no real test rows", source="data", expected="more rows per fold"
            )
        jobs.append((x_train.iloc[tr], y_train[tr], x_train.iloc[te], y_train[te]))
        folds.append(
            {
                "fold": i,
                "train_start": iso_time(t_train[tr].min()),
                "train_end": iso_time(t_train[tr].max()),
                "test_start": iso_time(t_train[te].min()),
                "test_end": iso_time(t_train[te].max()),
                "n_train": int(tr.size),
                "n_test": int(te.size),
            }
        )
    return jobs, folds


def cross_validate_and_fit(
    run: TrainingData, model: Any, scaler: Any, cv: CVPolicy, n_jobs: int
) -> tuple[Pipeline, list[float], list[dict[str, Any]]]:
    """The pipeline fitted on the whole training part, the CV fold scores and the folds
    (each with its ``score``). Clones of ``model`` and ``scaler`` are fitted (None: the
    default preprocessor); folds and the final fit run on ``n_jobs`` threads."""
    train = run.train
    base = Pipeline(
        [
            (
                "scaler",
                clone(scaler) if scaler is not None else default_preprocessor(train, run.features),
            ),
            ("model", clone(model)),
        ]
    )
    jobs, folds = _folds(run, cv.min_folds)
    jobs.append((train[run.features], run.y[: run.cut], None, None))
    results = Parallel(n_jobs=max(1, min(n_jobs, len(jobs))), prefer="threads")(
        delayed(_fit_score)(clone(base), xa, ya, xb, yb, cv.metric) for xa, ya, xb, yb in jobs
    )
    fold_scores = [score for _, score in results[:-1]]
    for fold, score in zip(folds, fold_scores, strict=True):
        fold["score"] = score
    fitted: Pipeline = results[-1][0]
    return fitted, fold_scores, folds
