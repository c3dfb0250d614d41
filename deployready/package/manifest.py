"""The package manifest: names, hashes and sizes of every file of a model package.

``MANIFEST.json`` is written last by the exporter::

    {"format": 1, "version": "v1.1", "created_at": "...",
     "files": {"model.pkl": {"sha256": "...", "size": 1234}, ...}}

The package hash (``package_sha256``) is the SHA-256 of the ``MANIFEST.json`` bytes:
since the manifest holds the hash of every other file, it identifies the whole package.
Evidence (load tests, daily checks) is bound to that hash.

Verification reads bytes and hashes them.
:func:`~deployready.package.validate.validate_package` unpickles nothing unless ``deep`` is
set *and* no error was found before (every pickle matched the manifest, the metadata agrees
with the manifest); it then loads the pickles from the very bytes that were hashed.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from deployready.errors import IntegrityError, PackageError, file_kind, not_a_file, open_problem

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


def read_package_file(source: Path, *, missing: str, expected: str) -> bytes:
    """:func:`read_regular`, with a missing or unreadable file as a PackageError naming it
    (``missing`` / ``expected`` say what a missing file means to the caller)."""
    try:
        return read_regular(source)
    except FileNotFoundError as exc:
        raise PackageError(missing, source=source, expected=expected) from exc
    except OSError as exc:
        raise PackageError(f"is {open_problem(source, exc)}", source=source) from exc


def package_sha256(path: str | Path) -> str:
    """SHA-256 of the package's ``MANIFEST.json`` bytes (PackageError if unreadable)."""
    manifest = Path(path) / MANIFEST_FILE
    return sha256_bytes(
        read_package_file(manifest, missing="no MANIFEST.json", expected="a model package")
    )


def package_sha256_or_none(path: str | Path) -> str | None:
    """:func:`package_sha256`, or None when the package has no readable ``MANIFEST.json``."""
    try:
        return package_sha256(path)
    except PackageError:
        return None


def read_json_file(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read a JSON object from ``path`` (or ``path/name``); PackageError naming the file."""
    file = Path(path) / name if name is not None else Path(path)
    data = read_package_file(file, missing="missing file", expected="a JSON file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError("not UTF-8 text", source=file, expected="a JSON object") from exc
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
    files = _file_entries(raw.get("files"), source)
    return Manifest(MANIFEST_FORMAT, version, created_at, files, sha)


def _file_entries(files_raw: Any, source: Path) -> dict[str, FileEntry]:
    """The ``files`` object of a manifest, checked entry by entry."""
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
    return files


def read_manifest(path: str | Path) -> Manifest:
    source = Path(path) / MANIFEST_FILE
    data = read_package_file(source, missing="missing file", expected="a model package")
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
    data = read_package_file(source, missing="missing file", expected="a file of the package")
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


def parquet_frame(data: bytes) -> pd.DataFrame:
    """A package's Parquet file (bytes already read and verified) as a frame, decoded on
    the calling thread: the files are small, and Arrow's reader threads can abort a
    process at interpreter exit after its work is done (apache/arrow#34314)."""
    import pandas as pd  # not at import: listing and hashing packages needs no pandas

    return pd.read_parquet(io.BytesIO(data), use_threads=False)
