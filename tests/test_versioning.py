"""Version bumps explained: what a schema difference between two packages means for the
version number, as a record the Artifacts page renders without restating the rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.package.schema import schema_sha256
from deployready.package.versioning import BUMP_REASONS, decide_bump, schema_change


def _schema(*features: tuple[str, str]) -> dict[str, Any]:
    return {"features": [{"name": n, "kind": k, "dtype": "float64" if k == "numeric" else
                          "string"} for n, k in features]}


A = _schema(("amount", "numeric"), ("channel", "categorical"), ("age", "numeric"))
B = _schema(("age", "numeric"), ("amount", "categorical"), ("region", "categorical"))


def test_the_same_schema_is_no_schema_change() -> None:
    change = schema_change("v1.0", "v1.1", A, A)
    assert change.bump is None and change.diff.same
    assert change.explanation == (
        "Same feature schema in v1.0 and v1.1 (a retrain or fix, not a schema change)."
    )
    assert change.rows == []


def test_a_schema_change_is_a_major_bump_with_its_rows() -> None:
    change = schema_change("v1.1", "v2.0", A, B)
    assert change.bump == "major"
    assert change.explanation == "Schema changed from v1.1 to v2.0: a major version bump."
    assert change.reason == BUMP_REASONS["major"]
    assert change.rows == [
        {"change": "added", "feature": "region", "field": "", "from": "", "to": ""},
        {"change": "removed", "feature": "channel", "field": "", "from": "", "to": ""},
        {"change": "changed", "feature": "amount", "field": "kind", "from": "numeric",
         "to": "categorical"},
        {"change": "changed", "feature": "amount", "field": "dtype", "from": "float64",
         "to": "string"},
        {"change": "changed", "feature": "age", "field": "position", "from": "1", "to": "0"},
        {"change": "changed", "feature": "amount", "field": "position", "from": "0",
         "to": "1"},
    ]


_FEATURES = st.lists(
    st.tuples(st.sampled_from(["amount", "age", "channel", "region", "hour"]),
              st.sampled_from(["numeric", "categorical"])),
    min_size=1, max_size=5, unique_by=lambda f: f[0],
)


@settings(max_examples=200, deadline=None)
@given(_FEATURES, _FEATURES)
def test_the_explanation_agrees_with_the_exporters_bump(
    old: list[tuple[str, str]], new: list[tuple[str, str]]
) -> None:
    """The page's account of two schemas is the bump the exporter would give the new
    package (model and scaler unchanged)."""
    sa, sb = _schema(*old), _schema(*new)
    previous = {"schema_sha256": schema_sha256(sa), "model_sha256": "m", "scaler_sha256": "s"}
    exported = decide_bump(previous, schema_sha256(sb), "m", "s")
    change = schema_change("v1.0", "v1.1", sa, sb)
    assert (change.bump == "major") == (exported == "major")
    assert (change.bump is None) == (exported == "patch")
