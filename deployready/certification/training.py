"""Training runs: fit, cross-validate and measure a model, and record the run as evidence.

The data is checked and split in :mod:`deployready.certification.training_data`, the
pipeline fitted in :mod:`deployready.certification.fitting`.

:func:`record_run` computes every number of a certification-history row (see
:mod:`deployready.certification.history`) from a model and a time-ordered dataset — nothing in the
history is typed by hand — appends it atomically and evaluates it with
:func:`deployready.certification.checks.evaluate_run` (where the checks are defined).

Definitions:

- **Test split.** ``record_run`` refuses data that is not sorted by its time column (a
  time-series pipeline must not silently reorder rows). The last ``test_size`` share of
  the rows is the test set; the cut moves forward past rows sharing the boundary
  timestamp, so no test row is as old as a training row. Metrics are computed on the
  real (non-synthetic) test rows with ``predict_proba(X)[:, 1]`` of the pipeline
  (scaler, then model) fitted on the whole training part, synthetic rows included.
- **Time-series CV folds.** ``TimeSeriesSplit(n_splits=cv.min_folds)`` on the training
  part, each fold fitting ``sklearn.base.clone`` of the (scaler, model) pipeline. Test
  rows whose time is not strictly after the fold's last training time are purged (ties
  at the boundary, e.g. a synthetic copy and its source), and only real rows are scored
  with ``cv.metric``. Every fold's bounds (``train_start``, ``train_end``,
  ``test_start``, ``test_end``, ISO 8601) are stored.
- **Model and scaler.** ``model`` is a binary classifier with ``predict_proba`` and
  ``scaler`` the preprocessing in front of it (None:
  :func:`~deployready.certification.fitting.default_preprocessor`).
  A whole scikit-learn ``Pipeline`` may be passed as ``model`` instead (then no
  ``scaler``): :func:`split_pipeline` takes its last step as the model and the steps
  before it as the scaler — the one transformer itself, or ``pipeline[:-1]`` when there
  are several — so a package stores them as ``model.pkl`` and ``scaler.pkl`` like any
  other. A pipeline of only a classifier means the default preprocessor. A scaler or
  model that cannot be fitted on the training features (a ``StandardScaler`` given
  text columns, a ``ColumnTransformer`` selecting columns the scaler's output no longer
  names) is an :class:`~deployready.errors.InputError` naming which of the two failed
  and what to pass instead.
- **Time column.** Datetimes (naive = UTC) or ISO 8601 text (without an offset read as
  UTC, so naive and offset times may mix); numbers and booleans are refused — pandas
  would read an integer as nanoseconds since 1970.
- ``dataset_sha256``: SHA-256 of the used column names (JSON) followed by
  ``pandas.util.hash_pandas_object(frame[columns], index=False)`` of the frame passed to
  ``record_run`` (time column, features, target, synthetic marker).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from deployready.certification.evaluation import RunEvaluation, evaluate_run
from deployready.certification.fitting import cross_validate_and_fit
from deployready.certification.history import append_run, resolve_history_path
from deployready.certification.history_schema import column_order, parse_time
from deployready.certification.metrics import (
    compute_metrics,
    feature_entropy,
    is_categorical,
    synthetic_noise,
    synthetic_ratio,
    validate_policy_metrics,
)
from deployready.certification.training_data import (
    TrainingData,
    dataset_sha256,
    training_data,
)
from deployready.errors import InputError
from deployready.package.pipeline import split_pipeline
from deployready.policy import CertificationPolicy, Policy


@dataclass
class RunResult:
    run_id: str
    row: dict[str, Any]
    model: Any  # fitted clone of the model passed in
    scaler: Any  # fitted clone of the scaler passed in (or the default preprocessor)
    train: pd.DataFrame
    test: pd.DataFrame  # the real rows of the test window
    features: list[str]
    evaluation: RunEvaluation
    history_path: Path = field(default_factory=Path)


def record_run(
    history_path: str | Path,
    model: Any,
    data: pd.DataFrame,
    *,
    target: str,
    time_column: str,
    features: list[str] | None = None,
    scaler: Any = None,
    synthetic_column: str | None = "is_synthetic",
    policy: Policy | None = None,
    model_version: str = "",
    run_id: str | None = None,
    test_size: float = 0.2,
    trained_at: str | None = None,
    notes: str = "",
    n_jobs: int = 2,
) -> RunResult:
    """Train, cross-validate and evaluate ``model`` on time-ordered ``data``; append the run.

    ``data`` must already be sorted by ``time_column`` (InputError otherwise). ``scaler``
    None uses the default preprocessor; ``model`` may be a whole scikit-learn
    ``Pipeline`` instead (see :func:`~deployready.package.pipeline.split_pipeline`; the
    result's ``model`` and ``scaler`` are then its fitted last step and the steps before
    it). CV folds and the final fit run on ``n_jobs`` threads. See this module's
    docstring and :mod:`deployready.certification.checks` for every definition.
    """
    policy = policy or Policy()
    cert = policy.certification
    validate_policy_metrics(cert.metrics, cert.cv.metric)
    path = resolve_history_path(history_path)
    model, scaler = _classifier(model, scaler)
    run = training_data(
        data, target=target, time_column=time_column, features=features,
        synthetic_column=synthetic_column, test_size=test_size, min_folds=cert.cv.min_folds,
    )
    fitted, fold_scores, folds = cross_validate_and_fit(run, model, scaler, cert.cv, n_jobs)
    row = _run_row(run, fitted.predict_proba(run.test[run.features])[:, 1], cert,
                   {"cv_fold_scores": fold_scores, "cv_folds": folds})
    when = datetime.now(UTC).isoformat(timespec="seconds") if trained_at is None else trained_at
    row = {"run_id": _run_id(run_id, when, row["dataset_sha256"]), "trained_at": when,
           "model_version": model_version, **row, "notes": notes}
    row = {c: row[c] for c in column_order() if c in row}
    written = append_run(path, row, policy)
    return RunResult(
        run_id=row["run_id"],
        row=row,
        model=fitted.named_steps["model"],
        scaler=fitted.named_steps["scaler"],
        train=run.train,
        test=run.test,
        features=run.features,
        evaluation=evaluate_run(row, policy, source=str(written)),
        history_path=written,
    )


def _classifier(model: Any, scaler: Any) -> tuple[Any, Any]:
    """(model, scaler) of what was passed (see ``split_pipeline``); InputError when the
    model is not a classifier with ``predict_proba``."""
    model, scaler = split_pipeline(model, scaler)
    if not hasattr(model, "fit") or not hasattr(model, "predict_proba"):
        raise InputError(
            f"{type(model).__name__} has no fit and predict_proba",
            location="model",
            expected="a binary classifier (or a whole Pipeline ending in one)",
        )
    return model, scaler


def _run_row(run: TrainingData, scores: Any, cert: CertificationPolicy,
             cv: dict[str, Any]) -> dict[str, Any]:
    """The measured columns of a history row: metrics on the real test rows, the CV
    folds, data expansion, feature entropy, row counts and the dataset hash."""
    train = run.train
    syn_train = run.syn[: run.cut]
    numeric = [f for f in run.features if not is_categorical(train[f])]
    real, synthetic = train[~syn_train], train[syn_train]
    return {
        **compute_metrics(run.y_test, scores),
        "cv_metric": cert.cv.metric,
        **cv,
        "synthetic_ratio": synthetic_ratio(len(real), len(synthetic)),
        "noise": synthetic_noise(real[numeric], synthetic[numeric]),
        "feature_entropy": feature_entropy(train, run.features, cert.entropy.bins),
        "n_train": int(run.cut),
        "n_test": len(run.test),
        "n_real": len(real),
        "n_synthetic": len(synthetic),
        "dataset_sha256": dataset_sha256(run.data, run.used),
    }


def _run_id(run_id: str | None, trained_at: str, sha: str) -> str:
    """``run_id``, or one made of the training time and the dataset hash; InputError
    when ``trained_at`` is not an ISO 8601 time."""
    try:
        trained = parse_time(trained_at)
    except ValueError:
        raise InputError(
            f"not an ISO 8601 time: {trained_at!r}",
            location="trained_at",
            expected="an ISO 8601 time",
        ) from None
    if run_id is not None:
        return run_id
    suffix = hashlib.sha256(f"{trained_at}|{sha}".encode()).hexdigest()[:6]
    return f"run-{trained.astimezone(UTC):%Y%m%dT%H%M%S}-{suffix}"
