"""Feature schemas and version numbers of model packages.

Versions are derived, never typed: the exporter compares the new package with the
previous (highest) one in ``models/``:

- no previous package → ``v1.0`` ("initial");
- the feature schema changed (names, order, kinds, dtypes, categories — not the
  training min/max or nullability) → next major, ``vM+1.0``;
- same schema, but a different model or scaler → next minor, ``vM.m+1``;
- same schema, model and scaler (a model-card or description fix) → next patch.

"Same model and scaler" means byte-identical joblib files (``model_sha256``,
``scaler_sha256``) or — because a fitted transformer can pickle differently after being
loaded in another process — identical predictions on the previous package's verified
holdout rows (:func:`deployready.package.export.export_package` checks this). A retrain never
reproduces those predictions to the last bit, so it is always a minor bump.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from deployready.errors import InputError
from deployready.package.profile import feature_kind
from deployready.workspace import format_version, parse_version

SCHEMA_FORMAT = 1

Bump = Literal["initial", "major", "minor", "patch"]
BUMPS: tuple[Bump, ...] = ("initial", "major", "minor", "patch")

BUMP_REASONS: dict[str, str] = {
    "initial": "first package of this model: no previous version",
    "major": "the feature schema changed (names, order, kinds, dtypes or categories)",
    "minor": "retrained on the same feature schema (model or scaler changed)",
    "patch": "model and scaler unchanged (documentation or metadata fix)",
}

#: Schema fields that define compatibility (and so the schema hash).
IDENTITY_FIELDS: tuple[str, ...] = ("kind", "dtype", "categories")

#: Request integers must fit a 64-bit column (bounds as floats: [-2**63, 2**63)).
INT64_MIN = -(2.0**63)
INT64_LIMIT = 2.0**63

#: Longest text a request may send for a categorical feature (or the schema's longest
#: category, when longer): a category, not a document. Every served row is logged.
MAX_TEXT_CHARS = 1000

#: Longest piece of a request an error message quotes (a key, a number).
QUOTE_CHARS = 80


# --------------------------------------------------------------------------- versions


def next_version(previous: str | None, bump: Bump) -> str:
    """The version after ``previous`` for a given bump.

    >>> next_version(None, "initial"), next_version("v1.2", "major")
    ('v1.0', 'v2.0')
    >>> next_version("v1.2", "minor"), next_version("v1.2", "patch")
    ('v1.3', 'v1.2.1')
    """
    if previous is None:
        if bump != "initial":
            raise ValueError(f"bump {bump!r} needs a previous version")
        return format_version(1, 0)
    parsed = parse_version(previous)
    if parsed is None:
        raise ValueError(f"not a version name: {previous!r} (expected vMAJOR.MINOR[.PATCH])")
    major, minor, patch = parsed
    if bump == "major":
        return format_version(major + 1, 0)
    if bump == "minor":
        return format_version(major, minor + 1)
    if bump == "patch":
        return format_version(major, minor, patch + 1)
    raise ValueError(f"bump {bump!r} is not possible after {previous} (expected major/minor/patch)")


def decide_bump(
    prev_meta: dict[str, Any] | None,
    new_schema_sha: str,
    new_model_sha: str,
    new_scaler_sha: str,
) -> Bump:
    """Which bump a new package gets, given the previous package's metadata."""
    if prev_meta is None:
        return "initial"
    if prev_meta.get("schema_sha256") != new_schema_sha:
        return "major"
    if (
        prev_meta.get("model_sha256") != new_model_sha
        or prev_meta.get("scaler_sha256") != new_scaler_sha
    ):
        return "minor"
    return "patch"


# --------------------------------------------------------------------------- schema


