"""The package manifest: names, hashes and sizes of every file of a model package.

``MANIFEST.json`` is written last by the exporter::

    {"format": 1, "version": "v1.1", "created_at": "...",
     "files": {"model.pkl": {"sha256": "...", "size": 1234}, ...}}

The package hash (``package_sha256``) is the SHA-256 of the ``MANIFEST.json`` bytes:
since the manifest holds the hash of every other file, it identifies the whole package.
Evidence (load tests, daily checks) is bound to that hash.

Verification reads bytes and hashes them. :func:`validate_package` unpickles nothing
unless ``deep`` is set *and* no error was found before (every pickle matched the manifest,
the metadata agrees with the manifest); it then loads the pickles from the very bytes that
were hashed.

The manifest protects against accidental or partial changes (truncation, a swapped or
replaced file); someone able to rewrite both a file and the manifest changes the package
hash, which every piece of evidence is bound to.

A package holds regular files only. A symbolic link (to another package's holdout, to a
file outside the package, even to a file of the same package), a folder, a named pipe,
a socket or a device is refused by name (finding ``not_regular_file``): its bytes would
be whatever the link points to today, and a pipe would block the reader. Package files
are opened without following a final symbolic link and checked on the open file, so a
file swapped for a link after the check is refused too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd

from deployready.errors import IntegrityError, PackageError, file_kind, not_a_file, open_problem
from deployready.package.versioning import (
    predict_frame,
    schema_features,
    schema_model_problems,
    schema_sha256,
)
from deployready.workspace import parse_version

MANIFEST_FORMAT = 1
MANIFEST_FILE = "MANIFEST.json"
MODEL_FILE = "model.pkl"
SCALER_FILE = "scaler.pkl"
SCHEMA_FILE = "feature_schema.json"
METADATA_FILE = "model_metadata.json"
SHAP_FILE = "explainability_report.json"
CARD_FILE = "README.md"
PROFILE_FILE = "reference_profile.json"
HOLDOUT_FILE = "holdout.parquet"
EXPECTED_FILE = "holdout_expected.json"

#: The six files of the deployability checklist.
REQUIRED_FILES: tuple[str, ...] = (
    MODEL_FILE,
    SCALER_FILE,
    SCHEMA_FILE,
    METADATA_FILE,
    SHAP_FILE,
    CARD_FILE,
)
#: Every file of a package besides the manifest.
PACKAGE_FILES: tuple[str, ...] = (*REQUIRED_FILES, PROFILE_FILE, HOLDOUT_FILE, EXPECTED_FILE)
PICKLE_FILES: tuple[str, ...] = (MODEL_FILE, SCALER_FILE)
JSON_FILES: tuple[str, ...] = (SCHEMA_FILE, METADATA_FILE, SHAP_FILE, PROFILE_FILE, EXPECTED_FILE)

Severity = Literal["error", "warning"]

#: Largest difference between a holdout prediction and holdout_expected.json.
HOLDOUT_TOLERANCE = 1e-6

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def not_regular(path: Path) -> str | None:
    """Why ``path`` is not a regular file — "a symbolic link to X", "a folder", ... —
    without following a link; None for a regular file or nothing at all."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    kind = file_kind(mode)
    if kind == "a symbolic link":
        with contextlib.suppress(OSError):
            target = os.readlink(path)
            kind = (f"a symbolic link to {target}" if os.path.exists(path)
                    else f"a broken symbolic link (to {target}, which does not exist)")
    return kind


def is_regular_file(path: Path) -> bool:
    """A regular file, not a link to one (``Path.is_file`` follows links)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _not_regular_error(path: Path, kind: str) -> PackageError:
    return PackageError(
        f"{not_a_file(kind)}; a package holds regular files only",
        source=path,
        expected="a regular file",
    )


def read_regular(path: str | Path) -> bytes:
    """The bytes of a regular file, opened without following a final symbolic link and
    without blocking on a pipe; PackageError naming it when it is anything else.
    FileNotFoundError (and other OSErrors) as ``Path.read_bytes`` raises them."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        kind = not_regular(path)
        if kind is not None and os.path.lexists(path):
            raise _not_regular_error(path, kind) from None
        raise
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular_error(path, not_regular(path) or kind)
        chunks = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def package_sha256(path: str | Path) -> str:
    """SHA-256 of the package's ``MANIFEST.json`` bytes (PackageError if unreadable)."""
    manifest = Path(path) / MANIFEST_FILE
    try:
        return sha256_bytes(read_regular(manifest))
    except FileNotFoundError as exc:
        raise PackageError("no MANIFEST.json", source=manifest, expected="a model package") from exc
    except OSError as exc:
        raise PackageError(f"is {open_problem(manifest, exc)}", source=manifest) from exc


