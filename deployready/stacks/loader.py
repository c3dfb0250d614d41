"""A deployready package, loadable where deployready is not installed.

This file is copied byte for byte into every export (``deployready package-export``) as
``deployready_loader.py``, beside a copy of the package's own files. It needs only the
standard library, numpy, pandas, scikit-learn and joblib — what an MLflow, MLServer or
BentoML environment serving a scikit-learn model already has — and imports nothing from
deployready.

It does what the package's own serving path does, in the same order:

1. every file listed in ``MANIFEST.json`` is read and checked against its SHA-256 and
   size; nothing is unpickled unless every file matched (``PackageMismatch`` names the
   file otherwise);
2. the model and the scaler are unpickled from the very bytes that were hashed;
3. a batch of rows becomes a frame in schema order with the serving dtypes (an integer
   feature without nulls as int64, any other number as float64, text and booleans as
   objects with NaN for null);
4. the prediction is ``model.predict_proba(scaler.transform(frame[features]))[:, 1]``:
   the positive-class probability as float64, one per row.

The equality with deployready's own path (request rows -> frame -> prediction) is a test
of the project (tests/test_stacks_export.py), bit for bit on the holdout rows and on
random rows.

Entry points for the serving stacks, each over :class:`PackageModel`:

- MLflow pyfunc (``loader_module``): ``_load_pyfunc(data_path)``;
- MLServer: the custom runtime ``deployready_loader.MLServerModel`` (built on first use,
  so that this file imports without MLServer);
- BentoML: ``service.py`` of the export imports :class:`PackageModel`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

MANIFEST_FILE = "MANIFEST.json"
MODEL_FILE = "model.pkl"
SCALER_FILE = "scaler.pkl"
SCHEMA_FILE = "feature_schema.json"
METADATA_FILE = "model_metadata.json"


class PackageMismatch(Exception):
    """A package file is missing or does not match ``MANIFEST.json``; names the file."""


def _read_verified(folder: Path) -> tuple[str, dict[str, bytes]]:
    """(package hash, name -> bytes) of every manifest file, each checked."""
    manifest_bytes = (folder / MANIFEST_FILE).read_bytes()
    try:
        entries = json.loads(manifest_bytes)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageMismatch(f"{folder / MANIFEST_FILE}: not a package manifest ({exc})") from exc
    files: dict[str, bytes] = {}
    for name, entry in sorted(entries.items()):
        path = folder / name
        if os.path.islink(path) or not path.is_file():
            raise PackageMismatch(f"{path}: missing or not a regular file")
        data = path.read_bytes()
        if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get(
            "sha256"
        ):
            raise PackageMismatch(f"{path}: does not match {MANIFEST_FILE} (sha256/size)")
        files[name] = data
    for name in (MODEL_FILE, SCALER_FILE, SCHEMA_FILE, METADATA_FILE):
        if name not in files:
            raise PackageMismatch(f"{folder / MANIFEST_FILE}: does not list {name}")
    return hashlib.sha256(manifest_bytes).hexdigest(), files


def schema_frame(schema: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s schema features, in schema order, with the serving dtypes.

    ValueError naming the feature when a column is missing or not convertible."""
    data: dict[str, Any] = {}
    for spec in schema["features"]:
        name = str(spec["name"])
        if name not in frame.columns:
            raise ValueError(f"missing feature column {name!r}")
        column = frame[name]
        if spec["kind"] == "numeric":
            try:
                values = pd.to_numeric(column, errors="raise").to_numpy(
                    dtype=np.float64, na_value=np.nan)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"feature {name!r}: expected numbers ({exc})") from exc
            if spec.get("dtype") == "int" and not np.isnan(values).any():
                data[name] = values.astype(np.int64)
            else:
                data[name] = values
        else:
            objects = column.astype(object)
            data[name] = pd.Series(
                [np.nan if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                 else v for v in objects.tolist()], dtype=object)
    return pd.DataFrame(data, columns=[str(s["name"]) for s in schema["features"]])


class PackageModel:
    """A verified package: ``predict(frame)`` as the package predicts."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.sha256, files = _read_verified(self.folder)
        self.schema: dict[str, Any] = json.loads(files[SCHEMA_FILE])
        self.metadata: dict[str, Any] = json.loads(files[METADATA_FILE])
        self.features = [str(f["name"]) for f in self.schema["features"]]
        self.model = joblib.load(io.BytesIO(files[MODEL_FILE]))
        self.scaler = joblib.load(io.BytesIO(files[SCALER_FILE]))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Float64 positive-class probabilities, one per row of ``frame``."""
        rows = schema_frame(self.schema, frame)
        proba = np.asarray(self.model.predict_proba(self.scaler.transform(rows[self.features])),
                           dtype=np.float64)
        return np.ascontiguousarray(proba[:, 1])

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.predict(pd.DataFrame.from_records(records, columns=self.features))


# --------------------------------------------------------------------------- MLflow


class _PyFunc:
    def __init__(self, package: PackageModel) -> None:
        self.package = package

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
            model_input)
        return self.package.predict(frame)


def _load_pyfunc(data_path: str) -> _PyFunc:
    """MLflow's ``loader_module`` entry point: ``data_path`` is the package folder."""
    return _PyFunc(PackageModel(data_path))


# --------------------------------------------------------------------------- MLServer


def _mlserver_runtime() -> type:
    from mlserver import MLModel
    from mlserver.codecs import NumpyCodec, PandasCodec
    from mlserver.types import InferenceRequest, InferenceResponse
    from mlserver.utils import get_model_uri

    class MLServerModel(MLModel):  # type: ignore[misc]
        """MLServer runtime over the package at ``parameters.uri``; refuses to load when
        ``parameters.extra.package_sha256`` is not the package's hash."""

        async def load(self) -> bool:
            self.package = PackageModel(await get_model_uri(self.settings))
            extra = (self.settings.parameters.extra or {}) if self.settings.parameters else {}
            want = extra.get("package_sha256")
            if want and want != self.package.sha256:
                raise PackageMismatch(
                    f"package hash {self.package.sha256} is not {want} (model-settings.json)")
            return True

        async def predict(self, payload: InferenceRequest) -> InferenceResponse:
            frame = self.decode_request(payload, default_codec=PandasCodec)
            proba = self.package.predict(frame)
            return InferenceResponse(
                model_name=self.name, model_version=self.version,
                outputs=[NumpyCodec.encode_output(name="predict_proba", payload=proba)])

    return MLServerModel


def __getattr__(name: str) -> Any:
    if name == "MLServerModel":
        runtime = _mlserver_runtime()
        globals()[name] = runtime
        return runtime
    raise AttributeError(name)
