"""A package's files against its manifest: every entry of the folder a regular file,
``MANIFEST.json`` parsed, and every file's size and SHA-256 compared with its entry —
the first step of :func:`~deployready.package.validate.validate_package`, which trusts
nothing it has not verified here."""

from __future__ import annotations

import os
from pathlib import Path

from deployready.errors import PackageError, not_a_file, open_problem
from deployready.package.findings import ValidationReport
from deployready.package.manifest import (
    MANIFEST_FILE,
    PACKAGE_FILES,
    Manifest,
    not_regular,
    parse_manifest,
    read_regular,
    sha256_bytes,
)
from deployready.package.signing import SIGNATURE_FILE


def check_files(path: Path, report: ValidationReport) -> Manifest | None:
    """Every entry a regular file, and every file against the manifest (when it parses)."""
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
    return manifest


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
        listed = file.name in (MANIFEST_FILE, SIGNATURE_FILE) or file.name in manifest.files
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