def _dtype_name(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "string"


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def build_schema(train: pd.DataFrame, features: list[str], target: str) -> dict[str, Any]:
    """``feature_schema.json`` of the training frame (schema order = ``features``)."""
    entries: list[dict[str, Any]] = []
    for name in features:
        column = train[name]
        kind = feature_kind(column)
        entry: dict[str, Any] = {
            "name": str(name),
            "kind": kind,
            "dtype": _dtype_name(column),
            "nullable": bool(column.isna().any()),
        }
        if kind == "categorical":
            present = column.dropna()
            entry["categories"] = sorted({str(v) for v in present.tolist()})
        else:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[np.isfinite(values)]
            entry["min"] = _finite_or_none(finite.min()) if finite.size else None
            entry["max"] = _finite_or_none(finite.max()) if finite.size else None
        entries.append(entry)
    return {
        "format": SCHEMA_FORMAT,
        "features": entries,
        "target": str(target),
        "prediction": {"kind": "probability", "positive_class": 1},
    }


def schema_identity(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The compatibility-defining part of a schema: ordered names, kinds, dtypes, categories."""
    identity = []
    for entry in schema.get("features", []):
        item = {"name": entry.get("name")}
        for key in IDENTITY_FIELDS:
            if key in entry:
                item[key] = entry[key]
        identity.append(item)
    return identity


def schema_sha256(schema: dict[str, Any]) -> str:
    canonical = json.dumps(schema_identity(schema), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def schema_features(schema: dict[str, Any]) -> list[str]:
    return [str(f.get("name")) for f in schema.get("features", []) if isinstance(f, dict)]


@dataclass(frozen=True)
class SchemaDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: (feature, field, old, new); field "position" when the column order changed.
    changed: list[tuple[str, str, Any, Any]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": [list(c) for c in self.changed],
        }


def schema_diff(schema_a: dict[str, Any], schema_b: dict[str, Any]) -> SchemaDiff:
    """Differences that matter for compatibility (what a major bump is about)."""
    a = {str(e.get("name")): e for e in schema_a.get("features", []) if isinstance(e, dict)}
    b = {str(e.get("name")): e for e in schema_b.get("features", []) if isinstance(e, dict)}
    added = [n for n in b if n not in a]
    removed = [n for n in a if n not in b]
    changed: list[tuple[str, str, Any, Any]] = []
    common_a = [n for n in a if n in b]
    common_b = [n for n in b if n in a]
    for name in common_b:
        for key in IDENTITY_FIELDS:
            old, new = a[name].get(key), b[name].get(key)
            if old != new:
                changed.append((name, key, old, new))
    if common_a != common_b:
        for name in common_b:
            old_pos, new_pos = common_a.index(name), common_b.index(name)
            if old_pos != new_pos:
                changed.append((name, "position", old_pos, new_pos))
    return SchemaDiff(added, removed, changed)


# --------------------------------------------------------------------------- serving


def predict_frame(model: Any, scaler: Any, features: list[str], frame: pd.DataFrame,
                  transform: Callable[[pd.DataFrame], Any] | None = None) -> np.ndarray:
    """The serving path: ``model.predict_proba(scaler.transform(frame[features]))[:, 1]``.

    ``transform``: a verified replacement for ``scaler.transform(frame[features])`` (see
    ``deployready.package.preprocess``)."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InputError(
            f"missing feature columns {missing}",
            location="columns",
            expected="every schema feature",
        )
    transformed = scaler.transform(frame[features]) if transform is None else transform(frame)
    proba = np.asarray(model.predict_proba(transformed), dtype=np.float64)
    return np.ascontiguousarray(proba[:, 1])


def schema_model_problems(
    features: list[str], scaler: Any, model: Any, holdout: pd.DataFrame | None
) -> list[str]:
    """Why ``scaler`` and ``model`` cannot serve the schema's features (empty: they can)."""
    problems: list[str] = []
    names = getattr(scaler, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != features:
        problems.append(
            f"scaler was fitted on {list(map(str, names))}, the schema lists {features}"
        )
    elif getattr(scaler, "n_features_in_", len(features)) != len(features):
        problems.append(
            f"scaler expects {scaler.n_features_in_} features, the schema has {len(features)}"
        )
    if not hasattr(model, "predict_proba"):
        problems.append(f"model {type(model).__name__} has no predict_proba")
    if problems:
        return problems
    width: int | None = None
    if holdout is not None and len(holdout):
        try:
            width = int(scaler.transform(holdout.head(5)[features]).shape[1])
        except Exception as exc:  # any transformer failure is a mismatch to report
            problems.append(f"scaler cannot transform the holdout rows: {exc}")
    elif hasattr(scaler, "get_feature_names_out"):
        width = len(scaler.get_feature_names_out())
    n_in = getattr(model, "n_features_in_", None)
    if width is not None and n_in is not None and int(n_in) != width:
        problems.append(f"scaler outputs {width} columns, the model expects {n_in}")
    return problems


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as an error may quote it: at most ``limit`` characters even once
    JSON-escaped (``\\uXXXX`` for control characters), the full length said when cut."""
    if len(text) <= limit and len(json.dumps(text)) - 2 <= limit:
        return text
    suffix = f"...({len(text)} characters)"
    room = max(0, limit - len(suffix))
    head = text[:room]
    while (excess := len(json.dumps(head)) - 2 - room) > 0:
        head = head[: len(head) - max(1, excess // 12)]  # a character escapes to <= 12
    return head + suffix


def text_limit(spec: dict[str, Any]) -> int:
    """Longest text accepted for the categorical feature ``spec``."""
    categories = spec.get("categories") or ()
    return max([MAX_TEXT_CHARS, *(len(c) for c in categories if isinstance(c, str))])


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _expected(spec: dict[str, Any]) -> str:
    if spec["kind"] == "numeric":
        text = "an integer" if spec.get("dtype") == "int" else "a number"
    elif spec.get("dtype") == "bool":
        text = "true or false"
    else:
        text = "a string"
    return f"{text} or null" if spec.get("nullable") else text


def _check_value(value: Any, spec: dict[str, Any], where: str) -> Any:
    if _is_null(value):
        if not spec.get("nullable"):
            what = "null" if value is None else "NaN"
            raise InputError(
                f"{what} in a feature that is never null", location=where,
                expected=_expected(spec),
            )
        return None
    if spec["kind"] == "numeric":
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise InputError(
                f"wrong type {type(value).__name__}", location=where, expected=_expected(spec)
            )
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InputError(
                f"non-finite or out-of-range number {shown}",
                location=where,
                expected=_expected(spec),
            )
        if spec.get("dtype") == "int":
            if not number.is_integer():
                raise InputError(
                    f"not an integer: {value!r}", location=where, expected=_expected(spec)
                )
            if not INT64_MIN <= number < INT64_LIMIT:
                raise InputError(
                    f"integer out of range: {shorten(repr(value), 40)}", location=where,
                    expected="a 64-bit integer",
                )
            return int(number)
        return number
    if spec.get("dtype") == "bool":
        if not isinstance(value, bool | np.bool_):
            raise InputError(
                f"wrong type {type(value).__name__}", location=where, expected=_expected(spec)
            )
        return bool(value)
    if not isinstance(value, str):
        raise InputError(
            f"wrong type {type(value).__name__}", location=where, expected=_expected(spec)
        )
    limit = text_limit(spec)
    if len(value) > limit:
        raise InputError(
            f"text of {len(value)} characters", location=where,
            expected=f"a string of at most {limit} characters",
        )
    return value


_NUMBER_TYPES = (int, float)


def _fast_column(values: list[Any], spec: dict[str, Any]) -> np.ndarray | pd.Series | None:
    """One column of well-formed values, built column-wise; None when any value needs a
    closer look (the checked path then decides, and names the offending field)."""
    nullable = bool(spec.get("nullable"))
    if spec["kind"] == "numeric":
        if spec.get("dtype") == "int":
            if not all(type(v) is int for v in values):
                return None
            try:  # the checked path converts through float: same here, same rounding
                numbers_ = np.array([float(v) for v in values], dtype=np.float64)
            except OverflowError:
                return None
            if not ((numbers_ >= INT64_MIN) & (numbers_ < INT64_LIMIT)).all():
                return None
            return numbers_.astype(np.int64)
        if nullable:
            if not all(v is None or type(v) in _NUMBER_TYPES for v in values):
                return None
            try:
                numbers_ = np.array([np.nan if v is None else float(v) for v in values],
                                    dtype=np.float64)
            except OverflowError:
                return None
            if np.isinf(numbers_).any():
                return None
        else:
            if not all(type(v) in _NUMBER_TYPES for v in values):
                return None
            try:
                numbers_ = np.array([float(v) for v in values], dtype=np.float64)
            except OverflowError:
                return None
            if not np.isfinite(numbers_).all():
                return None
        return numbers_  # a bare array: a Series per column costs more than the checks
    kind = bool if spec.get("dtype") == "bool" else str
    if nullable:
        if not all(v is None or type(v) is kind for v in values):
            return None
    elif not all(type(v) is kind for v in values):
        return None
    if kind is str and max(map(len, filter(None, values)), default=0) > text_limit(spec):
        return None  # a text longer than a category: the checked path names it
    if nullable:
        values = [np.nan if v is None else v for v in values]
    return pd.Series(values, dtype=object)  # a bare object array would be inferred as str


def _fast_frame(schema: dict[str, Any], features: list[str], records: list[Any]
                ) -> pd.DataFrame | None:
    """``rows_to_frame`` for rows that are plainly valid (exact key set, plain JSON types,
    finite numbers): column-wise, no per-value calls. None: use the checked path."""
    if not records:
        return None
    keys = set(features)
    if len(keys) != len(features):
        return None
    for record in records:
        if type(record) is not dict or record.keys() != keys:
            return None
    specs = {str(f["name"]): f for f in schema["features"]}
    data: dict[str, np.ndarray | pd.Series] = {}
    for name in features:
        column = _fast_column([record[name] for record in records], specs[name])
        if column is None:
            return None
        data[name] = column
    return pd.DataFrame(data, columns=features)


def rows_to_frame(schema: dict[str, Any], records: Any) -> pd.DataFrame:
    """Request rows (a list of feature -> value objects) as a frame in schema order.

    Each row must have exactly the schema features; numbers are int/float (not bool or
    str) and finite, categories are strings; null only where the feature is nullable.
    Unknown categories are allowed (the encoder ignores them). InputError names
    ``rows[i].field`` and the expected type.

    Plainly valid rows take a column-wise fast path; anything else goes through the
    row-by-row checks, which produce the same frame or the error naming the field.
    """
    features = schema_features(schema)
    if isinstance(records, list):
        fast = _fast_frame(schema, features, records)
        if fast is not None:
            return fast
    if not isinstance(records, list):
        raise InputError("not a list", location="rows", expected="a list of objects")
    specs = {str(f["name"]): f for f in schema["features"]}
    columns: dict[str, list[Any]] = {name: [] for name in features}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(
                "not an object", location=f"rows[{i}]", expected="an object of feature -> value"
            )
        for key in record:
            if key not in specs:
                raise InputError(
                    "unknown field",
                    location=f"rows[{i}].{shorten(str(key))}",
                    expected="one of " + ", ".join(features),
                )
        for name in features:
            if name not in record:
                raise InputError(
                    "missing field",
                    location=f"rows[{i}].{name}",
                    expected=_expected(specs[name]),
                )
            columns[name].append(_check_value(record[name], specs[name], f"rows[{i}].{name}"))
    data: dict[str, Any] = {}
    for name in features:
        spec, values = specs[name], columns[name]
        if spec["kind"] == "numeric":
            nulls = any(v is None for v in values)
            if spec.get("dtype") == "int" and not nulls:
                data[name] = pd.Series(values, dtype="int64")
            else:
                data[name] = pd.Series(
                    [np.nan if v is None else v for v in values], dtype="float64"
                )
        else:
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
    return pd.DataFrame(data, columns=features)
