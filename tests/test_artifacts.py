"""Model packages: export, validation, safe loading, versioning, tampering."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from deployready.checks import Category, Status
from deployready.errors import InputError, IntegrityError, PackageError
from deployready.package import export as package_export
from deployready.package import manifest
from deployready.package import validate as package_validate
from deployready.package.calibration import CALIBRATION_FILE
from deployready.package.checks import artifact_checks
from deployready.package.export import PackageInfo, export_package
from deployready.package.load import load_package
from deployready.package.manifest import PACKAGE_FILES, package_sha256, sha256_file
from deployready.package.rows import rows_to_frame
from deployready.package.schema import schema_diff
from deployready.package.validate import validate_package
from deployready.package.versioning import decide_bump, next_version
from deployready.workspace import Workspace, format_version, parse_version

FEATURES = ["amount", "age", "region", "channel"]


def make_frame(n: int = 500, seed: int = 0, regions: tuple[str, ...] = ("north", "south", "east")):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, n),
            "age": rng.integers(18, 80, n),
            "region": rng.choice(list(regions), n),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    logit = 0.02 * (frame["amount"] - 100) + 0.8 * (frame["region"] == "north") - 0.3
    frame["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def fit(frame: pd.DataFrame, features: list[str] = FEATURES, c: float = 1.0) -> tuple[Any, Any]:
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    categorical = [f for f in features if f not in numeric]
    scaler = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    x = scaler.fit_transform(frame[features])
    model = LogisticRegression(C=c, max_iter=500).fit(x, frame["target"])
    return model, scaler


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> tuple[Any, Any]:
    return fit(data.iloc[:400])


def export(models: Path, fitted: tuple[Any, Any], data: pd.DataFrame, **kw: Any) -> PackageInfo:
    model, scaler = fitted
    kw.setdefault("features", FEATURES)
    kw.setdefault("train", data.iloc[:400])
    kw.setdefault("holdout", data.iloc[400:])
    kw.setdefault("created_at", "2025-01-01T00:00:00+00:00")
    return export_package(
        models, model=model, scaler=scaler, target_column="target", shap_time_budget_s=5.0, **kw
    )


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory, fitted: tuple[Any, Any], data: pd.DataFrame):
    models = tmp_path_factory.mktemp("master") / "models"
    return export(models, fitted, data).path


@pytest.fixture
def pkg(master: Path, tmp_path: Path) -> Path:
    """A private copy of a valid v1.0 package."""
    target = tmp_path / "models" / "v1.0"
    shutil.copytree(master, target)
    return target


def codes(path: Path, deep: bool = True) -> set[tuple[str, str]]:
    return {(f.code, f.file) for f in validate_package(path, deep=deep).findings}


# --------------------------------------------------------------------------- export


def test_export_validate_load_predict(pkg: Path, data: pd.DataFrame) -> None:
    names = sorted(p.name for p in pkg.iterdir())
    # a labelled holdout: the package carries it for estimated performance
    assert names == sorted([*PACKAGE_FILES, CALIBRATION_FILE, "MANIFEST.json"])
    report = validate_package(pkg)
    assert report.valid and report.findings == [] and report.unpickled
    assert (
        report.sha256
        == package_sha256(pkg)
        == manifest.sha256_bytes((pkg / "MANIFEST.json").read_bytes())
    )

    loaded = load_package(pkg)
    assert loaded.version == "v1.0" and loaded.sha256 == report.sha256
    assert loaded.features == FEATURES and list(loaded.holdout.columns) == FEATURES
    assert len(loaded.holdout) == 100 and len(loaded.expected) == 100
    np.testing.assert_array_equal(loaded.predict(loaded.holdout), loaded.expected)
    # the request path: JSON-like rows → validate_rows → predict gives the same numbers
    rows = loaded.validate_rows(loaded.holdout.to_dict("records"))
    np.testing.assert_allclose(loaded.predict(rows), loaded.expected, rtol=0, atol=1e-12)
    # the serving path (compiled preprocessing) gives exactly the same numbers
    serving, pre = loaded.serving_predictor()
    assert pre.kind == "compiled"
    np.testing.assert_array_equal(serving(rows), loaded.predict(rows))
    assert loaded.request_rows(3) == [
        {k: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item")
             else v) for k, v in r.items()} for r in loaded.holdout.head(3).to_dict("records")]

    meta = loaded.metadata
    assert meta["version"] == "v1.0" and meta["bump"] == "initial" and meta["previous"] is None
    assert meta["model_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert meta["training_data"]["rows"] == 400
    assert meta["model_sha256"] == sha256_file(pkg / "model.pkl")
    assert set(meta["metrics"]) == {"roc_auc", "average_precision", "brier"}
    assert "prediction" in loaded.profile and set(loaded.profile["features"]) == set(FEATURES)

    spec = {f["name"]: f for f in loaded.schema["features"]}
    assert spec["amount"]["kind"] == "numeric" and spec["amount"]["dtype"] == "float"
    assert spec["age"]["dtype"] == "int" and spec["age"]["min"] >= 18
    assert spec["region"] == {
        "name": "region",
        "kind": "categorical",
        "dtype": "string",
        "nullable": False,
        "categories": ["east", "north", "south"],
    }
    shap_report = json.loads((pkg / "explainability_report.json").read_text())
    assert set(shap_report["global_importance"]) == set(FEATURES)
    card = (pkg / "README.md").read_text()
    assert "# Model card — v1.0" in card and "| roc_auc |" in card


def test_artifact_checks_clean(pkg: Path) -> None:
    checks = artifact_checks(pkg)
    assert [c.name for c in checks] == [
        "required files present",
        "manifest verified (hashes)",
        "versioned package name",
        "schema matches model",
        "SHAP report covers every feature",
        "model card complete",
        "drift reference profile and holdout present",
    ]
    sha = package_sha256(pkg)
    for check in checks:
        assert check.category is Category.ARTIFACTS
        assert check.status is Status.PASS, check.message
        assert check.evidence is not None and check.evidence.package_sha256 == sha


def test_export_into_workspace_and_tail_holdout(tmp_path: Path, fitted, data) -> None:
    ws = Workspace(tmp_path)
    info = export(ws, fitted, data, holdout=None, holdout_rows=50, metrics={"roc_auc": 0.9})
    assert ws.versions() == ["v1.0"] and info.path == ws.package_path("v1.0")
    loaded = load_package(info.path)
    pd.testing.assert_frame_equal(
        loaded.holdout, data.iloc[350:400][FEATURES].reset_index(drop=True), check_dtype=False
    )
    assert loaded.metadata["metrics"] == {"roc_auc": 0.9}


def test_shallow_validation_unpickles_nothing(pkg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unpickled during a shallow validation")

    monkeypatch.setattr(package_validate.joblib, "load", refuse)
    report = validate_package(pkg, deep=False)
    assert report.valid and not report.unpickled


# --------------------------------------------------------------------------- versioning

versions = st.builds(
    format_version,
    st.integers(1, 50),
    st.integers(0, 50),
    st.integers(0, 50),
)


@given(versions, st.sampled_from(["major", "minor", "patch"]))
def test_next_version_is_greater_and_well_formed(previous: str, bump: Any) -> None:
    new = next_version(previous, bump)
    old, parsed = parse_version(previous), parse_version(new)
    assert old is not None and parsed is not None
    assert parsed > old
    assert format_version(*parsed) == new


@given(versions)
def test_next_version_components(previous: str) -> None:
    major, minor, patch = parse_version(previous) or (0, 0, 0)
    assert parse_version(next_version(previous, "major")) == (major + 1, 0, 0)
    assert parse_version(next_version(previous, "minor")) == (major, minor + 1, 0)
    assert parse_version(next_version(previous, "patch")) == (major, minor, patch + 1)
    # major > minor > patch > previous
    ordered = [next_version(previous, b) for b in ("patch", "minor", "major")]
    assert sorted(ordered, key=lambda v: parse_version(v) or ()) == ordered


@given(st.lists(st.sampled_from(["major", "minor", "patch"]), max_size=30))
def test_version_sequence_is_strictly_increasing(bumps: list[Any]) -> None:
    current = next_version(None, "initial")
    assert current == "v1.0"
    for bump in bumps:
        new = next_version(current, bump)
        assert (parse_version(new) or ()) > (parse_version(current) or ())
        current = new


def test_next_version_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        next_version("v1.0", "initial")
    with pytest.raises(ValueError):
        next_version(None, "minor")
    with pytest.raises(ValueError):
        next_version("1.0", "minor")


hexes = st.text("0123456789abcdef", min_size=4, max_size=4)


@given(hexes, hexes, hexes, hexes, hexes, hexes)
def test_decide_bump(s1: str, m1: str, c1: str, s2: str, m2: str, c2: str) -> None:
    prev = {"schema_sha256": s1, "model_sha256": m1, "scaler_sha256": c1}
    got = decide_bump(prev, s2, m2, c2)
    if s1 != s2:
        assert got == "major"
    elif (m1, c1) != (m2, c2):
        assert got == "minor"
    else:
        assert got == "patch"
    assert decide_bump(None, s2, m2, c2) == "initial"


def test_bumps_from_real_exports(tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    models = tmp_path / "models"
    assert export(models, fitted, data).bump == "initial"
    # same model and scaler, a description fix: patch
    info = export(models, fitted, data, description="typo fixed")
    assert (info.version, info.bump, info.previous) == ("v1.0.1", "patch", "v1.0")
    # same objects, training rows with other min/max: the schema hash ignores ranges → patch
    info = export(models, fitted, data, train=data.iloc[:300])
    assert (info.version, info.bump) == ("v1.0.2", "patch")
    # retrain on the same features: minor
    info = export(models, fit(data.iloc[:400], c=0.1), data)
    assert (info.version, info.bump, info.previous) == ("v1.1", "minor", "v1.0.2")
    # a feature removed: major
    three = ["amount", "age", "region"]
    info = export(models, fit(data, three), data, features=three)
    assert (info.version, info.bump) == ("v2.0", "major")
    # a new category: major
    wider = make_frame(seed=1, regions=("north", "south", "east", "west"))
    info = export(models, fit(wider, three), wider, features=three, train=wider, holdout=None)
    assert (info.version, info.bump) == ("v3.0", "major")
    ws = Workspace(tmp_path)
    assert ws.versions() == ["v1.0", "v1.0.1", "v1.0.2", "v1.1", "v2.0", "v3.0"]
    for version in ws.versions():
        assert validate_package(ws.package_path(version)).valid


def test_schema_diff(tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    models = tmp_path / "models"
    a = export(models, fitted, data).path
    three = ["amount", "age", "region"]
    wider = make_frame(seed=1, regions=("north", "south", "west"))
    b = export(models, fit(wider, three), wider, features=three, train=wider, holdout=None).path
    sa = json.loads((a / "feature_schema.json").read_text())
    sb = json.loads((b / "feature_schema.json").read_text())
    diff = schema_diff(sa, sb)
    assert diff.added == [] and diff.removed == ["channel"]
    assert diff.changed == [
        ("region", "categories", ["east", "north", "south"], ["north", "south", "west"])
    ]
    assert schema_diff(sa, sa).same


def test_concurrent_exports_get_distinct_versions(tmp_path: Path, data: pd.DataFrame) -> None:
    models = tmp_path / "models"
    export(models, fit(data.iloc[:400]), data)
    results: list[PackageInfo] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run(c: float) -> None:
        try:
            barrier.wait()
            results.append(export(models, fit(data.iloc[:400], c=c), data))
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (0.1, 0.2, 0.3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.version for r in results) == ["v1.1", "v1.2", "v1.3"]
    assert not [p for p in models.iterdir() if p.name.startswith(".tmp-")]


# --------------------------------------------------------------------------- atomicity


class ExplodingModel(LogisticRegression):
    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError("boom")


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.is_dir())


def test_failed_export_leaves_nothing(tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    models = tmp_path / "models"
    scaler = fitted[1]
    bad = ExplodingModel().fit(scaler.transform(data[FEATURES]), data["target"])
    with pytest.raises(PackageError, match="boom"):
        export(models, (bad, scaler), data)
    assert leftovers(models) == []
    assert Workspace(tmp_path).versions() == []


def test_failure_while_committing_leaves_nothing(
    tmp_path: Path, fitted, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    export(models, fitted, data)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(package_export, "render_model_card", broken)
    with pytest.raises(PackageError, match="disk full"):
        export(models, fitted, data)
    assert leftovers(models) == ["v1.0"]


def test_never_overwrites(
    tmp_path: Path, fitted, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    first = export(models, fitted, data)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    monkeypatch.setattr(package_export, "next_version", lambda previous, bump: "v1.0")
    with pytest.raises(PackageError, match="never overwritten"):
        export(models, fit(data, c=0.5), data)
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert leftovers(models) == ["v1.0"]


def test_unreadable_previous_blocks_export(tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    models = tmp_path / "models"
    (models / "v1.0").mkdir(parents=True)
    with pytest.raises(PackageError, match=r"model_metadata\.json"):
        export(models, fitted, data)
    assert leftovers(models) == ["v1.0"]


def test_bad_inputs_are_input_errors(tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="nope"):
        export(tmp_path / "models", fitted, data, features=["amount", "nope"])
    with pytest.raises(InputError, match="target"):
        export(tmp_path / "models", fitted, data, features=[*FEATURES, "target"])


# --------------------------------------------------------------------------- tampering


class Evil:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_replaced_pickle_is_refused_without_unpickling(pkg: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    joblib.dump(Evil(marker), pkg / "model.pkl")
    report = validate_package(pkg)
    assert not report.valid and not report.unpickled
    assert {f.file for f in report.errors} == {"model.pkl"}
    assert report.errors[0].code in ("hash_mismatch", "size_mismatch")
    with pytest.raises(IntegrityError, match=r"model\.pkl"):
        load_package(pkg)
    checks = {c.name: c for c in artifact_checks(pkg)}
    assert checks["manifest verified (hashes)"].status is Status.FAIL
    assert "model.pkl" in checks["manifest verified (hashes)"].message
    assert checks["schema matches model"].status is Status.FAIL
    assert "not loaded" in checks["schema matches model"].message
    assert not marker.exists()


def test_pickle_and_manifest_rewritten_still_refused(pkg: Path, tmp_path: Path) -> None:
    """The manifest is updated to match the evil pickle, the metadata is not."""
    marker = tmp_path / "marker"
    joblib.dump(Evil(marker), pkg / "model.pkl")
    raw = json.loads((pkg / "MANIFEST.json").read_text())
    raw["files"]["model.pkl"] = {
        "sha256": sha256_file(pkg / "model.pkl"),
        "size": (pkg / "model.pkl").stat().st_size,
    }
    (pkg / "MANIFEST.json").write_text(json.dumps(raw))
    report = validate_package(pkg)
    assert not report.valid and not report.unpickled
    assert ("hash_mismatch", "model_metadata.json") in {(f.code, f.file) for f in report.errors}
    with pytest.raises(PackageError, match="model_sha256"):
        load_package(pkg)
    artifact_checks(pkg)
    assert not marker.exists()


def test_manifest_hash_edited(pkg: Path) -> None:
    raw = json.loads((pkg / "MANIFEST.json").read_text())
    raw["files"]["scaler.pkl"]["sha256"] = "0" * 64
    (pkg / "MANIFEST.json").write_text(json.dumps(raw))
    assert ("hash_mismatch", "scaler.pkl") in codes(pkg)
    with pytest.raises(IntegrityError, match=r"scaler\.pkl"):
        load_package(pkg)


def test_malformed_manifest(pkg: Path) -> None:
    (pkg / "MANIFEST.json").write_text("{not json")
    report = validate_package(pkg)
    assert report.sha256 is None
    assert ("bad_manifest", "MANIFEST.json") in {(f.code, f.file) for f in report.errors}
    with pytest.raises(PackageError, match=r"MANIFEST\.json"):
        load_package(pkg)
    with pytest.raises(PackageError):
        manifest.read_json_file(pkg, "MANIFEST.json")


def test_manifest_with_path_outside_package(pkg: Path) -> None:
    raw = json.loads((pkg / "MANIFEST.json").read_text())
    raw["files"]["../escape"] = {"sha256": "0" * 64, "size": 1}
    (pkg / "MANIFEST.json").write_text(json.dumps(raw))
    assert ("bad_manifest", "MANIFEST.json") in codes(pkg)


def test_missing_manifest(pkg: Path) -> None:
    (pkg / "MANIFEST.json").unlink()
    assert ("missing_file", "MANIFEST.json") in codes(pkg)
    with pytest.raises(PackageError, match=r"MANIFEST\.json"):
        load_package(pkg)
    with pytest.raises(PackageError, match=r"MANIFEST\.json"):
        package_sha256(pkg)


def test_package_hash_or_none(pkg: Path) -> None:
    assert manifest.package_sha256_or_none(pkg) == package_sha256(pkg)
    assert manifest.package_sha256_or_none(pkg.parent / "v9.9") is None
    (pkg / "MANIFEST.json").unlink()
    assert manifest.package_sha256_or_none(pkg) is None


def test_truncated_file(pkg: Path) -> None:
    data = (pkg / "holdout.parquet").read_bytes()
    (pkg / "holdout.parquet").write_bytes(data[:-20])
    assert ("size_mismatch", "holdout.parquet") in codes(pkg)
    with pytest.raises(IntegrityError, match=r"holdout\.parquet"):
        load_package(pkg)


def test_swapped_files(pkg: Path) -> None:
    model, scaler = (pkg / "model.pkl").read_bytes(), (pkg / "scaler.pkl").read_bytes()
    (pkg / "model.pkl").write_bytes(scaler)
    (pkg / "scaler.pkl").write_bytes(model)
    found = {f.file for f in validate_package(pkg).errors}
    assert {"model.pkl", "scaler.pkl"} <= found
    with pytest.raises(IntegrityError, match=r"model\.pkl|scaler\.pkl"):
        load_package(pkg)


def test_deleted_file(pkg: Path) -> None:
    (pkg / "README.md").unlink()
    assert ("missing_file", "README.md") in codes(pkg)
    with pytest.raises(PackageError, match=r"README\.md"):
        load_package(pkg)
    checks = {c.name: c for c in artifact_checks(pkg)}
    assert checks["required files present"].status is Status.FAIL
    assert "README.md" in checks["required files present"].message
    assert checks["model card complete"].status is Status.FAIL


@pytest.mark.parametrize("name", ["feature_schema.json", "model_metadata.json"])
def test_malformed_json(pkg: Path, name: str) -> None:
    (pkg / name).write_text('{"format": 1, "features": [')
    report = validate_package(pkg)
    assert ("bad_json", name) in {(f.code, f.file) for f in report.errors}
    message = next(f.message for f in report.errors if f.code == "bad_json")
    assert name in message and "line 1" in message
    assert not report.unpickled
    with pytest.raises(PackageError, match=re.escape(name)):
        load_package(pkg)


def test_folder_names(pkg: Path) -> None:
    other = pkg.parent / "v1.5"
    shutil.copytree(pkg, other)
    assert {
        ("version_mismatch", "MANIFEST.json"),
        ("version_mismatch", "model_metadata.json"),
    } <= codes(other)
    odd = pkg.parent / "latest"
    shutil.copytree(pkg, odd)
    assert ("bad_version_name", "latest") in codes(odd, deep=False)
    checks = {c.name: c for c in artifact_checks(odd)}
    assert checks["versioned package name"].status is Status.FAIL


def test_unexpected_file_is_a_warning(pkg: Path) -> None:
    (pkg / "notes.txt").write_text("hello")
    report = validate_package(pkg)
    assert report.valid
    assert [(f.code, f.severity, f.file) for f in report.findings] == [
        ("unexpected_file", "warning", "notes.txt")
    ]


def test_shap_report_missing_feature_fails_check(pkg: Path) -> None:
    path = pkg / "explainability_report.json"
    report = json.loads(path.read_text())
    del report["global_importance"]["channel"]
    path.write_text(json.dumps(report))
    assert ("missing_shap_features", "explainability_report.json") in codes(pkg, deep=False)
    checks = {c.name: c for c in artifact_checks(pkg)}
    assert "channel" in checks["SHAP report covers every feature"].message


def test_workspace_versions_ignore_temp_folders(pkg: Path) -> None:
    (pkg.parent / ".tmp-0123").mkdir()
    assert Workspace(pkg.parent.parent).versions() == ["v1.0"]


# --------------------------------------------------------------------------- request rows


@pytest.fixture(scope="module")
def loaded(master: Path):
    return load_package(master)


def good_row() -> dict[str, Any]:
    return {"amount": 12.5, "age": 40, "region": "north", "channel": "web"}


@pytest.mark.parametrize(
    ("change", "location", "expected"),
    [
        ({"amount": "12"}, "rows[3].amount", "a number"),
        ({"amount": True}, "rows[3].amount", "a number"),
        ({"amount": float("inf")}, "rows[3].amount", "a number"),
        ({"amount": None}, "rows[3].amount", "a number"),
        ({"age": 40.5}, "rows[3].age", "an integer"),
        ({"region": 3}, "rows[3].region", "a string"),
        ({"extra": 1}, "rows[3].extra", "one of amount, age, region, channel"),
    ],
)
def test_validate_rows_errors(loaded, change: dict[str, Any], location: str, expected: str) -> None:
    rows = [good_row() for _ in range(5)]
    rows[3].update(change)
    with pytest.raises(InputError) as info:
        loaded.validate_rows(rows)
    assert info.value.location == location
    assert info.value.expected == expected


def test_validate_rows_missing_and_shape(loaded) -> None:
    rows = [good_row() for _ in range(2)]
    del rows[1]["channel"]
    with pytest.raises(InputError) as info:
        loaded.validate_rows(rows)
    assert info.value.location == "rows[1].channel" and "missing" in info.value.message
    with pytest.raises(InputError, match="rows"):
        loaded.validate_rows({"amount": 1})
    with pytest.raises(InputError, match=r"rows\[0\]"):
        loaded.validate_rows([["amount", 1]])


def test_validate_rows_unknown_category_is_served(loaded) -> None:
    row = good_row()
    row["region"] = "atlantis"
    frame = loaded.validate_rows([row, good_row()])
    assert list(frame.columns) == FEATURES
    predictions = loaded.predict(frame)
    assert predictions.dtype == np.float64 and np.all((predictions > 0) & (predictions < 1))


def test_rows_nullable_feature() -> None:
    schema = {
        "features": [
            {"name": "x", "kind": "numeric", "dtype": "float", "nullable": True},
            {"name": "c", "kind": "categorical", "dtype": "string", "nullable": True},
        ]
    }
    frame = rows_to_frame(schema, [{"x": None, "c": None}, {"x": 1, "c": "a"}])
    assert frame["x"].isna().tolist() == [True, False]
    assert frame["c"].isna().tolist() == [True, False]


# --------------------------------------------------------------------------- whole pipelines


def test_export_accepts_a_whole_fitted_pipeline(tmp_path: Path, fitted, data) -> None:
    """The last step is the model, the steps before it the scaler (documented)."""
    from sklearn.pipeline import Pipeline, make_pipeline

    model, scaler = fitted
    pipe = Pipeline([("prep", scaler), ("clf", model)])
    info = export(tmp_path / "models", (pipe, None), data)
    assert validate_package(info.path).valid
    loaded = load_package(info.path)
    assert loaded.model is not pipe and type(loaded.model) is LogisticRegression
    assert type(loaded.scaler) is ColumnTransformer
    rows = data.iloc[400:][FEATURES]
    assert np.array_equal(loaded.predict(rows), pipe.predict_proba(rows)[:, 1])
    meta = json.loads((info.path / "model_metadata.json").read_text())
    assert meta["model_class"].endswith("LogisticRegression")
    # several preprocessing steps: the scaler is the pipeline without its last step
    numeric = data.iloc[:400][["amount", "age"]]
    three = make_pipeline(StandardScaler(), StandardScaler(), LogisticRegression())
    three.fit(numeric, data.iloc[:400]["target"])
    info = export(tmp_path / "models", (three, None), data, features=["amount", "age"])
    loaded = load_package(info.path)
    assert type(loaded.scaler) is Pipeline and len(loaded.scaler.steps) == 2
    assert np.array_equal(loaded.predict(numeric), three.predict_proba(numeric)[:, 1])


def test_a_model_that_is_the_whole_serving_function_gets_the_identity(
        tmp_path: Path, fitted, data: pd.DataFrame) -> None:
    """``as_served`` (a registered model: the whole serving function): a bare classifier
    is given the identity as its scaler, never the default preprocessor; the package
    predicts exactly what the model predicts on the raw rows. A Pipeline is split."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from deployready.package.pipeline import as_served

    numeric = ["amount", "age"]
    bare = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    bare.fit(data.iloc[:400][numeric], data.iloc[:400]["target"])
    model, scaler = as_served(bare, data.iloc[:400], numeric)
    assert model is bare and type(scaler) is FunctionTransformer
    assert list(scaler.feature_names_in_) == numeric
    with warnings.catch_warnings():  # the explainer hands the model its named columns
        warnings.filterwarnings("error", message="X does not have valid feature names")
        info = export(tmp_path / "models", (model, scaler), data, features=numeric)
    assert validate_package(info.path).valid
    rows = data.iloc[400:][numeric]
    assert np.array_equal(load_package(info.path).predict(rows), bare.predict_proba(rows)[:, 1])
    fitted_model, fitted_scaler = fitted
    pipe = Pipeline([("prep", fitted_scaler), ("clf", fitted_model)])
    assert as_served(pipe, data, FEATURES) == (fitted_model, fitted_scaler)


