"""Model packages: validate, load (safely), export, and the artifact checks.

A package is a folder ``models/vMAJOR.MINOR[.PATCH]/`` (see :mod:`deployready.package.manifest`
for the file list and :mod:`deployready.package.versioning` for how versions are derived).

Safety: pickles are only ever unpickled from bytes that were read into memory and
matched against ``MANIFEST.json`` first, and only when *every* pickle of the package
verified. ``validate_package(path, deep=False)`` never unpickles anything.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from deployready.checks import Category, Check, Evidence, Status
from deployready.errors import DeployReadyError, InputError, IntegrityError, PackageError
from deployready.package.explain import explain_model, render_model_card
from deployready.package.manifest import (
    CARD_FILE,
    EXPECTED_FILE,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    REQUIRED_FILES,
    SCALER_FILE,
    SCHEMA_FILE,
    SHAP_FILE,
    Finding,
    ValidationReport,
    build_manifest,
    dumps_json,
    fsync_dir,
    is_regular_file,
    package_sha256,
    parse_manifest,
    read_json_file,
    read_manifest,
    read_metadata,
    read_regular,
    read_verified,
    sha256_bytes,
    sha256_file,
    validate_package,
    write_file,
)
from deployready.package.pipeline import (
    MODEL_EXPECTED,
    scaler_expected,
    short_reason,
    split_pipeline,
)
from deployready.package.preprocess import Preprocessor, compile_preprocessor
from deployready.package.profile import fit_profile
from deployready.package.versioning import (
    BUMP_REASONS,
    Bump,
    SchemaDiff,
    build_schema,
    decide_bump,
    next_version,
    predict_frame,
    rows_to_frame,
    schema_diff,
    schema_features,
    schema_model_problems,
    schema_sha256,
)
from deployready.policy import Policy
from deployready.workspace import Workspace, parse_version

TMP_PREFIX = ".tmp-"
LOCK_FILE = ".export.lock"
PROFILE_MAX_ROWS = 100_000

__all__ = [
    "CARD_SECTIONS",
    "Finding",
    "LoadedPackage",
    "PackageInfo",
    "SchemaDiff",
    "ValidationReport",
    "artifact_checks",
    "export_package",
    "load_package",
    "package_sha256",
    "predict_frame",
    "read_json_file",
    "read_metadata",
    "schema_diff",
    "validate_package",
]

#: Headings every model card must have (checked by "model card complete").
CARD_SECTIONS: tuple[str, ...] = (
    "Model details",
    "Intended use",
    "Training data",
    "Metrics",
    "Explainability",
    "Limitations",
    "Version",
    "Files",
)


# --------------------------------------------------------------------------- predicting


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


def load_package(path: str | Path) -> LoadedPackage:
    """Verify the manifest, then load the package from the verified bytes.

    IntegrityError (naming the file) when a file does not match the manifest;
    PackageError for a missing file, malformed JSON or a schema that does not fit the
    model. Nothing is unpickled unless every file verified.
    """
    path = Path(path)
    report = validate_package(path, deep=False)
    errors = report.errors
    if errors:
        first = next((f for f in errors if f.code in _INTEGRITY_CODES), errors[0])
        cls = IntegrityError if first.code in _INTEGRITY_CODES else PackageError
        more = f" (+{len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise cls(
            f"{first.message}; refused, nothing was unpickled{more}",
            source=path / first.file,
            location=first.code,
        )
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
    holdout = pd.read_parquet(io.BytesIO(holdout_bytes))
    try:
        model = joblib.load(io.BytesIO(model_bytes))
        scaler = joblib.load(io.BytesIO(scaler_bytes))
    except Exception as exc:  # unpickling can fail in any way
        raise PackageError(
            f"cannot load the pickles: {exc}",
            source=path / MODEL_FILE,
            expected="joblib files loadable with the installed libraries",
        ) from exc
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


# --------------------------------------------------------------------------- export


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


@contextmanager
def _export_lock(models_dir: Path) -> Iterator[None]:
    """Serialize version allocation between exporters (threads or processes)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock: rename still never overwrites
        yield
        return
    with open(models_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _claim_tmp(models_dir: Path) -> tuple[Path, int | None]:
    """Create this export's ``.tmp-<uuid>`` folder, locked for as long as the export runs.

    The lock (``flock`` on the folder) is released by the kernel when the process dies,
    so a folder whose lock can be taken belongs to an export that was killed: it is
    removed here. Sweeping and creating happen under the export lock, so a live export's
    folder is never seen unlocked.
    """
    with _export_lock(models_dir):
        _sweep_stale_tmp(models_dir)
        tmp = models_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock: stale folders are only ignored
            return tmp, None
        fd = os.open(tmp, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return tmp, fd


def _sweep_stale_tmp(models_dir: Path) -> list[Path]:
    """Remove the temporary folders of exports that died (their folder lock is free)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return []
    removed: list[Path] = []
    for path in models_dir.iterdir():
        if not path.name.startswith(TMP_PREFIX) or path.is_symlink() or not path.is_dir():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live export is building it
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


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
        rows = pd.read_parquet(io.BytesIO(read_verified(previous, manifest, HOLDOUT_FILE)))
        recorded = json.loads(read_verified(previous, manifest, EXPECTED_FILE))["predictions"]
        now = predict_frame(model, scaler, features, rows[features])
    except (DeployReadyError, KeyError, ValueError, TypeError):
        return False
    expected = np.asarray(recorded, dtype=np.float64)
    return now.shape == expected.shape and bool(np.array_equal(now, expected))


def _period(train: pd.DataFrame) -> dict[str, str]:
    for name in train.columns:
        if pd.api.types.is_datetime64_any_dtype(train[name]) and train[name].notna().any():
            return {
                "column": str(name),
                "start": str(train[name].min()),
                "end": str(train[name].max()),
            }
    return {}


def _auto_metrics(
    holdout: pd.DataFrame | None, target: str, proba: np.ndarray | None
) -> dict[str, float]:
    if holdout is None or proba is None or target not in holdout.columns:
        return {}
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = holdout[target].to_numpy()
    if len(np.unique(y)) != 2:
        return {}
    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "average_precision": float(average_precision_score(y, proba)),
        "brier": float(brier_score_loss(y, proba)),
    }


def _check_inputs(
    model: Any, train: pd.DataFrame, features: list[str], target: str, holdout: pd.DataFrame | None
) -> None:
    if not features or len(set(features)) != len(features):
        raise InputError(
            "empty or duplicated feature list",
            location="features",
            expected="distinct column names",
        )
    missing = [f for f in [*features, target] if f not in train.columns]
    if missing:
        raise InputError(
            f"columns {missing} not in the training frame",
            source="train",
            location="columns",
            expected="every feature and the target",
        )
    if target in features:
        raise InputError(
            "the target is also a feature",
            location="features",
            expected="features without the target column",
        )
    if len(train) == 0:
        raise InputError("the training frame is empty", source="train", expected="rows")
    if holdout is not None and [f for f in features if f not in holdout.columns]:
        raise InputError(
            "the holdout frame lacks feature columns",
            source="holdout",
            location="columns",
            expected="every feature",
        )
    if not hasattr(model, "predict_proba"):
        raise InputError(
            f"{type(model).__name__} has no predict_proba",
            location="model",
            expected="a fitted binary classifier",
        )


def _check_fits(model: Any, scaler: Any, rows: pd.DataFrame) -> None:
    """The scaler takes the training features and the model its output (on a few rows);
    an InputError naming which one does not, and what to pass, instead of the library's
    own ValueError or TypeError."""
    sample = rows.head(20)
    try:
        transformed = scaler.transform(sample)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"the scaler {type(scaler).__name__} cannot transform the training features: "
            f"{short_reason(exc)}",
            location="scaler",
            expected="the fitted " + scaler_expected(rows).removeprefix("a "),
        ) from exc
    try:
        model.predict_proba(transformed)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"the model {type(model).__name__} cannot predict from the scaler's output: "
            f"{short_reason(exc)}",
            location="model",
            expected="a fitted " + MODEL_EXPECTED.removeprefix("a "),
        ) from exc


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
    """
    features = [str(f) for f in features]
    model, scaler = split_pipeline(model, scaler)
    _check_inputs(model, train, features, target_column, holdout)
    if scaler is None:
        raise InputError(
            "no scaler",
            location="scaler",
            expected="the fitted preprocessing the model was trained behind (RunResult.scaler "
            "of record_run), or the whole fitted Pipeline as the model",
        )
    models_dir = _models_dir(target)
    models_dir.mkdir(parents=True, exist_ok=True)
    created = created_at or datetime.now(UTC).isoformat(timespec="seconds")
    tmp, tmp_fd = _claim_tmp(models_dir)
    try:
        info = _build(
            tmp,
            models_dir,
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
            created=created,
        )
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
    return info


def _build(
    tmp: Path,
    models_dir: Path,
    *,
    model: Any,
    scaler: Any,
    train: pd.DataFrame,
    features: list[str],
    target: str,
    holdout: pd.DataFrame | None,
    run_id: str,
    metrics: dict[str, float] | None,
    card: dict[str, Any] | None,
    description: str,
    shap_max_rows: int,
    shap_time_budget_s: float,
    holdout_rows: int,
    profile_bins: int,
    created: str,
) -> PackageInfo:
    _check_fits(model, scaler, train[features])
    schema = build_schema(train, features, target)
    write_file(tmp / SCHEMA_FILE, dumps_json(schema))
    model_bytes, scaler_bytes = _joblib_bytes(model), _joblib_bytes(scaler)
    write_file(tmp / MODEL_FILE, model_bytes)
    write_file(tmp / SCALER_FILE, scaler_bytes)
    # Predict with the objects as they will be served: unpickled from the package bytes.
    served_model = joblib.load(io.BytesIO(model_bytes))
    served_scaler = joblib.load(io.BytesIO(scaler_bytes))

    rng = np.random.default_rng(0)
    profile_rows = (
        train
        if len(train) <= PROFILE_MAX_ROWS
        else train.iloc[np.sort(rng.choice(len(train), PROFILE_MAX_ROWS, replace=False))]
    )
    train_pred = predict_frame(served_model, served_scaler, features, profile_rows)
    if not np.all(np.isfinite(train_pred)):
        raise PackageError(
            "the model predicts non-finite probabilities on the training rows",
            location="model",
            expected="finite probabilities",
        )
    profile = fit_profile(train[features], predictions=train_pred, bins=profile_bins)
    write_file(tmp / PROFILE_FILE, dumps_json(profile))

    source = holdout if holdout is not None else train.tail(holdout_rows)
    if len(source) > holdout_rows:
        source = source.iloc[np.sort(rng.choice(len(source), holdout_rows, replace=False))]
    holdout_frame = source[features].reset_index(drop=True)
    buffer = io.BytesIO()
    holdout_frame.to_parquet(buffer, index=False)
    write_file(tmp / HOLDOUT_FILE, buffer.getvalue())
    served_holdout = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    expected = predict_frame(served_model, served_scaler, features, served_holdout)
    write_file(tmp / EXPECTED_FILE, dumps_json({"predictions": expected.tolist()}))

    report = explain_model(
        served_model,
        served_scaler,
        train[features],
        features=features,
        max_rows=shap_max_rows,
        time_budget_s=shap_time_budget_s,
    )
    write_file(tmp / SHAP_FILE, dumps_json(report))
    if metrics is None:
        full = (
            predict_frame(served_model, served_scaler, features, source)
            if (holdout is not None and target in holdout.columns)
            else None
        )
        metrics = _auto_metrics(source if holdout is not None else None, target, full)

    schema_sha = schema_sha256(schema)
    model_sha, scaler_sha = sha256_bytes(model_bytes), sha256_bytes(scaler_bytes)
    data_hash = pd.util.hash_pandas_object(train[[*features, target]], index=False).to_numpy()
    with _export_lock(models_dir):
        existing = _existing_versions(models_dir)
        previous = existing[-1] if existing else None
        prev_meta = read_metadata(models_dir / previous) if previous else None
        bump = decide_bump(prev_meta, schema_sha, model_sha, scaler_sha)
        if (
            bump == "minor"
            and previous is not None
            and _same_behaviour(models_dir / previous, served_model, served_scaler, features)
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
        metadata = {
            "format": 1,
            "version": version,
            "created_at": created,
            "run_id": run_id,
            "description": description,
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "scaler_class": f"{type(scaler).__module__}.{type(scaler).__qualname__}",
            "libraries": _libraries(),
            "features": features,
            "target": target,
            "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
            "training_data": {
                "rows": len(train),
                "sha256": sha256_bytes(data_hash.tobytes()),
                "hash": "pandas.util.hash_pandas_object(index=False), SHA-256",
                "period": _period(train),
            },
            "schema_sha256": schema_sha,
            "model_sha256": model_sha,
            "scaler_sha256": scaler_sha,
            "previous": previous,
            "bump": bump,
            "bump_reason": BUMP_REASONS[bump],
            "model_card": card or {},
        }
        write_file(tmp / METADATA_FILE, dumps_json(metadata))
        files = {
            n: {"sha256": sha256_file(tmp / n), "size": (tmp / n).stat().st_size}
            for n in sorted(p.name for p in tmp.iterdir())
        }
        readme = render_model_card(metadata, report, files, card, BUMP_REASONS[bump])
        write_file(tmp / CARD_FILE, readme.encode("utf-8"))
        manifest_bytes = build_manifest(tmp, version, created)
        write_file(tmp / MANIFEST_FILE, manifest_bytes)
        fsync_dir(tmp)
        os.rename(tmp, final)
        fsync_dir(models_dir)
    return PackageInfo(final, version, sha256_bytes(manifest_bytes), bump, previous)


def _libraries() -> dict[str, str]:
    import platform

    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


# --------------------------------------------------------------------------- checks


def _check(
    name: str, ok: bool, value: Any, threshold: str, message: str, evidence: Evidence
) -> Check:
    return Check(
        name=name,
        category=Category.ARTIFACTS,
        status=Status.PASS if ok else Status.FAIL,
        value=value,
        threshold=threshold,
        message=message,
        evidence=evidence,
    )


def _card_missing_sections(path: Path) -> list[str] | None:
    try:
        text = read_regular(path / CARD_FILE).decode("utf-8")
    except (OSError, UnicodeDecodeError, PackageError):
        return None
    headings = {
        line.lstrip("#").strip().lower() for line in text.splitlines() if line.startswith("#")
    }
    return [s for s in CARD_SECTIONS if not any(h.startswith(s.lower()) for h in headings)]


def artifact_checks(path: str | Path, policy: Policy | None = None) -> list[Check]:
    """The Artifacts category of the checklist for one package folder."""
    path = Path(path)
    report = validate_package(path, deep=True)
    sha = report.sha256
    try:
        created = read_json_file(path, MANIFEST_FILE).get("created_at")
    except PackageError:
        created = None
    time = created if isinstance(created, str) else None

    def evidence(file: str, findings: list[Finding]) -> Evidence:
        detail = {"findings": [asdict(f) for f in findings]} if findings else {}
        return Evidence(source=str(path / file), time=time, package_sha256=sha, detail=detail)

    def problems(codes: tuple[str, ...], files: tuple[str, ...] | None = None) -> list[Finding]:
        return [f for f in report.errors if f.code in codes and (files is None or f.file in files)]

    def say(found: list[Finding]) -> str:
        return "; ".join(f"{f.file}: {f.message}" for f in found)

    checks: list[Check] = []
    missing = [n for n in REQUIRED_FILES if not is_regular_file(path / n)]
    checks.append(
        _check(
            "required files present",
            not missing,
            len(REQUIRED_FILES) - len(missing),
            f"all {len(REQUIRED_FILES)}: {', '.join(REQUIRED_FILES)}",
            "All required files are present." if not missing else f"Missing: {', '.join(missing)}.",
            evidence(str(path.name), []),
        )
    )
    bad = problems(
        ("missing_file", "bad_manifest", "hash_mismatch", "size_mismatch", "not_regular_file")
    )
    checks.append(
        _check(
            "manifest verified (hashes)",
            not bad and sha is not None,
            len(report.verified),
            "every file matches MANIFEST.json",
            f"All {len(report.verified)} files match their SHA-256 in MANIFEST.json."
            if not bad
            else say(bad) + ". Nothing was unpickled.",
            evidence(MANIFEST_FILE, bad),
        )
    )
    bad = problems(("bad_version_name", "version_mismatch"))
    checks.append(
        _check(
            "versioned package name",
            not bad,
            path.name,
            "vMAJOR.MINOR[.PATCH], same as the metadata",
            f"{path.name} is a version name and matches the metadata."
            if not bad
            else say(bad) + ".",
            evidence(METADATA_FILE, bad),
        )
    )
    bad = problems(("schema_model_mismatch", "unloadable", "bad_holdout"))
    bad += problems(("bad_json",), (SCHEMA_FILE,))
    if not bad and not report.unpickled:
        message = "Not checked: the package failed verification, so its pickles were not loaded."
        checks.append(
            _check(
                "schema matches model",
                False,
                None,
                "scaler and model fit the schema",
                message,
                evidence(SCHEMA_FILE, []),
            )
        )
    else:
        checks.append(
            _check(
                "schema matches model",
                not bad,
                None,
                "scaler and model fit the schema",
                "The scaler and the model accept the schema's features and reproduce the holdout "
                "predictions."
                if not bad
                else say(bad) + ".",
                evidence(SCHEMA_FILE, bad),
            )
        )
    bad = problems(("missing_shap_features",)) + problems(
        ("bad_json", "missing_file"), (SHAP_FILE,)
    )
    checks.append(
        _check(
            "SHAP report covers every feature",
            not bad and is_regular_file(path / SHAP_FILE),
            None,
            "every schema feature has a SHAP importance",
            "Every schema feature has a global SHAP importance." if not bad else say(bad) + ".",
            evidence(SHAP_FILE, bad),
        )
    )
    sections = _card_missing_sections(path)
    checks.append(
        _check(
            "model card complete",
            sections == [],
            None,
            "sections: " + ", ".join(CARD_SECTIONS),
            "The model card has every required section."
            if sections == []
            else (
                "README.md is missing or unreadable."
                if sections is None
                else f"README.md lacks the section(s): {', '.join(sections)}."
            ),
            evidence(CARD_FILE, []),
        )
    )
    files = (PROFILE_FILE, HOLDOUT_FILE, EXPECTED_FILE)
    bad = problems(("missing_file", "bad_json", "bad_holdout"), files)
    profile_ok = True
    if not bad:
        try:
            profile = read_json_file(path, PROFILE_FILE)
            profile_ok = isinstance(profile.get("features"), dict) and "prediction" in profile
        except PackageError:
            profile_ok = False
    ok = not bad and profile_ok and all(is_regular_file(path / n) for n in files)
    checks.append(
        _check(
            "drift reference profile and holdout present",
            ok,
            None,
            "reference_profile.json with predictions, holdout rows with expected predictions",
            "The drift reference profile and the holdout sample with expected predictions "
            "are present."
            if ok
            else (
                say(bad) + "." if bad else "reference_profile.json lacks features or predictions."
            ),
            evidence(PROFILE_FILE, bad),
        )
    )
    return checks
