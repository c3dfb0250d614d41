"""Training runs: fit, cross-validate and measure a model, and record the run as evidence.

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
  ``scaler`` the preprocessing in front of it (None: :func:`default_preprocessor`).
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
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
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

from deployready.certification.checks import RunEvaluation, evaluate_run
from deployready.certification.history import append_run, resolve_history_path
from deployready.certification.history_schema import column_order, parse_time
from deployready.certification.metrics import (
    compute_metrics,
    feature_entropy,
    get_metric,
    is_categorical,
    synthetic_noise,
    synthetic_ratio,
    validate_policy_metrics,
)
from deployready.errors import InputError
from deployready.package.pipeline import (
    MODEL_EXPECTED,
    scaler_expected,
    short_reason,
    split_pipeline,
)
from deployready.policy import Policy


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


def dataset_sha256(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(list(columns)).encode("utf-8"))
    hashed = pd.util.hash_pandas_object(frame[list(columns)], index=False).to_numpy()
    digest.update(np.ascontiguousarray(hashed).tobytes())
    return digest.hexdigest()


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


TIME_EXPECTED = (
    "datetimes or ISO 8601 text (without a UTC offset read as UTC); a bare number could "
    "be seconds, milliseconds or nanoseconds since 1970"
)


def _times(column: pd.Series, name: str) -> pd.Series:
    """The time column as UTC timestamps (NaT where a value is not a time).

    Datetime columns (naive = UTC) and ISO 8601 text are times; numbers and booleans are
    refused (pandas would read an integer as nanoseconds since 1970)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column, utc=True)
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        raise InputError(
            f"a {column.dtype} column is not a time column",
            source="data",
            location=f"column {name}",
            expected=TIME_EXPECTED,
        )
    values = column.to_numpy(dtype=object)
    for i, value in enumerate(values):
        if value is not None and not isinstance(value, str | datetime | np.datetime64):
            if isinstance(value, float) and math.isnan(value):
                continue  # missing: reported as "not a time" below
            raise InputError(
                f"not a time: {value!r}",
                source="data",
                location=f"row {i + 1}, column {name}",
                expected=TIME_EXPECTED,
            )
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce",
                          format="ISO8601")


