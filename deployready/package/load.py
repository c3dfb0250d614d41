"""Loading a package safely: verify every file against ``MANIFEST.json``, then unpickle
from the verified bytes.

Pickles are only ever unpickled from bytes that were read into memory and matched
against the manifest first, and only when *every* pickle of the package verified.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from deployready.errors import InputError, IntegrityError, PackageError
from deployready.package.manifest import (
    EXPECTED_FILE,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    SCALER_FILE,
    SCHEMA_FILE,
    parquet_frame,
    parse_manifest,
    read_json_file,
    read_regular,
    read_verified,
)
from deployready.package.predict import predict_frame, schema_model_problems
from deployready.package.preprocess import Preprocessor, compile_preprocessor
from deployready.package.rows import rows_to_frame
from deployready.package.schema import schema_features
from deployready.package.signing import SIGNATURE_FILE
from deployready.package.validate import ValidationReport, validate_package
from deployready.policy import SigningPolicy


@dataclass
class LoadedPackage:
    path: Path
    version: str
    sha256: str
    model: Any
    scaler: Any
    schema: dict[str, Any]
    metadata: dict[str, Any]
    profile: dict[str, Any]
    holdout: pd.DataFrame
    expected: np.ndarray
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Float64 probabilities of the positive class, one per row of ``frame``."""
        return predict_frame(self.model, self.scaler, self.features, frame)

    def validate_rows(self, records: Any) -> pd.DataFrame:
        """Check request rows against the schema; InputError naming ``rows[i].field``."""
        return rows_to_frame(self.schema, records)

    def request_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The holdout rows as JSON-ready request rows (missing values as null)."""
        frame = self.holdout if limit is None else self.holdout.head(limit)
        return [{k: _json_value(v) for k, v in rec.items()} for rec in frame.to_dict("records")]

    def serving_predictor(self) -> tuple[Callable[[pd.DataFrame], np.ndarray], Preprocessor]:
        """``predict`` with the preprocessing compiled when it verifies against the holdout
        rows as the server sees them (``deployready.package.preprocess``), else exactly
        ``predict``."""
        try:
            sample = self.validate_rows(self.request_rows(256))
        except InputError:  # a holdout that does not fit its own schema: verify nothing
            sample = self.holdout.iloc[:0]
        pre = compile_preprocessor(self.scaler, self.features, sample)
        if pre.kind != "compiled":
            return self.predict, pre
        return partial(predict_frame, self.model, self.scaler, self.features,
                       transform=pre.transform), pre


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- loading


_INTEGRITY_CODES = ("hash_mismatch", "size_mismatch")


def load_package(path: str | Path, signing: SigningPolicy | None = None,
                 root: str | Path | None = None) -> LoadedPackage:
    """Verify the manifest (and, given the policy's ``signing``, the signature against its
    trusted keys, relative to the workspace ``root``), then load the package from the
    verified bytes.

    IntegrityError (naming the file) when a file does not match the manifest or the
    signature the policy needs does not verify; PackageError for a missing file, malformed
    JSON or a schema that does not fit the model. Nothing is unpickled unless every file
    verified.
    """
    path = Path(path)
    if signing is not None:
        _refuse_unsigned(path, signing, root)
    report = validate_package(path, deep=False)
    _refuse_unverified(path, report)
    manifest = parse_manifest(read_regular(path / MANIFEST_FILE), path / MANIFEST_FILE)
    if manifest.sha256 != report.sha256:
        raise IntegrityError("MANIFEST.json changed while loading", source=path / MANIFEST_FILE)
    model_bytes = read_verified(path, manifest, MODEL_FILE)
    scaler_bytes = read_verified(path, manifest, SCALER_FILE)
    jsons = {
        name: read_json_file(path, name)
        for name in (SCHEMA_FILE, METADATA_FILE, PROFILE_FILE, EXPECTED_FILE)
    }
    for name in jsons:
        read_verified(path, manifest, name)  # the JSON we use is the JSON that was hashed
    holdout_bytes = read_verified(path, manifest, HOLDOUT_FILE)
    holdout = parquet_frame(holdout_bytes)
    model, scaler = _unpickle(path, model_bytes, scaler_bytes)
    schema = jsons[SCHEMA_FILE]
    features = schema_features(schema)
    problems = schema_model_problems(features, scaler, model, holdout)
    if problems:
        raise PackageError(
            "; ".join(problems),
            source=path / SCALER_FILE,
            expected="a scaler and model fitted on the schema's features",
        )
    return LoadedPackage(
        path=path,
        version=path.name,
        sha256=manifest.sha256,
        model=model,
        scaler=scaler,
        schema=schema,
        metadata=jsons[METADATA_FILE],
        profile=jsons[PROFILE_FILE],
        holdout=holdout,
        expected=np.asarray(jsons[EXPECTED_FILE]["predictions"], dtype=np.float64),
        features=features,
    )


def _refuse_unsigned(path: Path, signing: SigningPolicy, root: str | Path | None) -> None:
    from deployready.package.checks import package_signature, signature_counts

    signature = package_signature(path, signing, root)
    if signature_counts(signature, signing) and not signature.verified:
        raise IntegrityError(f"not signed by a trusted key: {signature.message}",
                             source=path / SIGNATURE_FILE,
                             expected="a signature by a key in [signing] trusted_keys")


def _refuse_unverified(path: Path, report: ValidationReport) -> None:
    """Raise for the first error of ``report`` (an integrity error first), if any."""
    errors = report.errors
    if not errors:
        return
    first = next((f for f in errors if f.code in _INTEGRITY_CODES), errors[0])
    cls = IntegrityError if first.code in _INTEGRITY_CODES else PackageError
    more = f" (+{len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise cls(
        f"{first.message}; refused, nothing was unpickled{more}",
        source=path / first.file,
        location=first.code,
    )


def _unpickle(path: Path, model_bytes: bytes, scaler_bytes: bytes) -> tuple[Any, Any]:
    """The model and the scaler from their verified bytes."""
    try:
        model = joblib.load(io.BytesIO(model_bytes))
        scaler = joblib.load(io.BytesIO(scaler_bytes))
    except Exception as exc:  # unpickling can fail in any way
        raise PackageError(
            f"cannot load the pickles: {exc}",
            source=path / MODEL_FILE,
            expected="joblib files loadable with the installed libraries",
        ) from exc
    return model, scaler
