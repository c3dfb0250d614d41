"""Validating a package without trusting it: every file hashed against the manifest,
the JSON files parsed and cross-checked, and (``deep``, only when nothing failed before)
the pickles loaded from the verified bytes and checked against the schema and the
holdout's expected predictions. Each problem is a :class:`Finding` of the
:class:`ValidationReport` (:mod:`deployready.package.findings`); the files are checked
against the manifest by :mod:`deployready.package.integrity`.
"""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from deployready.errors import PackageError
from deployready.memo import FileMemo
from deployready.package.calibration import check_calibration
from deployready.package.findings import Finding, Severity, ValidationReport
from deployready.package.integrity import check_files
from deployready.package.manifest import (
    EXPECTED_FILE,
    HOLDOUT_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PICKLE_FILES,
    PROFILE_FILE,
    SCALER_FILE,
    SCHEMA_FILE,
    SHAP_FILE,
    Manifest,
    is_regular_file,
    parquet_frame,
    read_json_file,
    read_regular,
    read_verified,
)
from deployready.package.predict import predict_frame, schema_model_problems
from deployready.package.schema import schema_features, schema_sha256
from deployready.workspace import parse_version

__all__ = [
    "HOLDOUT_TOLERANCE",
    "REPORTS",
    "Finding",
    "Severity",
    "ValidationReport",
    "validate_package",
]

#: Largest difference between a holdout prediction and holdout_expected.json.
HOLDOUT_TOLERANCE = 1e-6


def _read_jsons(path: Path, report: ValidationReport) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in (SCHEMA_FILE, METADATA_FILE, SHAP_FILE, PROFILE_FILE, EXPECTED_FILE):
        if not is_regular_file(path / name):
            continue
        try:
            out[name] = read_json_file(path, name)
        except PackageError as exc:
            where = f" at {exc.location}" if exc.location else ""
            report.add("bad_json", name, f"{name}: {exc.message}{where}")
    return out


def _check_schema(schema: dict[str, Any], report: ValidationReport) -> list[str] | None:
    features = schema.get("features")
    if not isinstance(features, list) or not features:
        report.add("bad_json", SCHEMA_FILE, "feature_schema.json has no 'features' list")
        return None
    for i, entry in enumerate(features):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or entry.get("kind") not in ("numeric", "categorical")
        ):
            report.add(
                "bad_json",
                SCHEMA_FILE,
                f"feature_schema.json features[{i}] needs a 'name' and a kind "
                "'numeric' or 'categorical'",
            )
            return None
    names = schema_features(schema)
    if len(set(names)) != len(names):
        report.add("bad_json", SCHEMA_FILE, "feature_schema.json has duplicate feature names")
        return None
    return names


def _check_metadata(
    meta: dict[str, Any],
    schema: dict[str, Any] | None,
    manifest: Manifest | None,
    report: ValidationReport,
) -> None:
    if meta.get("version") != report.version:
        report.add(
            "version_mismatch",
            METADATA_FILE,
            f"model_metadata.json says version {meta.get('version')!r}, "
            f"the folder is {report.version!r}",
        )
    if schema is not None and meta.get("schema_sha256") != schema_sha256(schema):
        report.add(
            "hash_mismatch",
            METADATA_FILE,
            "schema_sha256 in model_metadata.json does not match feature_schema.json",
        )
    if manifest is not None:
        for key, name in (("model_sha256", MODEL_FILE), ("scaler_sha256", SCALER_FILE)):
            entry = manifest.files.get(name)
            if entry is not None and meta.get(key) != entry.sha256:
                report.add(
                    "hash_mismatch",
                    METADATA_FILE,
                    f"{key} in model_metadata.json does not match {name} in the manifest",
                )
    listed = meta.get("features")
    if (
        schema is not None
        and isinstance(listed, list)
        and [str(f) for f in listed] != schema_features(schema)
    ):
        report.add(
            "schema_model_mismatch",
            METADATA_FILE,
            "the features in model_metadata.json differ from feature_schema.json",
        )