def _iso(ns: int) -> str:
    return str(pd.Timestamp(ns, tz="UTC").isoformat())


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
    None uses :func:`default_preprocessor`; ``model`` may be a whole scikit-learn
    ``Pipeline`` instead (see :func:`split_pipeline`; the result's ``model`` and
    ``scaler`` are then its fitted last step and the steps before it). CV folds and the
    final fit run on ``n_jobs`` threads. See this module's docstring and
    :mod:`deployready.certification.checks` for every definition.
    """
    policy = policy or Policy()
    cert = policy.certification
    validate_policy_metrics(cert.metrics, cert.cv.metric)
    path = resolve_history_path(history_path)
    model, scaler = split_pipeline(model, scaler)
    if not hasattr(model, "fit") or not hasattr(model, "predict_proba"):
        raise InputError(
            f"{type(model).__name__} has no fit and predict_proba",
            location="model",
            expected="a binary classifier (or a whole Pipeline ending in one)",
        )
    for column in (target, time_column):
        if column not in data.columns:
            raise InputError(
                "missing column",
                source="data",
                location=f"column {column}",
                expected="the target and time columns",
            )
    has_syn = synthetic_column is not None and synthetic_column in data.columns
    excluded = {target, time_column, synthetic_column}
    features = list(features) if features else [str(c) for c in data.columns if c not in excluded]
    missing = [f for f in features if f not in data.columns]
    if missing or not features:
        raise InputError(
            f"missing feature columns {missing}",
            source="data",
            location=f"column {missing[0]}" if missing else None,
            expected="feature columns present in the data",
        )
    if not 0.0 < test_size < 1.0:
        raise InputError(
            f"test_size = {test_size}", location="test_size", expected="a share in (0, 1)"
        )
    if len(data) < 2 * (cert.cv.min_folds + 1):
        raise InputError(
            f"{len(data)} rows", source="data", expected="enough rows for the CV folds"
        )

    times = _times(data[time_column], time_column)
    if times.isna().any():
        bad = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise InputError(
            f"not a time: {data[time_column].iloc[bad]!r}",
            source="data",
            location=f"row {bad + 1}, column {time_column}",
            expected=TIME_EXPECTED,
        )
    t = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    if t.size > 1 and (np.diff(t) < 0).any():
        bad = int(np.flatnonzero(np.diff(t) < 0)[0]) + 1
        raise InputError(
            "rows are not in time order",
            source="data",
            location=f"row {bad + 1}, column {time_column}",
            expected=f"rows sorted by {time_column} (sort before recording; "
            "rows are never reordered silently)",
        )
    y_all = data[target].to_numpy()
    try:
        y = y_all.astype(np.int64)
    except (TypeError, ValueError):
        raise InputError(
            "target is not 0/1",
            source="data",
            location=f"column {target}",
            expected="labels 0 and 1",
        ) from None
    if not np.isin(y, (0, 1)).all() or not np.array_equal(y, y_all.astype(np.float64)):
        raise InputError(
            "target is not 0/1",
            source="data",
            location=f"column {target}",
            expected="labels 0 and 1",
        )
    syn = (
        data[synthetic_column].fillna(False).to_numpy(dtype=bool)
        if has_syn
        else np.zeros(len(data), dtype=bool)
    )

    n = len(data)
    cut = round(n * (1.0 - test_size))
    while 0 < cut < n and t[cut] == t[cut - 1]:
        cut += 1
    if not 0 < cut < n or (~syn[cut:]).sum() == 0:
        raise InputError(
            "no test rows after the time split",
            source="data",
            expected="more rows or a larger test_size",
        )
    train = data.iloc[:cut]
    test = data.iloc[cut:][~syn[cut:]]
    x_train, y_train, t_train, syn_train = train[features], y[:cut], t[:cut], syn[:cut]
    if int((~syn_train).sum()) == 0:
        raise InputError(
            "no real training rows", source="data", expected="real (non-synthetic) rows"
        )

    base = Pipeline(
        [
            (
                "scaler",
                clone(scaler) if scaler is not None else default_preprocessor(train, features),
            ),
            ("model", clone(model)),
        ]
    )
    jobs: list[tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, np.ndarray | None]] = []
    folds: list[dict[str, Any]] = []
    splitter = TimeSeriesSplit(n_splits=cert.cv.min_folds)
    for i, (tr, te) in enumerate(splitter.split(x_train), start=1):
        te = te[(t_train[te] > t_train[tr].max()) & ~syn_train[te]]
        if te.size == 0:
            raise InputError(
                f"CV fold {i} has no real test rows", source="data", expected="more rows per fold"
            )
        jobs.append((x_train.iloc[tr], y_train[tr], x_train.iloc[te], y_train[te]))
        folds.append(
            {
                "fold": i,
                "train_start": _iso(t_train[tr].min()),
                "train_end": _iso(t_train[tr].max()),
                "test_start": _iso(t_train[te].min()),
                "test_end": _iso(t_train[te].max()),
                "n_train": int(tr.size),
                "n_test": int(te.size),
            }
        )
    jobs.append((x_train, y_train, None, None))
    results = Parallel(n_jobs=max(1, min(n_jobs, len(jobs))), prefer="threads")(
        delayed(_fit_score)(clone(base), xa, ya, xb, yb, cert.cv.metric) for xa, ya, xb, yb in jobs
    )
    fold_scores = [score for _, score in results[:-1]]
    for fold, score in zip(folds, fold_scores, strict=True):
        fold["score"] = score
    fitted: Pipeline = results[-1][0]

    scores = fitted.predict_proba(test[features])[:, 1]
    metric_values = compute_metrics(y[cut:][~syn[cut:]], scores)
    numeric = [f for f in features if not is_categorical(train[f])]
    real, synthetic = train[~syn_train], train[syn_train]
    used = [time_column, *features, target] + ([str(synthetic_column)] if has_syn else [])
    sha = dataset_sha256(data, used)

    if trained_at is None:
        trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        trained = parse_time(trained_at)
    except ValueError:
        raise InputError(
            f"not an ISO 8601 time: {trained_at!r}",
            location="trained_at",
            expected="an ISO 8601 time",
        ) from None
    if run_id is None:
        suffix = hashlib.sha256(f"{trained_at}|{sha}".encode()).hexdigest()[:6]
        run_id = f"run-{trained.astimezone(UTC):%Y%m%dT%H%M%S}-{suffix}"

    row: dict[str, Any] = {
        "run_id": run_id,
        "trained_at": trained_at,
        "model_version": model_version,
        **metric_values,
        "cv_metric": cert.cv.metric,
        "cv_fold_scores": fold_scores,
        "cv_folds": folds,
        "synthetic_ratio": synthetic_ratio(len(real), len(synthetic)),
        "noise": synthetic_noise(real[numeric], synthetic[numeric]),
        "feature_entropy": feature_entropy(train, features, cert.entropy.bins),
        "n_train": int(cut),
        "n_test": len(test),
        "n_real": len(real),
        "n_synthetic": len(synthetic),
        "dataset_sha256": sha,
        "notes": notes,
    }
    row = {c: row[c] for c in column_order() if c in row}
    written = append_run(path, row, policy)
    evaluation = evaluate_run(row, policy, source=str(written))
    return RunResult(
        run_id=run_id,
        row=row,
        model=fitted.named_steps["model"],
        scaler=fitted.named_steps["scaler"],
        train=train,
        test=test,
        features=features,
        evaluation=evaluation,
        history_path=written,
    )