def test_export_refuses_what_it_cannot_package_and_says_what_to_pass(
    tmp_path: Path, fitted, data: pd.DataFrame
) -> None:
    from sklearn.pipeline import Pipeline

    model, scaler = fitted
    models = tmp_path / "models"
    pipe = Pipeline([("prep", scaler), ("clf", model)])
    with pytest.raises(InputError, match="a scaler as well") as info:
        export(models, (pipe, scaler), data)
    assert "whole Pipeline" in (info.value.expected or "")
    no_clf = Pipeline([("prep", scaler), ("scale", StandardScaler())])
    with pytest.raises(InputError, match="last step 'scale' is not a classifier"):
        export(models, (no_clf, None), data)
    with pytest.raises(InputError, match="no scaler") as info:
        export(models, (model, None), data)
    assert "whole fitted Pipeline" in (info.value.expected or "")
    # a scaler fitted on the numbers only cannot take the text columns
    numbers = StandardScaler().fit(data[["amount", "age"]])
    with pytest.raises(InputError) as info:
        export(models, (model, numbers), data)
    assert info.value.location == "scaler" and "cannot transform" in info.value.message
    assert "region, channel" in (info.value.expected or "")
    # a model fitted on another width cannot predict from the scaler's output
    narrow = LogisticRegression().fit(np.zeros((4, 2)) + np.arange(4)[:, None], [0, 1, 0, 1])
    with pytest.raises(InputError) as info:
        export(models, (narrow, scaler), data)
    assert info.value.location == "model" and "cannot predict" in info.value.message
    assert not models.exists() or leftovers(models) == []


