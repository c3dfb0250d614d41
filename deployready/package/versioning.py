"""Version numbers of model packages.

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

from dataclasses import dataclass
from typing import Any, Literal

from deployready.package.schema import SchemaDiff, schema_diff
from deployready.workspace import format_version, parse_version

Bump = Literal["initial", "major", "minor", "patch"]
BUMPS: tuple[Bump, ...] = ("initial", "major", "minor", "patch")

BUMP_REASONS: dict[str, str] = {
    "initial": "first package of this model: no previous version",
    "major": "the feature schema changed (names, order, kinds, dtypes or categories)",
    "minor": "retrained on the same feature schema (model or scaler changed)",
    "patch": "model and scaler unchanged (documentation or metadata fix)",
}


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


@dataclass(frozen=True)
class SchemaChange:
    """Two packages' feature schemas compared, and what that means for the version: a
    changed schema is a major bump; the same schema is a retrain or a fix (minor or
    patch, decided by the model and scaler)."""

    old: str
    new: str
    diff: SchemaDiff

    @property
    def bump(self) -> Bump | None:
        """``major`` when the schema changed; None when the schema does not decide it."""
        return None if self.diff.same else "major"

    @property
    def reason(self) -> str:
        return BUMP_REASONS["major"] if self.bump else ""

    @property
    def explanation(self) -> str:
        if self.bump is None:
            return (f"Same feature schema in {self.old} and {self.new} "
                    "(a retrain or fix, not a schema change).")
        return f"Schema changed from {self.old} to {self.new}: a {self.bump} version bump."

    @property
    def rows(self) -> list[dict[str, str]]:
        """One row per difference: change (added, removed, changed), feature, the field
        that changed (``position`` for the column order), from and to."""
        blank = {"field": "", "from": "", "to": ""}
        return (
            [{"change": "added", "feature": n, **blank} for n in self.diff.added]
            + [{"change": "removed", "feature": n, **blank} for n in self.diff.removed]
            + [{"change": "changed", "feature": n, "field": f, "from": str(o), "to": str(w)}
               for n, f, o, w in self.diff.changed]
        )


def schema_change(
    old: str, new: str, old_schema: dict[str, Any], new_schema: dict[str, Any]
) -> SchemaChange:
    """The schema of package ``old`` against package ``new`` (their ``feature_schema.json``)."""
    return SchemaChange(old, new, schema_diff(old_schema, new_schema))
