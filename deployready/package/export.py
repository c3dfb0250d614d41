"""Exporting a package: a new, immutable ``models/vMAJOR.MINOR[.PATCH]/`` folder built in a
staging folder, versioned under the export lock and renamed into place.

See :mod:`deployready.package.manifest` for the file list and
:mod:`deployready.package.versioning` for how versions are derived.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from deployready.errors import DeployReadyError, PackageError
from deployready.package.calibration import CALIBRATION_FILE, calibration_bytes
from deployready.package.card import render_model_card
from deployready.package.explain import explain_model
from deployready.package.facts import auto_metrics, libraries, period
from deployready.package.inputs import check_fits, checked_model
from deployready.package.manifest import (
    CARD_FILE,
    EXPECTED_FILE,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    SCALER_FILE,
    SCHEMA_FILE,
    SHAP_FILE,
    build_manifest,
    dumps_json,
    fsync_dir,
    parquet_frame,
    read_manifest,
    read_metadata,
    read_verified,
    sha256_bytes,
    sha256_file,
    write_file,
)
from deployready.package.predict import predict_frame
from deployready.package.profile import fit_profile
from deployready.package.schema import build_schema, schema_sha256
from deployready.package.staging import claim_tmp, export_lock
from deployready.package.versioning import BUMP_REASONS, Bump, decide_bump, next_version
from deployready.workspace import Workspace, parse_version

PROFILE_MAX_ROWS = 100_000


@dataclass(frozen=True)
class PackageInfo:
    path: Path
    version: str
    sha256: str
    bump: Bump
    previous: str | None


def _models_dir(target: Workspace | str | Path) -> Path:
    return target.models_dir if isinstance(target, Workspace) else Path(target)


def _existing_versions(models_dir: Path) -> list[str]:
    found = [
        (parsed, p.name)
        for p in models_dir.iterdir()
        if p.is_dir() and (parsed := parse_version(p.name)) is not None
    ]
    return [name for _, name in sorted(found)]


def _joblib_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _same_behaviour(previous: Path, model: Any, scaler: Any, features: list[str]) -> bool:
    """Whether ``model`` + ``scaler`` predict exactly what ``previous`` recorded.

    Pickle bytes are not a reliable identity (a fitted transformer may pickle
    differently after a load in another process), so "the model did not change" is
    decided by behaviour: identical predictions on the previous package's own verified
    holdout rows. A retrain never reproduces them to the last bit; a re-export does.
    """
    try:
        manifest = read_manifest(previous)
        rows = parquet_frame(read_verified(previous, manifest, HOLDOUT_FILE))
        recorded = json.loads(read_verified(previous, manifest, EXPECTED_FILE))["predictions"]
        now = predict_frame(model, scaler, features, rows[features])
    except (DeployReadyError, KeyError, ValueError, TypeError):
        return False
    expected = np.asarray(recorded, dtype=np.float64)
    return now.shape == expected.shape and bool(np.array_equal(now, expected))


def export_package(
    target: Workspace | str | Path,
    *,
    model: Any,
    scaler: Any = None,
    train: pd.DataFrame,
    features: list[str],
    target_column: str,
    holdout: pd.DataFrame | None = None,
    run_id: str = "",
    metrics: dict[str, float] | None = None,
    model_card: dict[str, Any] | None = None,
    description: str = "",
    shap_max_rows: int = 500,
    shap_time_budget_s: float = 20.0,
    holdout_rows: int = 200,
    profile_bins: int = 10,
    created_at: str | None = None,
    mlflow: dict[str, str] | None = None,
) -> PackageInfo:
    """Write a new, immutable package version under ``models/`` and return it.

    ``model`` is the fitted classifier and ``scaler`` the fitted preprocessing in front of
    it — or ``model`` is the whole fitted scikit-learn ``Pipeline`` and ``scaler`` None:
    it is split by :func:`~deployready.package.pipeline.split_pipeline` (last step =
    model.pkl, the steps before = scaler.pkl). A scaler that cannot transform the training features,
    or a model that cannot predict from its output, is an InputError saying which.

    Builds everything in ``models/.tmp-<uuid>``, then (holding the export lock) derives
    the version from the highest existing package, writes the metadata, the model card
    and the manifest, and renames the folder into place. An existing version is never
    overwritten; on any failure the temporary folder is removed, and the temporary
    folders of exports that were killed are removed by the next export.

    ``mlflow``: the link back to an MLflow registered model version (``run_id``,
    ``model_uri``, ``name``, ``version``, ``alias``), kept as the metadata's ``mlflow``.
    """
    features = [str(f) for f in features]
    model, scaler = checked_model(model, scaler, train, features, target_column, holdout)
    request = _Request(
        model=model,
        scaler=scaler,
        train=train,
        features=features,
        target=target_column,
        holdout=holdout,
        run_id=run_id,
        metrics=metrics,
        card=model_card,
        description=description,
        shap_max_rows=shap_max_rows,
        shap_time_budget_s=shap_time_budget_s,
        holdout_rows=holdout_rows,
        profile_bins=profile_bins,
        created=created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        mlflow=dict(mlflow) if mlflow else None,
    )
    return _export_staged(_models_dir(target), request)


@dataclass(frozen=True)
class _Request:
    """The arguments of one export, checked."""

    model: Any
    scaler: Any
    train: pd.DataFrame
    features: list[str]
    target: str
    holdout: pd.DataFrame | None
    run_id: str
    metrics: dict[str, float] | None
    card: dict[str, Any] | None
    description: str
    shap_max_rows: int
    shap_time_budget_s: float
    holdout_rows: int
    profile_bins: int
    created: str
    mlflow: dict[str, str] | None = None



def _export_staged(models_dir: Path, request: _Request) -> PackageInfo:
    """Build the package in a staging folder of ``models_dir``, removed on any failure."""
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp, tmp_fd = claim_tmp(models_dir)
    try:
        return _build(tmp, models_dir, request)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, DeployReadyError) or not isinstance(exc, Exception):
            raise
        raise PackageError(
            f"export failed, nothing was written: {type(exc).__name__}: {exc}", source=models_dir
        ) from exc
    finally:
        if tmp_fd is not None:
            os.close(tmp_fd)


@dataclass(frozen=True)
class _Served:
    """The model and the scaler as they will be served: unpickled from the package bytes."""

    model: Any
    scaler: Any
    model_sha256: str
    scaler_sha256: str

    def predict(self, features: list[str], rows: pd.DataFrame) -> np.ndarray:
        return predict_frame(self.model, self.scaler, features, rows)


def _build(tmp: Path, models_dir: Path, req: _Request) -> PackageInfo:
    check_fits(req.model, req.scaler, req.train[req.features])
    schema = build_schema(req.train, req.features, req.target)
    write_file(tmp / SCHEMA_FILE, dumps_json(schema))
    served = _write_pickles(tmp, req.model, req.scaler)
    rng = np.random.default_rng(0)
    _write_profile(tmp, req, served, rng)
    source = _write_holdout(tmp, req, served, rng)
    _write_calibration(tmp, req, served)
    report = explain_model(
        served.model,
        served.scaler,
        req.train[req.features],
        features=req.features,
        max_rows=req.shap_max_rows,
        time_budget_s=req.shap_time_budget_s,
    )
    write_file(tmp / SHAP_FILE, dumps_json(report))
    metrics = req.metrics
    if metrics is None:
        labelled = req.holdout is not None and req.target in req.holdout.columns
        full = served.predict(req.features, source) if labelled else None
        metrics = auto_metrics(source if req.holdout is not None else None, req.target, full)
    return _place(tmp, models_dir, req, served, schema_sha256(schema), metrics, report)


def _write_pickles(tmp: Path, model: Any, scaler: Any) -> _Served:
    model_bytes, scaler_bytes = _joblib_bytes(model), _joblib_bytes(scaler)
    write_file(tmp / MODEL_FILE, model_bytes)
    write_file(tmp / SCALER_FILE, scaler_bytes)
    return _Served(
        model=joblib.load(io.BytesIO(model_bytes)),
        scaler=joblib.load(io.BytesIO(scaler_bytes)),
        model_sha256=sha256_bytes(model_bytes),
        scaler_sha256=sha256_bytes(scaler_bytes),
    )


def _write_profile(tmp: Path, req: _Request, served: _Served, rng: np.random.Generator) -> None:
    """The drift reference profile, predictions on (at most PROFILE_MAX_ROWS) training rows."""
    train = req.train
    profile_rows = (
        train
        if len(train) <= PROFILE_MAX_ROWS
        else train.iloc[np.sort(rng.choice(len(train), PROFILE_MAX_ROWS, replace=False))]
    )
    train_pred = served.predict(req.features, profile_rows)
    if not np.all(np.isfinite(train_pred)):
        raise PackageError(
            "the model predicts non-finite probabilities on the training rows",
            location="model",
            expected="finite probabilities",
        )
    profile = fit_profile(train[req.features], predictions=train_pred, bins=req.profile_bins)
    write_file(tmp / PROFILE_FILE, dumps_json(profile))


def _write_holdout(
    tmp: Path, req: _Request, served: _Served, rng: np.random.Generator
) -> pd.DataFrame:
    """The holdout rows and their expected predictions; returns the rows they came from."""
    source = req.holdout if req.holdout is not None else req.train.tail(req.holdout_rows)
    if len(source) > req.holdout_rows:
        source = source.iloc[np.sort(rng.choice(len(source), req.holdout_rows, replace=False))]
    holdout_frame = source[req.features].reset_index(drop=True)
    buffer = io.BytesIO()
    holdout_frame.to_parquet(buffer, index=False)
    write_file(tmp / HOLDOUT_FILE, buffer.getvalue())
    served_holdout = parquet_frame(buffer.getvalue())
    expected = served.predict(req.features, served_holdout)
    write_file(tmp / EXPECTED_FILE, dumps_json({"predictions": expected.tolist()}))
    return source


def _write_calibration(tmp: Path, req: _Request, served: _Served) -> None:
    """Every labelled holdout row as (score, label): what estimated performance
    calibrates on. No file when the holdout carries no 0/1 target."""
    if req.holdout is None or req.target not in req.holdout.columns or len(req.holdout) == 0:
        return
    scores = served.predict(req.features, req.holdout[req.features])
    data = calibration_bytes(scores, req.holdout[req.target])
    if data is not None:
        write_file(tmp / CALIBRATION_FILE, data)


def _place(
    tmp: Path,
    models_dir: Path,
    req: _Request,
    served: _Served,
    schema_sha: str,
    metrics: dict[str, float],
    report: dict[str, Any],
) -> PackageInfo:
    """Under the export lock: derive the version, write the metadata, the model card and
    the manifest, and rename the staging folder into place."""
    with export_lock(models_dir):
        existing = _existing_versions(models_dir)
        previous = existing[-1] if existing else None
        prev_meta = read_metadata(models_dir / previous) if previous else None
        bump = decide_bump(prev_meta, schema_sha, served.model_sha256, served.scaler_sha256)
        if (
            bump == "minor"
            and previous is not None
            and _same_behaviour(models_dir / previous, served.model, served.scaler, req.features)
        ):
            bump = "patch"
        version = next_version(previous, bump)
        final = models_dir / version
        clash = [v for v in existing if parse_version(v) == parse_version(version)]
        if final.exists() or clash:
            raise PackageError(
                "version already exists; packages are never overwritten",
                source=final,
                expected="a new version",
            )
        metadata = _metadata(req, served, version, previous, bump, schema_sha, metrics)
        write_file(tmp / METADATA_FILE, dumps_json(metadata))
        files = {
            n: {"sha256": sha256_file(tmp / n), "size": (tmp / n).stat().st_size}
            for n in sorted(p.name for p in tmp.iterdir())
        }
        readme = render_model_card(metadata, report, files, req.card, BUMP_REASONS[bump])
        write_file(tmp / CARD_FILE, readme.encode("utf-8"))
        manifest_bytes = build_manifest(tmp, version, req.created)
        write_file(tmp / MANIFEST_FILE, manifest_bytes)
        fsync_dir(tmp)
        os.rename(tmp, final)
        fsync_dir(models_dir)
    return PackageInfo(final, version, sha256_bytes(manifest_bytes), bump, previous)


def _metadata(
    req: _Request,
    served: _Served,
    version: str,
    previous: str | None,
    bump: Bump,
    schema_sha: str,
    metrics: dict[str, float],
) -> dict[str, Any]:
    """``metadata.json`` of the new version."""
    model, scaler, train = req.model, req.scaler, req.train
    data_hash = pd.util.hash_pandas_object(
        train[[*req.features, req.target]], index=False
    ).to_numpy()
    return {
        "format": 1,
        "version": version,
        "created_at": req.created,
        "run_id": req.run_id,
        "description": req.description,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "scaler_class": f"{type(scaler).__module__}.{type(scaler).__qualname__}",
        "libraries": libraries(),
        "features": req.features,
        "target": req.target,
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
        "training_data": {
            "rows": len(train),
            "sha256": sha256_bytes(data_hash.tobytes()),
            "hash": "pandas.util.hash_pandas_object(index=False), SHA-256",
            "period": period(train),
            # the newest training data: labels after it are new data to retrain on
            "cutoff": period(train).get("end") or req.created,
        },
        "schema_sha256": schema_sha,
        "model_sha256": served.model_sha256,
        "scaler_sha256": served.scaler_sha256,
        "previous": previous,
        "bump": bump,
        "bump_reason": BUMP_REASONS[bump],
        "model_card": req.card or {},
        **({"mlflow": req.mlflow} if req.mlflow else {}),
    }
