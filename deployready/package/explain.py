"""Explainability of a package: the SHAP report (``explainability_report.json``).

SHAP values are computed in the space the model sees (the scaler's output), with the
explainer that fits the model:

- tree ensembles (scikit-learn trees/forests/boosting, XGBoost, LightGBM, CatBoost):
  ``shap.TreeExplainer`` (path-dependent, exact);
- linear models (``coef_`` and ``intercept_``): ``shap.LinearExplainer`` with an
  independent masker over a background sample;
- anything else: the model-agnostic permutation explainer over ``predict_proba`` with
  a small independent-masker background.

The values of every transformed column are then summed back onto the source feature the
column was derived from (a one-hot encoded feature is the sum of its indicator columns),
so that SHAP's additivity (base value + sum of contributions = model output) still
holds per row. The mapping comes from ``scaler.get_feature_names_out()`` (for a
``ColumnTransformer``: ``num__amount`` → ``amount``, ``cat__region_north`` → ``region``),
falling back to perturbing each feature and seeing which columns move.

The time spent is bounded: at most ``max_rows`` rows (a seeded sample), and if the
explainer is slow, fewer — rows are explained in growing chunks, the first a small
calibration batch, and each chunk's cost per row is extrapolated to what the rest of the
budget affords. Only the calibration batch is unconditional (it can overrun a tiny
budget; the model-agnostic explainer's first call also compiles code, ~10 s once per
process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

REPORT_FORMAT = 1
CALIBRATION_ROWS = 5
BACKGROUND_ROWS = 50

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def column_sources(
    scaler: Any, frame: pd.DataFrame, features: list[str], n_out: int
) -> list[str | None]:
    """For every output column of ``scaler``, the source feature it was derived from."""
    sources: list[str | None] = [None] * n_out
    by_length = sorted(features, key=len, reverse=True)
    names: list[str] | None = None
    if hasattr(scaler, "get_feature_names_out"):
        try:
            names = [str(n) for n in scaler.get_feature_names_out()]
        except Exception:  # some transformers cannot name their outputs
            names = None
    if names is not None and len(names) == n_out:
        for i, name in enumerate(names):
            candidates = [name.split("__", 1)[1], name] if "__" in name else [name]
            for candidate in candidates:
                match = next((f for f in by_length if candidate == f), None) or next(
                    (f for f in by_length if candidate.startswith(f + "_")), None
                )
                if match is not None:
                    sources[i] = match
                    break
    if any(s is None for s in sources) and len(frame):
        _perturbation_sources(scaler, frame, features, sources)
    return sources


def _perturbation_sources(
    scaler: Any, frame: pd.DataFrame, features: list[str], sources: list[str | None]
) -> None:
    """Fill unmapped columns: shift one feature's values and see which columns change."""
    sample = frame[features].head(64).reset_index(drop=True)
    base = _dense(scaler.transform(sample))
    for feature in features:
        shifted = sample.copy()
        values = sample[feature].to_numpy()
        shifted[feature] = np.roll(values, 1)
        moved = _dense(scaler.transform(shifted))
        changed = ~np.isclose(moved, base, equal_nan=True).all(axis=0)
        for j in np.flatnonzero(changed):
            if sources[j] is None:
                sources[j] = feature


ExplainFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _two_d(values: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if values.ndim == 3:  # (rows, columns, classes): the positive class
        values = values[:, :, -1]
        base = base[:, -1] if base.ndim == 2 else base[-1]
    return values, np.broadcast_to(base, (values.shape[0],)).astype(np.float64)


def _named(model: Any, x: np.ndarray) -> Any:
    """``x`` as the model was fitted on it: a frame with its feature names when it has
    them (a model fitted on a named frame, e.g. a bare classifier with no preprocessing,
    warns on a plain array), else ``x`` itself. The values are the same."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or np.ndim(x) != 2 or np.shape(x)[1] != len(names):
        return x
    return pd.DataFrame(x, columns=[str(n) for n in names])


def _make_explainer(model: Any, background: np.ndarray) -> tuple[str, ExplainFn]:
    import shap

    module = type(model).__module__
    if module.startswith(_TREE_MODULES):
        try:
            tree = shap.TreeExplainer(model)

            def tree_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                out = tree(x, check_additivity=False)
                return _two_d(out.values, out.base_values)

            return "TreeExplainer", tree_fn
        except Exception:
            pass
    if (
        hasattr(model, "coef_")
        and hasattr(model, "intercept_")
        and np.ndim(model.coef_) == 2
        and np.shape(model.coef_)[0] == 1
    ):
        try:
            linear = shap.LinearExplainer(model, shap.maskers.Independent(background))
        except Exception:  # an unusual linear model: fall through to model-agnostic
            linear = None
        if linear is not None:

            def linear_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                out = linear(x)
                return _two_d(out.values, out.base_values)

            return "LinearExplainer", linear_fn

    def positive(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_proba(_named(model, x)), dtype=np.float64)[:, 1]

    n_cols = background.shape[1]
    masker = shap.maskers.Independent(background, max_samples=len(background))
    permutation = shap.explainers.PermutationExplainer(positive, masker)
    max_evals = max(2 * n_cols + 1, min(10 * n_cols, 300))

    def permutation_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = permutation(x, max_evals=max_evals, silent=True)
        return _two_d(out.values, out.base_values)

    return "PermutationExplainer", permutation_fn


def _explain_within_budget(
    explain: ExplainFn, x: np.ndarray, start: float, budget_s: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Explain the rows of ``x`` in growing chunks while the time budget allows.

    The first chunk (``CALIBRATION_ROWS`` rows) is always explained. After each chunk the
    cost per row of *that* chunk is extrapolated to what the rest of the budget affords
    (with a 20 % margin), so a slow first call (e.g. just-in-time compilation inside
    shap) does not starve the later ones, and a slow explainer stops early.
    """
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    done = 0
    per_row = 0.0
    while done < len(x):
        if done == 0:
            size = min(CALIBRATION_ROWS, len(x))
        else:
            remaining = budget_s - (time.perf_counter() - start)
            affordable = int(max(0.0, remaining) * 0.8 / per_row) if per_row > 0 else len(x)
            size = min(len(x) - done, affordable, max(CALIBRATION_ROWS, 4 * done))
            if size < 1:
                break
        t_chunk = time.perf_counter()
        chunks.append(explain(x[done : done + size]))
        per_row = (time.perf_counter() - t_chunk) / size
        done += size
    values = np.vstack([c[0] for c in chunks])
    base = np.concatenate([c[1] for c in chunks])
    return values, base, done


def _output_space(
    model: Any, x: np.ndarray, total: np.ndarray
) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """Which model output the SHAP values add up to: probability, log-odds or a margin."""
    proba = np.asarray(model.predict_proba(_named(model, x)), dtype=np.float64)[:, 1]

    def probability(a: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_proba(_named(model, a)), dtype=np.float64)[:, 1]

    if not hasattr(model, "decision_function"):
        return "probability", probability
    margin = np.asarray(model.decision_function(_named(model, x)),
                        dtype=np.float64).reshape(len(x), -1)[:, -1]
    if np.max(np.abs(total - proba)) <= np.max(np.abs(total - margin)):
        return "probability", probability

    def decision(a: np.ndarray) -> np.ndarray:
        return np.asarray(model.decision_function(_named(model, a)),
                          dtype=np.float64).reshape(len(a), -1)[:, -1]

    logistic = np.allclose(1.0 / (1.0 + np.exp(-margin)), proba, atol=1e-6)
    return ("log_odds" if logistic else "margin"), decision


def explain_model(
    model: Any,
    scaler: Any,
    frame: pd.DataFrame,
    *,
    features: list[str] | None = None,
    max_rows: int = 500,
    time_budget_s: float = 20.0,
    seed: int = 0,
    n_local: int = 5,
) -> dict[str, Any]:
    """The ``explainability_report.json`` of a model behind ``scaler``.

    ``frame`` holds the schema features (e.g. the training rows). Every feature appears
    in ``global_importance`` (mean |SHAP| of its aggregated contribution), sorted
    descending.
    """
    start = time.perf_counter()
    features = list(frame.columns) if features is None else list(features)
    if len(frame) == 0:
        raise ValueError("no rows to explain")
    rows, sample, x, background = _sample(scaler, frame, features, max_rows, seed)
    n_sample = len(rows)
    sources = column_sources(scaler, sample, features, x.shape[1])

    name, explain = _make_explainer(model, background)
    values, base, n_rows = _explain_within_budget(explain, x, start, time_budget_s)
    x = x[:n_rows]
    per_feature, rest, unattributed = _per_feature(values, sources, features)

    model_output, output_fn = _output_space(model, x, base + values.sum(axis=1))
    outputs = output_fn(x)
    additivity = float(np.max(np.abs(base + per_feature.sum(axis=1) + rest - outputs)))
    importance = np.abs(per_feature).mean(axis=0)
    order = sorted(range(len(features)), key=lambda j: (-importance[j], features[j]))
    local = _local_explanations(model, x[:n_local], rows, outputs, per_feature, features)
    return {
        "format": REPORT_FORMAT,
        "explainer": name,
        "model_output": model_output,
        "base_value": float(np.mean(base)),
        "n_rows_explained": int(n_rows),
        "n_rows_available": len(frame),
        "global_importance": {features[j]: float(importance[j]) for j in order},
        "local_explanations": local,
        "additivity_max_error": additivity,
        "time_s": round(time.perf_counter() - start, 4),
        "time_budget_s": float(time_budget_s),
        "truncated": bool(n_rows < n_sample),
        "columns": {"count": int(x.shape[1]), "unattributed": [int(j) for j in unattributed]},
        "seed": seed,
    }


def _per_feature(
    values: np.ndarray, sources: list[str | None], features: list[str]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The SHAP values of the columns summed onto their source features (rows x
    features), the sum over columns of no known source, and those columns."""
    index = {f: j for j, f in enumerate(features)}
    mapping = np.zeros((values.shape[1], len(features)))
    unattributed = [j for j, s in enumerate(sources) if s is None]
    for j, source in enumerate(sources):
        if source is not None:
            mapping[j, index[source]] = 1.0
    per_feature = values @ mapping
    rest = values[:, unattributed].sum(axis=1) if unattributed else np.zeros(len(values))
    return per_feature, rest, unattributed


def _sample(
    scaler: Any, frame: pd.DataFrame, features: list[str], max_rows: int, seed: int
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows to explain (a seeded sample of at most ``max_rows``): their positions in
    ``frame``, the rows, the rows as the model sees them, and a background sample of those."""
    rng = np.random.default_rng(seed)
    n_sample = min(max(1, int(max_rows)), len(frame))
    rows = np.sort(rng.choice(len(frame), size=n_sample, replace=False))
    sample = frame.iloc[rows][features]
    x = _dense(scaler.transform(sample))
    background = x[rng.choice(len(x), size=min(BACKGROUND_ROWS, len(x)), replace=False)]
    return rows, sample, x, background


def _local_explanations(
    model: Any,
    x: np.ndarray,
    rows: np.ndarray,
    outputs: np.ndarray,
    per_feature: np.ndarray,
    features: list[str],
) -> list[dict[str, Any]]:
    """The first rows of ``x`` explained one by one (``rows``: their positions in the frame)."""
    index = {f: j for j, f in enumerate(features)}
    predictions = np.asarray(model.predict_proba(_named(model, x)), dtype=np.float64)[:, 1]
    return [
        {
            "row": int(rows[i]),
            "prediction": float(predictions[i]),
            "output": float(outputs[i]),
            "contributions": {f: float(per_feature[i, index[f]]) for f in features},
        }
        for i in range(len(x))
    ]
