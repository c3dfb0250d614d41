"""Feature schemas of model packages: ``feature_schema.json`` built from the training
frame, its compatibility identity and hash, and the differences between two schemas."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from deployready.package.profile import feature_kind

SCHEMA_FORMAT = 1

#: Schema fields that define compatibility (and so the schema hash).
IDENTITY_FIELDS: tuple[str, ...] = ("kind", "dtype", "categories")


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
