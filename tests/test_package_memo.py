"""A package validated again with nothing changed is answered from its validation in
this process (nothing hashed or unpickled again); any change to any of its files is
validated afresh."""

from __future__ import annotations

from pathlib import Path

from deployready.package.checks import artifact_checks
from deployready.package.validate import validate_package
from tests.audit_support import opened
from tests.test_artifacts import codes, data, fitted, master, pkg

__all__ = ["data", "fitted", "master", "pkg"]  # the package fixtures

def test_an_unchanged_package_is_neither_read_nor_unpickled_again(pkg: Path) -> None:
    first = validate_package(pkg)
    assert first.valid and first.unpickled
    with opened() as seen:
        again = validate_package(pkg)
    assert seen == []
    assert again == first and again is not first


def test_a_file_changed_in_place_is_validated_again(pkg: Path) -> None:
    assert validate_package(pkg).valid
    model = pkg / "model.pkl"
    data = bytearray(model.read_bytes())
    data[-2] ^= 0xFF  # the same size, other bytes
    model.write_bytes(bytes(data))
    assert ("hash_mismatch", "model.pkl") in codes(pkg)
    assert not validate_package(pkg).valid
    checks = {c.name: c for c in artifact_checks(pkg)}
    assert not checks["manifest verified (hashes)"].passed


def test_what_a_caller_does_to_a_report_stays_with_it(pkg: Path) -> None:
    report = validate_package(pkg, deep=False)
    report.add("planted", "x", "by a caller")
    report.verified.clear()
    again = validate_package(pkg, deep=False)
    assert again.valid and again.verified and not again.unpickled
