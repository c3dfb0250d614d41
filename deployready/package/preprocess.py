"""Compiled preprocessing: a fitted scikit-learn transformer replayed as numpy operations.

Why: on a small batch, ``ColumnTransformer.transform`` spends ~4–5 ms in pandas indexing
and input validation — fixed per call, five times the demo model's own predict — and it
holds the GIL while doing so, which the serving process shares with its HTTP event loop.
The server therefore reads the *fitted parameters* of the common preprocessing
estimators and applies the same floating-point operations in the same order:

- ``ColumnTransformer`` (columns by name, index or boolean mask; no transformer weights;
  dense output), ``Pipeline``, identity ``FunctionTransformer`` (what ``passthrough``
  becomes once fitted), ``"passthrough"`` / ``"drop"``;
- ``SimpleImputer`` (NaN as the missing value, no indicator, no dropped columns),
  ``StandardScaler``, ``MinMaxScaler``, ``RobustScaler``;
- ``OneHotEncoder`` (no ``drop``, no infrequent categories; unknown categories ignored
  or rejected as fitted; sparse only inside a ``ColumnTransformer`` whose output is dense).

Estimators are matched by exact type, never ``isinstance``: a subclass may override
``transform``. A plan is used only after it reproduced ``transformer.transform`` **bit for
bit** (same shape, dtype and values, NaN where NaN) on the package's holdout rows and on
edge rows built from them (every numeric value missing in turn, unseen categories), and
raised where scikit-learn raised. Anything else — an unsupported estimator, a mismatch —
runs scikit-learn unchanged; ``Preprocessor.kind`` and ``.reason`` say which and why, and
``deployready serve`` reports them on ``/health``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Preprocessor", "Unsupported", "compile_preprocessor"]

#: A step of a plan: a 2-D array in, a 2-D array out.
Step = Callable[[np.ndarray], np.ndarray]

#: The value written into categorical cells of the edge rows: never a fitted category.
UNSEEN = "\x00deployready-unseen-category"


class Unsupported(Exception):
    """The estimator cannot be replayed; the message says which and why."""


@dataclass(frozen=True)
class _Block:
    columns: list[str]
    numeric: bool  # input as numbers (else as objects)
    step: Step
    keeps_ints: bool = False  # integer input stays integer, as scikit-learn keeps it

    def input(self, frame: pd.DataFrame) -> np.ndarray:
        """The block's columns as one array, column by column (selecting a sub-frame
        first costs ~4x more on small batches)."""
        columns = [frame[name] for name in self.columns]
        if not self.numeric:
            dtype: Any = object
        elif self.keeps_ints and all(c.dtype.kind in "iu" for c in columns):
            dtype = np.int64
        else:
            dtype = np.float64
        return np.column_stack([c.to_numpy(dtype=dtype) for c in columns])


@dataclass(frozen=True)
class Preprocessor:
    """``transform(frame)`` equal to ``transformer.transform(frame[features])``."""

    transform: Callable[[pd.DataFrame], Any]
    kind: str  # "compiled" or "scikit-learn"
    reason: str  # why scikit-learn runs (empty when compiled)

    def describe(self) -> str:
        return self.kind if not self.reason else f"{self.kind} ({self.reason})"


# --------------------------------------------------------------------------- steps


def _name(est: Any) -> str:
    return type(est).__name__


def _imputer(est: Any) -> Step:
    missing = est.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)):
        raise Unsupported(f"SimpleImputer with missing_values={missing!r}")
    if est.add_indicator:
        raise Unsupported("SimpleImputer with add_indicator=True")
    statistics = np.asarray(est.statistics_)
    if statistics.dtype.kind not in "fiu" or not np.isfinite(statistics).all():
        raise Unsupported("SimpleImputer with non-numeric or empty-column statistics")

    def impute(x: np.ndarray) -> np.ndarray:
        mask = np.isnan(x)
        if mask.any():
            x = x.copy()
            rows, cols = np.nonzero(mask)
            x[rows, cols] = statistics[cols]
        return x

    return impute


def _center_scale(center: np.ndarray | None, scale: np.ndarray | None) -> Step:
    """``x - center`` then ``/ scale``, in place on a copy, as both scalers compute it."""

    def run(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        if center is not None:
            x -= center
        if scale is not None:
            x /= scale
        return x

    return run


def _standard(est: Any) -> Step:
    return _center_scale(est.mean_ if est.with_mean else None,
                         est.scale_ if est.with_std else None)


def _minmax(est: Any) -> Step:
    scale, shift, clip = est.scale_, est.min_, bool(est.clip)
    low, high = est.feature_range

    def minmax(x: np.ndarray) -> np.ndarray:
        x = x * scale
        x += shift
        if clip:
            np.clip(x, low, high, out=x)
        return x

    return minmax


def _robust(est: Any) -> Step:
    return _center_scale(est.center_ if est.with_centering else None,
                         est.scale_ if est.with_scaling else None)


def _onehot(est: Any) -> Step:
    if est.drop is not None or getattr(est, "drop_idx_", None) is not None:
        raise Unsupported("OneHotEncoder with drop")
    if getattr(est, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories")
    if est.handle_unknown not in ("ignore", "error"):
        raise Unsupported(f"OneHotEncoder with handle_unknown={est.handle_unknown!r}")
    categories = [np.asarray(c, dtype=object) for c in est.categories_]
    if any(c is None for cats in categories for c in cats):
        # scikit-learn keeps None and NaN apart; requests carry a null as NaN
        raise Unsupported("OneHotEncoder fitted with None as a category")
    nan_at = [[k for k, c in enumerate(cats) if _is_nan(c)] for cats in categories]
    dtype, reject = est.dtype, est.handle_unknown == "error"

    def onehot(x: np.ndarray) -> np.ndarray:
        blocks = []
        for j, cats in enumerate(categories):
            column = x[:, j]
            hits = column[:, None] == cats[None, :]
            if nan_at[j]:  # NaN != NaN: the NaN category matches float NaN only
                hits[:, nan_at[j]] = np.array([_is_nan(v) for v in column])[:, None]
            if reject and not hits.any(axis=1).all():
                unknown = column[~hits.any(axis=1)][0]
                raise ValueError(f"Found unknown categories [{unknown!r}] in column {j} "
                                 "during transform")
            blocks.append(hits.astype(dtype))
        return np.hstack(blocks) if blocks else np.empty((len(x), 0), dtype=dtype)

    return onehot


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _identity_function(est: Any) -> Step:
    if est.func is not None or est.validate or est.kw_args:
        raise Unsupported("FunctionTransformer with a function or validation")
    return lambda x: x


def _pipeline(est: Any) -> Step:
    steps = [_step(s) for _, s in est.steps if s is not None and s != "passthrough"]

    def run(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step(x)
        return x

    return run


_STEPS: dict[str, Callable[[Any], Step]] = {
    "sklearn.impute._base.SimpleImputer": _imputer,
    "sklearn.preprocessing._data.StandardScaler": _standard,
    "sklearn.preprocessing._data.MinMaxScaler": _minmax,
    "sklearn.preprocessing._data.RobustScaler": _robust,
    "sklearn.preprocessing._encoders.OneHotEncoder": _onehot,
    "sklearn.preprocessing._function_transformer.FunctionTransformer": _identity_function,
    "sklearn.pipeline.Pipeline": _pipeline,
}


def _qualname(est: Any) -> str:
    cls = type(est)
    return f"{cls.__module__}.{cls.__qualname__}"


def _step(est: Any) -> Step:
    if isinstance(est, str):
        if est == "passthrough":
            return lambda x: x
        raise Unsupported(f"transformer {est!r}")
    build = _STEPS.get(_qualname(est))
    if build is None:
        raise Unsupported(f"{_name(est)} is not one of the replayable estimators")
    return build(est)


def _first_estimator(est: Any) -> Any:
    while _qualname(est) == "sklearn.pipeline.Pipeline":
        steps = [s for _, s in est.steps if s is not None and s != "passthrough"]
        if not steps:
            return "passthrough"
        est = steps[0]
    return est


def _takes_objects(est: Any) -> bool:
    return _qualname(_first_estimator(est)) == "sklearn.preprocessing._encoders.OneHotEncoder"


def _keeps_ints(est: Any) -> bool:
    """True when integer input leaves the step as integers: identity steps and the
    imputer strategies that copy values (scikit-learn converts to float elsewhere)."""
    if isinstance(est, str):
        return est == "passthrough"
    name = _qualname(est)
    if name == "sklearn.pipeline.Pipeline":
        return all(_keeps_ints(s) for _, s in est.steps if s is not None)
    if name == "sklearn.impute._base.SimpleImputer":
        return est.strategy in ("most_frequent", "constant")
    return name == "sklearn.preprocessing._function_transformer.FunctionTransformer"


def _block(columns: list[str], est: Any) -> _Block:
    return _Block(columns, not _takes_objects(est), _step(est), _keeps_ints(est))


# --------------------------------------------------------------------------- plans


def _column_names(ct: Any, columns: Any, features: list[str]) -> list[str]:
    names = [str(n) for n in getattr(ct, "feature_names_in_", features)]
    selected = np.asarray(columns) if not isinstance(columns, str | int) else None
    if selected is None:
        raise Unsupported("a ColumnTransformer column given as a scalar")
    if selected.size == 0:
        return []
    if selected.dtype == bool:
        return [n for n, keep in zip(names, selected, strict=True) if keep]
    if selected.dtype.kind in "iu":
        return [names[int(i)] for i in selected]
    if selected.dtype.kind in "OU":
        return [str(c) for c in selected]
    raise Unsupported(f"ColumnTransformer columns of dtype {selected.dtype}")


def _column_blocks(ct: Any, features: list[str]) -> list[_Block]:
    if getattr(ct, "transformer_weights", None):
        raise Unsupported("ColumnTransformer with transformer_weights")
    if getattr(ct, "sparse_output_", False):
        raise Unsupported("ColumnTransformer with sparse output")
    # below: a sparse block (OneHotEncoder's default) is densified by the ColumnTransformer
    blocks = []
    for _, trans, columns in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        names = _column_names(ct, columns, features)
        if not names:
            continue
        blocks.append(_block(names, trans))
    return blocks


def _plan(transformer: Any, features: list[str]) -> Callable[[pd.DataFrame], np.ndarray]:
    if _qualname(transformer) == "sklearn.compose._column_transformer.ColumnTransformer":
        blocks = _column_blocks(transformer, features)
    else:
        if getattr(_first_estimator(transformer), "sparse_output", False):
            raise Unsupported("a transformer with sparse output")
        blocks = [_block(list(features), transformer)]
    if not blocks:
        raise Unsupported("a transformer without output columns")

    def transform(frame: pd.DataFrame) -> np.ndarray:
        parts = [block.step(block.input(frame)) for block in blocks]
        return parts[0] if len(parts) == 1 else np.hstack(parts)

    return transform


# --------------------------------------------------------------------------- verification


def _edge_frames(sample: pd.DataFrame) -> list[pd.DataFrame]:
    """The sample; a copy with every numeric column missing in turn (one row each; an
    integer column becomes float, as a request batch with a null makes it); the same for
    every non-numeric column; a copy with every non-numeric column set to a category no
    encoder has seen."""
    frames = [sample]
    if sample.empty:
        return frames
    numbers, categories = sample.copy(), sample.copy()
    for i, name in enumerate(sample.columns):
        kind = sample[name].dtype.kind
        if kind in "iubf":
            target = numbers
            if kind != "f":
                target[name] = target[name].astype(np.float64)
        elif kind == "O" or pd.api.types.is_string_dtype(sample[name].dtype):
            target = categories
        else:
            continue  # datetimes and the like: not request values
        target.iloc[i % len(target), i] = np.nan
    frames += [numbers, categories]
    unseen = sample.copy()
    for name in sample.columns:
        if not pd.api.types.is_numeric_dtype(unseen[name].dtype):
            unseen[name] = pd.Series([UNSEEN] * len(unseen), index=unseen.index,
                                     dtype=unseen[name].dtype)
    frames.append(unseen)
    return frames


def _outcome(fn: Callable[[pd.DataFrame], Any], frame: pd.DataFrame) -> Any:
    try:
        return fn(frame)
    except Exception as exc:  # compared: where scikit-learn raises, the plan must too
        return exc


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, BaseException) or isinstance(actual, BaseException):
        return isinstance(expected, BaseException) and isinstance(actual, BaseException)
    return (type(expected) is np.ndarray and type(actual) is np.ndarray
            and expected.dtype == actual.dtype and expected.shape == actual.shape
            and bool(np.array_equal(expected, actual, equal_nan=expected.dtype.kind == "f")))


def _verify(plan: Callable[[pd.DataFrame], Any], reference: Callable[[pd.DataFrame], Any],
            sample: pd.DataFrame) -> str:
    """Empty when the plan matches the reference on every edge frame, else why not."""
    for i, frame in enumerate(_edge_frames(sample)):
        expected, actual = _outcome(reference, frame), _outcome(plan, frame)
        if not _same(expected, actual):
            what = ("holdout rows", "rows with missing numbers", "rows with missing categories",
                    "rows with unseen categories")[i]
            return f"differs from scikit-learn on {what}"
    return ""


def compile_preprocessor(transformer: Any, features: list[str], sample: pd.DataFrame,
                         *, sample_rows: int = 256) -> Preprocessor:
    """The fastest verified way to run ``transformer.transform(frame[features])``.

    ``sample`` holds rows in the serving schema (the package's holdout); the plan must
    reproduce scikit-learn on its first ``sample_rows`` rows and their edge variants.
    """
    features = list(features)

    def reference(frame: pd.DataFrame) -> Any:
        return transformer.transform(frame[features])

    if sample.empty or any(f not in sample.columns for f in features):
        return Preprocessor(reference, "scikit-learn", "no holdout rows to verify against")
    try:
        plan = _plan(transformer, features)
    except Unsupported as exc:
        return Preprocessor(reference, "scikit-learn", str(exc))
    except (AttributeError, TypeError, ValueError) as exc:  # a half-fitted or odd estimator
        return Preprocessor(reference, "scikit-learn", f"cannot read fitted parameters: {exc}")
    problem = _verify(plan, reference, sample[features].head(sample_rows).reset_index(drop=True))
    if problem:
        return Preprocessor(reference, "scikit-learn", problem)
    return Preprocessor(plan, "compiled", "")
