"""Request rows checked against a feature schema: a frame in schema order, or an
InputError naming ``rows[i].field`` and what was expected."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from deployready.errors import InputError
from deployready.package.schema import schema_features

#: Request integers must fit a 64-bit column (bounds as floats: [-2**63, 2**63)).
INT64_MIN = -(2.0**63)
INT64_LIMIT = 2.0**63

#: Longest text a request may send for a categorical feature (or the schema's longest
#: category, when longer): a category, not a document. Every served row is logged.
MAX_TEXT_CHARS = 1000

#: Longest piece of a request an error message quotes (a key, a number).
QUOTE_CHARS = 80


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
