"""The package carries its labelled holdout (calibration.parquet) and its training cut-off."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from deployready.errors import PackageError
from deployready.package.calibration import CALIBRATION_FILE, read_calibration
from deployready.package.load import load_package
from deployready.package.manifest import build_manifest, read_manifest, sha256_file
from deployready.package.validate import validate_package
from tests.test_artifacts import FEATURES, export, fit, make_frame


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_frame(700, seed=3)


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> tuple[Any, Any]:
    return fit(data.iloc[:400])


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory, fitted: Any, data: pd.DataFrame) -> Path:
    models = tmp_path_factory.mktemp("cal") / "models"
    # 300 labelled holdout rows, 50 of them sampled into holdout.parquet
    return export(models, fitted, data, holdout=data.iloc[400:], holdout_rows=50).path


def test_export_stores_every_labelled_holdout_row(master: Path, data: pd.DataFrame) -> None:
    manifest = read_manifest(master)
    assert CALIBRATION_FILE in manifest.files
    assert manifest.files[CALIBRATION_FILE].sha256 == sha256_file(master / CALIBRATION_FILE)
    cal = read_calibration(master)
    assert cal is not None and list(cal.columns) == ["score", "label"]
    assert len(cal) == 300  # all of them, not the 50 of holdout.parquet
    package = load_package(master)
    assert len(package.holdout) == 50
    holdout = data.iloc[400:]
    np.testing.assert_array_equal(cal["label"].to_numpy(), holdout["target"].to_numpy())
    np.testing.assert_allclose(cal["score"].to_numpy(), package.predict(holdout[FEATURES]))
    assert 0.5 < roc_auc_score(cal["label"], cal["score"]) <= 1.0
    report = validate_package(master)
    assert report.valid and report.findings == [], report.findings


def test_export_records_the_training_cutoff(master: Path) -> None:
    meta = json.loads((master / "model_metadata.json").read_text())
    assert meta["training_data"]["cutoff"] == "2025-01-01T00:00:00+00:00"  # no date column


def test_unlabelled_holdout_gives_no_calibration(
    tmp_path: Path, fitted: Any, data: pd.DataFrame
) -> None:
    path = export(tmp_path / "models", fitted, data, holdout=data.iloc[400:][FEATURES]).path
    assert not (path / CALIBRATION_FILE).exists()
    assert read_calibration(path) is None
    assert validate_package(path).valid


def _rewrite(pkg: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    (pkg / CALIBRATION_FILE).write_bytes(buffer.getvalue())
    manifest = json.loads((pkg / "MANIFEST.json").read_text())
    (pkg / "MANIFEST.json").write_bytes(build_manifest(pkg, pkg.name, manifest["created_at"]))


@pytest.mark.parametrize(
    ("frame", "said"),
    [
        (pd.DataFrame({"score": [0.2, 0.7], "label": [0, 2]}), "0 or 1"),
        (pd.DataFrame({"score": [0.2, 1.7], "label": [0, 1]}), "probability"),
        (pd.DataFrame({"p": [0.2, 0.7], "label": [0, 1]}), "columns"),
        (pd.DataFrame({"score": [], "label": []}), "no rows"),
    ],
)
def test_bad_calibration_file_is_named(
    master: Path, tmp_path: Path, frame: pd.DataFrame, said: str
) -> None:
    pkg = tmp_path / "v1.0"
    shutil.copytree(master, pkg)
    _rewrite(pkg, frame)
    found = [f for f in validate_package(pkg).findings if f.code == "bad_calibration"]
    assert found and found[0].file == CALIBRATION_FILE and said in found[0].message
    with pytest.raises(PackageError, match=said) as info:
        read_calibration(pkg)
    assert str(info.value.source).endswith(CALIBRATION_FILE)


def test_unlisted_calibration_file_is_an_error(master: Path, tmp_path: Path) -> None:
    pkg = tmp_path / "v1.0"
    shutil.copytree(master, pkg)
    manifest = json.loads((pkg / "MANIFEST.json").read_text())
    del manifest["files"][CALIBRATION_FILE]
    (pkg / "MANIFEST.json").write_text(json.dumps(manifest))
    report = validate_package(pkg, deep=False)
    assert ("bad_calibration", CALIBRATION_FILE) in {(f.code, f.file) for f in report.findings}
    assert read_calibration(pkg) is None  # the manifest does not list it: not used


def test_demo_packages_carry_their_labelled_holdout(demo_master: Path) -> None:
    from deployready.performance.estimated import fit_calibrator
    from deployready.policy.sections import PerformancePolicy
    from deployready.workspace import Workspace

    ws = Workspace.open(demo_master)
    assert ws.versions()
    for version in ws.versions():
        path = ws.package_path(version)
        cal = read_calibration(path)
        assert cal is not None and len(cal) > len(load_package(path).holdout), version
        assert validate_package(path, deep=False).valid, version
        calibrator = fit_calibrator(cal, PerformancePolicy())
        assert calibrator.error is not None, (version, calibrator.reason)