def test_cli_export_takes_a_pipeline_without_scaler(tmp_path: Path, fitted, data) -> None:
    from sklearn.pipeline import Pipeline

    from deployready.cli import main

    model, scaler = fitted
    joblib.dump(Pipeline([("prep", scaler), ("clf", model)]), tmp_path / "pipe.joblib")
    data.iloc[:400][[*FEATURES, "target"]].to_csv(tmp_path / "train.csv", index=False)
    ws = tmp_path / "ws"
    code = main(["export", "-w", str(ws), "--model", str(tmp_path / "pipe.joblib"),
                 "--train", str(tmp_path / "train.csv"), "--target", "target"])
    assert code == 0 and Workspace(ws).versions() == ["v1.0"]
    assert validate_package(Workspace(ws).package_path("v1.0")).valid


# --------------------------------------------------------------------------- regular files only


def _within(seconds: float, call: Any) -> Any:
    """``call()``, failing the test instead of hanging (a pipe blocks a plain read)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked reading the package"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _link_inside(pkg: Path) -> str:
    """README.md becomes a link to the same bytes kept under another name in the package."""
    (pkg / "README.md").rename(pkg / ".card.md")
    (pkg / "README.md").symlink_to(".card.md")
    return "README.md"


def _link_to_other_package(pkg: Path) -> str:
    other = pkg.parent / "v0.9"
    shutil.copytree(pkg, other)
    (pkg / "holdout.parquet").unlink()
    (pkg / "holdout.parquet").symlink_to(other / "holdout.parquet")
    return "holdout.parquet"


def _link_outside(pkg: Path) -> str:
    outside = pkg.parent.parent / "elsewhere"
    outside.mkdir()
    shutil.copy(pkg / "model.pkl", outside / "model.pkl")
    (pkg / "model.pkl").unlink()
    (pkg / "model.pkl").symlink_to(outside / "model.pkl")
    return "model.pkl"


def _link_manifest(pkg: Path) -> str:
    shutil.copy(pkg / "MANIFEST.json", pkg.parent / "MANIFEST.json")
    (pkg / "MANIFEST.json").unlink()
    (pkg / "MANIFEST.json").symlink_to(pkg.parent / "MANIFEST.json")
    return "MANIFEST.json"


def _fifo(pkg: Path) -> str:
    (pkg / "README.md").unlink()
    os.mkfifo(pkg / "README.md")
    return "README.md"


def _fifo_json(pkg: Path) -> str:
    (pkg / "reference_profile.json").unlink()
    os.mkfifo(pkg / "reference_profile.json")
    return "reference_profile.json"


def _folder_for_file(pkg: Path) -> str:
    (pkg / "holdout_expected.json").unlink()
    (pkg / "holdout_expected.json").mkdir()
    return "holdout_expected.json"


def _extra_folder(pkg: Path) -> str:
    (pkg / "extra").mkdir()
    (pkg / "extra" / "notes.txt").write_text("hi")
    return "extra"


def _extra_link(pkg: Path) -> str:
    (pkg / "notes.json").symlink_to("model_metadata.json")
    return "notes.json"


NOT_REGULAR = {
    "link-inside": (_link_inside, "a symbolic link to .card.md"),
    "link-other-package": (_link_to_other_package, "a symbolic link to "),
    "link-outside": (_link_outside, "a symbolic link to "),
    "link-manifest": (_link_manifest, "a symbolic link to "),
    "fifo": (_fifo, "not a regular file (a named pipe)"),
    "fifo-json": (_fifo_json, "not a regular file (a named pipe)"),
    "folder-for-file": (_folder_for_file, "a folder"),
    "extra-folder": (_extra_folder, "a folder"),
    "extra-link": (_extra_link, "a symbolic link to model_metadata.json"),
}


@pytest.mark.parametrize("case", sorted(NOT_REGULAR))
def test_a_package_holds_regular_files_only(pkg: Path, case: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make, kind = NOT_REGULAR[case]
    name = make(pkg)
    for deep in (False, True):
        report = _within(10, lambda d=deep: validate_package(pkg, deep=d))
        assert not report.valid and report.unpickled is False
        found = [f for f in report.errors if f.code == "not_regular_file"]
        assert [f.file for f in found] == [name], report.findings
        assert kind in found[0].message and "regular files only" in found[0].message
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(PackageError) as info:
        _within(10, lambda: load_package(pkg))
    assert name in str(info.value) and "regular files only" in str(info.value)
    checks = {c.name: c for c in _within(10, lambda: artifact_checks(pkg))}
    assert checks["manifest verified (hashes)"].status is Status.FAIL
    assert name in checks["manifest verified (hashes)"].message
