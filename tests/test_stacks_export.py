"""``deployready package-export``: a verified package written for MLflow, MLServer and
BentoML over its certified bytes, and the standalone loader predicting exactly as the
package does."""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.cli import main
from deployready.errors import InputError, PackageError
from deployready.package.load import load_package
from deployready.package.rows import rows_to_frame
from deployready.stacks import loader
from deployready.stacks.export import FORMATS, LOADER_FILE, export_to_stack
from deployready.workspace import Workspace


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported(demo_master: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    version = Workspace.open(demo_master).versions()[-1]
    return {fmt: export_to_stack(demo_master, version, fmt, root / fmt).path for fmt in FORMATS}


@pytest.fixture(scope="module")
def newest(demo_master: Path) -> Path:
    ws = Workspace.open(demo_master)
    return ws.models_dir / ws.versions()[-1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_carries_the_certified_bytes_unchanged(
    fmt: str, exported: dict[str, Path], newest: Path
) -> None:
    copy = exported[fmt] / "package"
    manifest = json.loads((newest / "MANIFEST.json").read_bytes())
    assert sorted(p.name for p in copy.iterdir()) == sorted(["MANIFEST.json",
                                                              *manifest["files"]])
    for name in ["MANIFEST.json", *manifest["files"]]:
        assert _sha(copy / name) == _sha(newest / name), name
    assert (exported[fmt] / (("code/" if fmt == "mlflow" else "") + LOADER_FILE)).read_bytes() \
        == Path(loader.__file__).read_bytes()


def test_the_package_hash_is_in_each_target_metadata(exported: dict[str, Path],
                                                     newest: Path) -> None:
    sha = _sha(newest / "MANIFEST.json")
    run_id = json.loads((newest / "model_metadata.json").read_bytes())["run_id"]
    mlmodel = (exported["mlflow"] / "MLmodel").read_text()
    assert f'deployready_package_sha256: "{sha}"' in mlmodel
    assert f'deployready_version: "{newest.name}"' in mlmodel
    assert f'deployready_run_id: "{run_id}"' in mlmodel
    assert '\\"name\\": \\"amount\\"' in mlmodel and "loader_module" in mlmodel
    settings_ = json.loads((exported["mlserver"] / "model-settings.json").read_bytes())
    assert settings_["implementation"] == "deployready_loader.MLServerModel"
    assert settings_["parameters"]["extra"]["package_sha256"] == sha
    assert settings_["parameters"]["version"] == newest.name
    assert repr(sha) in (exported["bentoml"] / "service.py").read_text()


def test_loader_predicts_exactly_as_the_package(exported: dict[str, Path], newest: Path) -> None:
    package = load_package(newest)
    model = loader.PackageModel(exported["mlserver"] / "package")
    rows = package.request_rows()
    ours = package.predict(package.validate_rows(rows))
    theirs = model.predict_records(rows)
    assert theirs.dtype == np.float64
    assert np.array_equal(ours, theirs)
    assert np.array_equal(theirs, package.expected)
    assert model.sha256 == package.sha256


def _row_strategy(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in schema["features"]:
        if spec["kind"] == "numeric":
            low, high = spec.get("min") or 0.0, spec.get("max") or 1.0
            value: st.SearchStrategy[Any] = st.floats(low - 10, high + 10, allow_nan=False)
            if spec.get("dtype") == "int":
                value = st.integers(int(low) - 10, int(high) + 10)
        else:
            value = st.sampled_from([*spec.get("categories", []), "unseen", ""])
        fields[spec["name"]] = st.one_of(st.none(), value) if spec.get("nullable") else value
    return st.fixed_dictionaries(fields)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_loader_frames_and_predictions_equal_the_serving_path(
    data: st.DataObject, exported: dict[str, Path]
) -> None:
    model = loader.PackageModel(exported["mlflow"] / "package")
    rows = data.draw(st.lists(_row_strategy(model.schema), min_size=1, max_size=20))
    served = rows_to_frame(model.schema, rows)
    mine = loader.schema_frame(model.schema, pd.DataFrame.from_records(rows))
    pd.testing.assert_frame_equal(mine, served)
    expected = model.model.predict_proba(model.scaler.transform(served))[:, 1]
    assert np.array_equal(model.predict_records(rows), expected)


def test_loader_names_and_hash_are_the_manifest_modules(exported: dict[str, Path],
                                                        newest: Path) -> None:
    from deployready.package import manifest

    for name in ("MANIFEST_FILE", "MODEL_FILE", "SCALER_FILE", "SCHEMA_FILE", "METADATA_FILE"):
        assert getattr(loader, name) == getattr(manifest, name)
    assert loader.PackageModel(exported["mlflow"] / "package").sha256 == \
        manifest.read_manifest(newest).sha256


def test_loader_refuses_a_changed_file_before_unpickling(exported: dict[str, Path],
                                                         tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "package"
    shutil.copytree(exported["bentoml"] / "package", copy)
    (copy / "scaler.pkl").write_bytes((copy / "scaler.pkl").read_bytes() + b"\0")
    with pytest.raises(loader.PackageMismatch, match=r"scaler\.pkl"):
        loader.PackageModel(copy)
    (copy / "scaler.pkl").unlink()
    with pytest.raises(loader.PackageMismatch, match=r"scaler\.pkl"):
        loader.PackageModel(copy)


def test_loader_needs_only_numpy_pandas_sklearn_joblib() -> None:
    tree = ast.parse(Path(loader.__file__).read_text())
    top: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy", "pandas", "joblib", "sklearn",
                                               "mlserver"}
    assert top <= allowed, top - allowed
    # MLServer is imported only inside the runtime factory, never at import time
    outer = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "mlserver" not in outer


def test_unverified_package_is_not_exported(demo_ws: Path, tmp_path: Path) -> None:
    ws = Workspace.open(demo_ws)
    version = ws.versions()[-1]
    model = ws.models_dir / version / "model.pkl"
    model.write_bytes(model.read_bytes()[:-1])
    exports = tmp_path / "exports"
    exports.mkdir()
    with pytest.raises(PackageError, match=r"model\.pkl"):
        export_to_stack(ws, version, "mlflow", exports / "out")
    assert not list(exports.iterdir())  # nothing half-written, no staging folder left


def test_existing_out_and_unknown_format_are_refused(demo_master: Path, tmp_path: Path) -> None:
    version = Workspace.open(demo_master).versions()[-1]
    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match="already exists"):
        export_to_stack(demo_master, version, "mlserver", tmp_path / "taken")
    with pytest.raises(InputError, match="--format"):
        export_to_stack(demo_master, version, "onnx", tmp_path / "x")
    with pytest.raises(PackageError, match=r"no package v9\.9"):
        export_to_stack(demo_master, "v9.9", "mlserver", tmp_path / "y")


def test_cli_package_export(demo_master: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    version = Workspace.open(demo_master).versions()[-1]
    out = tmp_path / "mlserver"
    code = main(["package-export", version, "--format", "mlserver", "--out", str(out),
                 "-w", str(demo_master), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["package_sha256"] == _sha(out / "package" / "MANIFEST.json")
    assert main(["package-export", version, "--format", "mlserver", "--out", str(out),
                 "-w", str(demo_master)]) == 2
    assert str(out) in capsys.readouterr().err
