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

from typing import Any, Literal

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