def package_sha256_or_none(path: str | Path) -> str | None:
    """:func:`package_sha256`, or None when the package has no readable ``MANIFEST.json``."""
    try:
        return package_sha256(path)
    except PackageError:
        return None


def read_json_file(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read a JSON object from ``path`` (or ``path/name``); PackageError naming the file."""
    file = Path(path) / name if name is not None else Path(path)
    try:
        text = read_regular(file).decode("utf-8")
    except FileNotFoundError as exc:
        raise PackageError("missing file", source=file, expected="a JSON file") from exc
    except UnicodeDecodeError as exc:
        raise PackageError("not UTF-8 text", source=file, expected="a JSON object") from exc
    except OSError as exc:
        raise PackageError(f"is {open_problem(file, exc)}", source=file) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackageError(
            f"malformed JSON: {exc.msg}",
            source=file,
            location=f"line {exc.lineno} column {exc.colno}",
            expected="a JSON object",
        ) from exc
    if not isinstance(data, dict):
        raise PackageError(
            f"top level is a {type(data).__name__}", source=file, expected="a JSON object"
        )
    return data


def read_metadata(path: str | Path) -> dict[str, Any]:
    """``model_metadata.json`` of a package (no hash verification, nothing unpickled)."""
    return read_json_file(path, METADATA_FILE)


def dumps_json(data: Any) -> bytes:
    """The byte form every package JSON file is written in (stable, sorted keys)."""
    return (json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    format: int
    version: str
    created_at: str
    files: dict[str, FileEntry]
    sha256: str  # of the MANIFEST.json bytes


def _safe_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def parse_manifest(data: bytes, source: Path) -> Manifest:
    """Parse and check the structure of MANIFEST.json bytes (PackageError naming the key)."""
    sha = sha256_bytes(data)
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(
            f"malformed JSON: {exc}", source=source, expected="a JSON object"
        ) from exc
    if not isinstance(raw, dict):
        raise PackageError("top level is not an object", source=source, expected="a JSON object")
    if raw.get("format") != MANIFEST_FORMAT:
        raise PackageError(
            f"unsupported format {raw.get('format')!r}",
            source=source,
            location="format",
            expected=str(MANIFEST_FORMAT),
        )
    version = raw.get("version")
    created_at = raw.get("created_at")
    if not isinstance(version, str):
        raise PackageError(
            "missing or not a string",
            source=source,
            location="version",
            expected="a version name like v1.0",
        )
    if not isinstance(created_at, str):
        raise PackageError(
            "missing or not a string",
            source=source,
            location="created_at",
            expected="an ISO 8601 time",
        )
    files_raw = raw.get("files")
    if not isinstance(files_raw, dict) or not files_raw:
        raise PackageError(
            "missing or empty",
            source=source,
            location="files",
            expected="an object of file name -> {sha256, size}",
        )
    files: dict[str, FileEntry] = {}
    for name, entry in files_raw.items():
        where = f"files.{name}"
        if not _safe_name(name) or name == MANIFEST_FILE:
            raise PackageError(
                "not a plain file name of the package",
                source=source,
                location=where,
                expected="a file name without a path",
            )
        if not isinstance(entry, dict):
            raise PackageError(
                "not an object", source=source, location=where, expected="{sha256, size}"
            )
        digest, size = entry.get("sha256"), entry.get("size")
        if not isinstance(digest, str) or not _SHA_RE.match(digest):
            raise PackageError(
                "bad sha256",
                source=source,
                location=f"{where}.sha256",
                expected="64 lowercase hex digits",
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise PackageError(
                "bad size",
                source=source,
                location=f"{where}.size",
                expected="a non-negative integer",
            )
        files[name] = FileEntry(digest, size)
    return Manifest(MANIFEST_FORMAT, version, created_at, files, sha)


def read_manifest(path: str | Path) -> Manifest:
    source = Path(path) / MANIFEST_FILE
    try:
        data = read_regular(source)
    except FileNotFoundError as exc:
        raise PackageError("missing file", source=source, expected="a model package") from exc
    except OSError as exc:
        raise PackageError(f"is {open_problem(Path(source), exc)}", source=source) from exc
    return parse_manifest(data, source)


def verify_bytes(manifest: Manifest, name: str, data: bytes, source: Path) -> None:
    """Raise IntegrityError when ``data`` is not the file the manifest lists as ``name``."""
    entry = manifest.files.get(name)
    if entry is None:
        raise PackageError(
            "not listed in MANIFEST.json",
            source=source,
            expected="every package file in the manifest",
        )
    if len(data) != entry.size:
        raise IntegrityError(
            f"size {len(data)} bytes differs from the manifest's {entry.size}; refused, not loaded",
            source=source,
        )
    digest = sha256_bytes(data)
    if digest != entry.sha256:
        raise IntegrityError(
            f"sha256 {digest[:12]}… differs from the manifest's {entry.sha256[:12]}…; "
            "refused, not loaded",
            source=source,
        )


def read_verified(path: str | Path, manifest: Manifest, name: str) -> bytes:
    """Read a package file into memory and verify it against the manifest.

    Callers unpickle the returned bytes (never the file again), so a file changed
    after verification cannot be loaded.
    """
    source = Path(path) / name
    try:
        data = read_regular(source)
    except FileNotFoundError as exc:
        raise PackageError("missing file", source=source, expected="a file of the package") from exc
    except OSError as exc:
        raise PackageError(f"is {open_problem(Path(source), exc)}", source=source) from exc
    verify_bytes(manifest, name, data, source)
    return data


def build_manifest(folder: Path, version: str, created_at: str) -> bytes:
    """Manifest bytes for every regular file in ``folder`` (except the manifest)."""
    files: dict[str, dict[str, Any]] = {}
    for file in sorted(folder.iterdir()):
        if file.name == MANIFEST_FILE or not is_regular_file(file):
            continue
        files[file.name] = {"sha256": sha256_file(file), "size": file.stat().st_size}
    return dumps_json(
        {"format": MANIFEST_FORMAT, "version": version, "created_at": created_at, "files": files}
    )


def write_file(path: Path, data: bytes) -> None:
    """Write and fsync a file (packages are renamed into place only when durable)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    file: str
    message: str


@dataclass
class ValidationReport:
    path: Path
    version: str
    sha256: str | None
    findings: list[Finding] = field(default_factory=list)
    #: files whose bytes matched the manifest
    verified: list[str] = field(default_factory=list)
    #: whether the pickles were loaded (deep validation after full verification)
    unpickled: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, code: str, file: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(code, severity, file, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "version": self.version,
            "sha256": self.sha256,
            "valid": self.valid,
            "unpickled": self.unpickled,
            "verified": list(self.verified),
            "findings": [asdict(f) for f in self.findings],
        }


def _check_manifest(path: Path, report: ValidationReport) -> Manifest | None:
    source = path / MANIFEST_FILE
    try:
        data = read_regular(source)
    except FileNotFoundError:
        report.add(
            "missing_file", MANIFEST_FILE, "MANIFEST.json is missing: no file can be verified"
        )
        return None
    except PackageError:  # reported by _check_regular
        return None
    except OSError as exc:
        problem = open_problem(path / MANIFEST_FILE, exc)
        report.add("bad_manifest", MANIFEST_FILE, f"MANIFEST.json is {problem}")
        return None
    try:
        manifest = parse_manifest(data, source)
    except PackageError as exc:
        report.add(
            "bad_manifest",
            MANIFEST_FILE,
            f"{exc.message}"
            + (f" at {exc.location}" if exc.location else "")
            + (f" (expected {exc.expected})" if exc.expected else ""),
        )
        return None
    report.sha256 = manifest.sha256
    return manifest


def _verify_files(path: Path, manifest: Manifest, report: ValidationReport) -> None:
    for name in PACKAGE_FILES:
        if name not in manifest.files:
            if os.path.lexists(path / name):
                report.add("bad_manifest", name, f"{name} is not listed in MANIFEST.json")
            else:
                report.add("missing_file", name, f"{name} is missing (and not in the manifest)")
    for name, entry in manifest.files.items():
        file = path / name
        if name not in PACKAGE_FILES:
            report.add("unexpected_file", name, f"{name} is not a package file", "warning")
        try:
            data = read_regular(file)
        except PackageError:  # reported by _check_regular
            continue
        except FileNotFoundError:
            report.add("missing_file", name, f"{name} is listed in MANIFEST.json but missing")
            continue
        except OSError as exc:
            report.add("missing_file", name, f"{name} is {open_problem(file, exc)}")
            continue
        if len(data) != entry.size:
            report.add(
                "size_mismatch",
                name,
                f"{name} is {len(data)} bytes, the manifest says {entry.size} "
                "(truncated or replaced)",
            )
        elif sha256_bytes(data) != entry.sha256:
            report.add(
                "hash_mismatch",
                name,
                f"{name} does not match its sha256 in MANIFEST.json (modified or swapped)",
            )
        else:
            report.verified.append(name)
    for file in sorted(path.iterdir()):
        listed = file.name == MANIFEST_FILE or file.name in manifest.files
        if not listed and file.name not in PACKAGE_FILES and not_regular(file) is None:
            report.add(
                "unexpected_file",
                file.name,
                f"{file.name} is not a package file and not in the manifest",
                "warning",
            )


def _check_regular(path: Path, report: ValidationReport) -> None:
    """Every entry of the package folder is a regular file (see the module docstring)."""
    for entry in sorted(path.iterdir()):
        kind = not_regular(entry)
        if kind is not None:
            report.add(
                "not_regular_file",
                entry.name,
                f"{entry.name} is {not_a_file(kind)}: a package holds regular files only",
            )


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
        frame = pd.read_parquet(io.BytesIO(read_regular(path / HOLDOUT_FILE)))
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


def validate_package(path: str | Path, deep: bool = True) -> ValidationReport:
    """Check a package without trusting it.

    Hashes every file against the manifest first. With ``deep`` (the default) and only
    when every pickle verified, loads the pickles from the verified bytes and checks the
    schema against the scaler and model and the holdout predictions. ``deep=False``
    unpickles nothing.
    """
    path = Path(path)
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
    _check_regular(path, report)
    manifest = _check_manifest(path, report)
    if manifest is None:
        for name in PACKAGE_FILES:
            if not os.path.lexists(path / name):
                report.add("missing_file", name, f"{name} is missing")
    else:
        if manifest.version != path.name:
            report.add(
                "version_mismatch",
                MANIFEST_FILE,
                f"MANIFEST.json says version {manifest.version!r}, the folder is {path.name!r}",
            )
        _verify_files(path, manifest, report)
    jsons = _read_jsons(path, report)
    schema = jsons.get(SCHEMA_FILE)
    features = _check_schema(schema, report) if schema is not None else None
    if METADATA_FILE in jsons:
        _check_metadata(jsons[METADATA_FILE], schema if features else None, manifest, report)
    if features is not None and SHAP_FILE in jsons:
        importance = jsons[SHAP_FILE].get("global_importance")
        covered = set(importance) if isinstance(importance, dict) else set()
        missing = [f for f in features if f not in covered]
        if missing:
            report.add(
                "missing_shap_features",
                SHAP_FILE,
                f"no SHAP importance for {len(missing)} feature(s): {', '.join(missing)}",
            )
    holdout = _read_holdout(path, features, jsons.get(EXPECTED_FILE), report) if features else None
    # Unpickle only a package with no error so far: every pickle matched the manifest,
    # and the metadata agrees with the manifest and the schema.
    all_pickles_verified = manifest is not None and all(p in report.verified for p in PICKLE_FILES)
    trusted = all_pickles_verified and report.valid
    if deep and features is not None and trusted and manifest is not None:
        try:
            model = joblib.load(io.BytesIO(read_verified(path, manifest, MODEL_FILE)))
            scaler = joblib.load(io.BytesIO(read_verified(path, manifest, SCALER_FILE)))
        except PackageError as exc:
            report.add("hash_mismatch", Path(exc.source or "").name, exc.message)
            return report
        except Exception as exc:  # unpickling can fail in any way
            report.add("unloadable", MODEL_FILE, f"cannot load the pickles: {exc}")
            return report
        report.unpickled = True
        problems = schema_model_problems(features, scaler, model, holdout[0] if holdout else None)
        for problem in problems:
            report.add("schema_model_mismatch", SCALER_FILE, problem)
        if holdout is not None and not problems:
            try:
                got = predict_frame(model, scaler, features, holdout[0])
                worst = float(np.max(np.abs(got - holdout[1]))) if len(got) else 0.0
            except Exception as exc:  # a failing model is a finding, not a crash
                report.add("bad_holdout", HOLDOUT_FILE, f"predicting the holdout failed: {exc}")
            else:
                if worst > HOLDOUT_TOLERANCE:
                    report.add(
                        "bad_holdout",
                        EXPECTED_FILE,
                        f"holdout predictions differ from holdout_expected.json by up to "
                        f"{worst:.3g} (> {HOLDOUT_TOLERANCE:g}): different library versions?",
                    )
    return report
