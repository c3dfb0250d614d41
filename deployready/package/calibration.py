"""``calibration.parquet``: the labelled holdout of a package, as (score, label) pairs.

An optional package file, written by the export when the holdout it was given carries
the target: every labelled holdout row (not only the sampled rows of
``holdout.parquet``), as the model's probability of class 1 (``score``, float64 in
[0, 1]) and the true class (``label``, 0 or 1). Estimated performance calibrates the
model's scores on it. Like every package file it is listed and hashed in
``MANIFEST.json``; a package without it loads as before (no estimate: "no labelled
holdout in the package").

Validation (:func:`check_calibration`, one call of
:func:`~deployready.package.validate.validate_package`) recognises the file as a package
file and refuses, as ``bad_calibration`` errors: a file not listed in the manifest, one
that is not readable Parquet, columns other than ``score``, ``label``, no rows, a score
that is not a finite probability, a label other than 0 or 1.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from deployready.errors import PackageError
from deployready.package.manifest import (
    MANIFEST_FILE,
    Manifest,
    parquet_frame,
    parse_manifest,
    read_regular,
    read_verified,
)


class Report(Protocol):
    """What :func:`check_calibration` needs of a validation report."""

    findings: list[Any]  # each with .code and .file
    verified: list[str]

    def add(self, code: str, file: str, message: str) -> None: ...

CALIBRATION_FILE = "calibration.parquet"
COLUMNS = ["score", "label"]


def calibration_bytes(scores: np.ndarray, labels: pd.Series) -> bytes | None:
    """The file's bytes for a holdout's scores and target values, or None when the
    holdout has no usable labels: rows whose target is missing are left out, and a
    target that is not 0/1 (or has a single class) gives no file."""
    y = pd.to_numeric(labels.reset_index(drop=True), errors="coerce").to_numpy(np.float64)
    p = np.asarray(scores, dtype=np.float64)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    if y.size == 0 or not np.isin(y, (0.0, 1.0)).all() or np.unique(y).size != 2:
        return None
    frame = pd.DataFrame({"score": p, "label": y.astype(np.int8)})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def calibration_problem(data: bytes) -> str | None:
    """What is wrong with the bytes of a calibration file, or None."""
    try:
        frame = parquet_frame(data)
    except Exception as exc:  # pyarrow raises several types for a bad file
        return f"not readable Parquet: {exc}"
    if list(frame.columns) != COLUMNS:
        return f"columns {list(frame.columns)}, expected {COLUMNS}"
    if len(frame) == 0:
        return "no rows"
    try:
        score = frame["score"].to_numpy(dtype=np.float64)
        label = frame["label"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return "score and label must be numbers"
    if not np.all(np.isfinite(score)) or np.any((score < 0) | (score > 1)):
        return "every score must be a probability in [0, 1]"
    if not np.isin(label, (0.0, 1.0)).all():
        return "every label must be 0 or 1"
    return None


def check_calibration(path: Path, manifest: Manifest | None, report: Report) -> None:
    """Validate ``calibration.parquet`` when the package has one (see the module doc)."""
    file = path / CALIBRATION_FILE
    listed = manifest is not None and CALIBRATION_FILE in manifest.files
    if not listed and not file.exists():
        return
    # a known package file: not the generic "not a package file" warning
    report.findings[:] = [
        f for f in report.findings if not (f.code == "unexpected_file" and f.file == file.name)
    ]
    if manifest is not None and not listed:
        report.add("bad_calibration", file.name, f"{file.name} is not listed in MANIFEST.json")
        return
    if file.name not in report.verified:
        return  # missing or not matching the manifest: reported by the file checks
    problem = calibration_problem(read_regular(file))
    if problem is not None:
        report.add("bad_calibration", file.name, f"{file.name}: {problem}")


def read_calibration(path: str | Path) -> pd.DataFrame | None:
    """The package's labelled holdout (``score``, ``label``), read from bytes verified
    against the manifest; None when the package has none. A PackageError naming the
    file when it does not match the manifest or is not a valid calibration file."""
    path = Path(path)
    manifest = parse_manifest(read_regular(path / MANIFEST_FILE), path / MANIFEST_FILE)
    if CALIBRATION_FILE not in manifest.files:
        return None
    data = read_verified(path, manifest, CALIBRATION_FILE)
    problem = calibration_problem(data)
    if problem is not None:
        raise PackageError(
            problem, source=path / CALIBRATION_FILE, expected="score in [0, 1] and label 0/1"
        )
    frame = parquet_frame(data)
    return pd.DataFrame(
        {"score": frame["score"].astype(np.float64), "label": frame["label"].astype(np.int64)}
    )