def _read_holdout(
    path: Path, features: list[str], expected: dict[str, Any] | None, report: ValidationReport
) -> tuple[pd.DataFrame, np.ndarray] | None:
    if not is_regular_file(path / HOLDOUT_FILE) or expected is None:
        return None
    try:
        frame = parquet_frame(read_regular(path / HOLDOUT_FILE))
    except Exception as exc:  # pyarrow raises several types for a bad file
        report.add("bad_holdout", HOLDOUT_FILE, f"holdout.parquet is not readable Parquet: {exc}")
        return None
    if list(frame.columns) != features:
        report.add(
            "bad_holdout",
            HOLDOUT_FILE,
            "holdout.parquet columns differ from the schema features (names or order)",
        )
        return None
    preds = expected.get("predictions")
    if not isinstance(preds, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) for p in preds
    ):
        report.add(
            "bad_holdout",
            EXPECTED_FILE,
            "holdout_expected.json needs 'predictions': a list of numbers",
        )
        return None
    values = np.asarray(preds, dtype=np.float64)
    if len(values) != len(frame):
        report.add(
            "bad_holdout",
            EXPECTED_FILE,
            f"{len(values)} expected predictions for {len(frame)} holdout rows",
        )
        return None
    if not np.all(np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        report.add(
            "bad_holdout", EXPECTED_FILE, "expected predictions must be probabilities in [0, 1]"
        )
        return None
    return frame, values


#: Reports by the package folder as it is (:func:`_folder_state`) and the depth: a package
#: none of whose files moved since it was validated in this process is not hashed, nor
#: unpickled, again. Each caller gets its own copy.
REPORTS: FileMemo[ValidationReport] = FileMemo(64)


def _folder_state(path: Path) -> Hashable | None:
    """Every entry under ``path`` (and the folder itself): kind, size, modification and
    change time, inode — a write, a replaced file, a rename or a permission change moves
    one. None (not remembered) when there is a symbolic link: what it points to can
    change without a stat of it moving."""
    entries: list[tuple[str, int, int, int, int, int, int]] = []
    try:
        for folder, dirs, files in os.walk(path):
            for name in [".", *dirs, *files]:
                full = os.path.join(folder, name)
                st = os.lstat(full)
                if os.path.islink(full):
                    return None
                entries.append((full, st.st_mode, st.st_dev, st.st_ino, st.st_size,
                                st.st_mtime_ns, st.st_ctime_ns))
    except OSError:
        return None
    return tuple(sorted(entries)) if entries else None


def validate_package(path: str | Path, deep: bool = True) -> ValidationReport:
    """Check a package without trusting it.

    Hashes every file against the manifest first. With ``deep`` (the default) and only
    when every pickle verified, loads the pickles from the verified bytes and checks the
    schema against the scaler and model and the holdout predictions. ``deep=False``
    unpickles nothing. A package unchanged since this process validated it is answered
    from that validation (:data:`REPORTS`).
    """
    path = Path(path)
    state = _folder_state(path)
    key = (str(path.resolve()), deep, state)
    found = REPORTS.get(key) if state is not None else None
    if found is None:
        found = _validate(path, deep)
        if state is not None and _folder_state(path) == state:  # unchanged while read
            REPORTS.put(key, copy.deepcopy(found))
        return found
    return copy.deepcopy(found)


def _validate(path: Path, deep: bool) -> ValidationReport:
    report = ValidationReport(path=path, version=path.name, sha256=None)
    if parse_version(path.name) is None:
        report.add(
            "bad_version_name",
            path.name,
            f"folder name {path.name!r} is not a version (expected vMAJOR.MINOR[.PATCH])",
        )
    if not path.is_dir():
        report.add("missing_file", path.name, f"{path} is not a package folder")
        return report
    manifest = check_files(path, report)
    check_calibration(path, manifest, report)
    jsons = _read_jsons(path, report)
    schema = jsons.get(SCHEMA_FILE)
    features = _check_schema(schema, report) if schema is not None else None
    if METADATA_FILE in jsons:
        _check_metadata(jsons[METADATA_FILE], schema if features else None, manifest, report)
    if features is not None and SHAP_FILE in jsons:
        _check_shap(features, jsons[SHAP_FILE], report)
    holdout = _read_holdout(path, features, jsons.get(EXPECTED_FILE), report) if features else None
    # Unpickle only a package with no error so far: every pickle matched the manifest,
    # and the metadata agrees with the manifest and the schema.
    all_pickles_verified = manifest is not None and all(p in report.verified for p in PICKLE_FILES)
    trusted = all_pickles_verified and report.valid
    if deep and features is not None and trusted and manifest is not None:
        _check_deep(path, manifest, features, holdout, report)
    return report


def _check_shap(features: list[str], shap: dict[str, Any], report: ValidationReport) -> None:
    importance = shap.get("global_importance")
    covered = set(importance) if isinstance(importance, dict) else set()
    missing = [f for f in features if f not in covered]
    if missing:
        report.add(
            "missing_shap_features",
            SHAP_FILE,
            f"no SHAP importance for {len(missing)} feature(s): {', '.join(missing)}",
        )


def _check_deep(
    path: Path,
    manifest: Manifest,
    features: list[str],
    holdout: tuple[pd.DataFrame, np.ndarray] | None,
    report: ValidationReport,
) -> None:
    """Load the pickles from the verified bytes; check them against the schema and the
    holdout's expected predictions."""
    try:
        model = joblib.load(io.BytesIO(read_verified(path, manifest, MODEL_FILE)))
        scaler = joblib.load(io.BytesIO(read_verified(path, manifest, SCALER_FILE)))
    except PackageError as exc:
        report.add("hash_mismatch", Path(exc.source or "").name, exc.message)
        return
    except Exception as exc:  # unpickling can fail in any way
        report.add("unloadable", MODEL_FILE, f"cannot load the pickles: {exc}")
        return
    report.unpickled = True
    problems = schema_model_problems(features, scaler, model, holdout[0] if holdout else None)
    for problem in problems:
        report.add("schema_model_mismatch", SCALER_FILE, problem)
    if holdout is None or problems:
        return
    try:
        got = predict_frame(model, scaler, features, holdout[0])
        worst = float(np.max(np.abs(got - holdout[1]))) if len(got) else 0.0
    except Exception as exc:  # a failing model is a finding, not a crash
        report.add("bad_holdout", HOLDOUT_FILE, f"predicting the holdout failed: {exc}")
        return
    if worst > HOLDOUT_TOLERANCE:
        report.add(
            "bad_holdout",
            EXPECTED_FILE,
            f"holdout predictions differ from holdout_expected.json by up to "
            f"{worst:.3g} (> {HOLDOUT_TOLERANCE:g}): different library versions?",
        )
