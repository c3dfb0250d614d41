"""The Artifacts category of the checklist: one package folder checked file by file
(``validate_package(path, deep=True)``), each finding carried as a Check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deployready.checks import Category, Check, Evidence, Status
from deployready.errors import InputError, PackageError
from deployready.package.card import CARD_SECTIONS
from deployready.package.findings import Finding, ValidationReport
from deployready.package.manifest import (
    CARD_FILE,
    EXPECTED_FILE,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    PROFILE_FILE,
    REQUIRED_FILES,
    SCHEMA_FILE,
    SHAP_FILE,
    is_regular_file,
    read_json_file,
    read_regular,
)
from deployready.package.signing import (
    SIGNATURE_FILE,
    SignatureResult,
    trusted_keys,
    verify_signature,
)
from deployready.package.validate import validate_package
from deployready.policy import Policy, SigningPolicy

SIGNED_CHECK = "signed by a trusted key"


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


def package_signature(path: str | Path, signing: SigningPolicy,
                      root: str | Path | None = None) -> SignatureResult:
    """The package's signature checked against the policy's trusted keys (relative key
    paths resolve against ``root``, the workspace: by default the folder above
    ``models/``). A trusted key that cannot be read is an ``invalid`` result naming it."""
    folder = Path(path)
    try:
        keys = trusted_keys(signing.trusted_keys, root or folder.parent.parent)
    except InputError as exc:
        return SignatureResult("invalid", f"a trusted key cannot be used: {exc}")
    return verify_signature(folder, keys)


def signature_counts(signature: SignatureResult, signing: SigningPolicy) -> bool:
    """Whether "signed by a trusted key" is a check of this package: required by the
    policy, or a signature is there and the policy lists keys to check it with (a
    signature that does not verify is never ignored). It passes only when verified; when
    it fails nothing of the package is unpickled."""
    return signing.required or (signature.signed and signature.outcome != "no_trusted_keys")


def artifact_checks(path: str | Path, policy: Policy | None = None,
                    root: str | Path | None = None) -> list[Check]:
    """The Artifacts category of the checklist for one package folder. The signature is
    verified first: a package whose signature the policy needs and does not get is
    validated without unpickling anything."""
    signing = (policy or Policy()).signing
    signature = package_signature(path, signing, root)
    counts = signature_counts(signature, signing)
    found = _Found.of(Path(path), deep=not counts or signature.verified)
    checks = [
        _required_files(found),
        _manifest_verified(found),
        _versioned_name(found),
        _schema_matches_model(found),
        _shap_covers_features(found),
        _model_card_complete(found),
        _reference_present(found),
    ]
    if counts:  # after the manifest: who made the bytes the manifest vouches for
        checks.insert(2, _signed_by_trusted_key(found, signature, signing))
    return checks


@dataclass(frozen=True)
class _Found:
    """One package folder's deep validation, and the evidence its checks cite."""

    path: Path
    report: ValidationReport
    time: str | None

    @classmethod
    def of(cls, path: Path, deep: bool = True) -> _Found:
        report = validate_package(path, deep=deep)
        try:
            created = read_json_file(path, MANIFEST_FILE).get("created_at")
        except PackageError:
            created = None
        return cls(path, report, created if isinstance(created, str) else None)

    def evidence(self, file: str, findings: list[Finding]) -> Evidence:
        detail = {"findings": [asdict(f) for f in findings]} if findings else {}
        return Evidence(
            source=str(self.path / file),
            time=self.time,
            package_sha256=self.report.sha256,
            detail=detail,
        )

    def problems(
        self, codes: tuple[str, ...], files: tuple[str, ...] | None = None
    ) -> list[Finding]:
        return [
            f
            for f in self.report.errors
            if f.code in codes and (files is None or f.file in files)
        ]


def _say(found: list[Finding]) -> str:
    return "; ".join(f"{f.file}: {f.message}" for f in found)


def _signed_by_trusted_key(found: _Found, signature: SignatureResult,
                           signing: SigningPolicy) -> Check:
    why = "" if signature.verified else (
        " Nothing was unpickled." + ("" if signing.required else
                                     " (Not required by the policy, but a signature that does "
                                     "not verify is never ignored.)"))
    evidence = Evidence(source=str(found.path / SIGNATURE_FILE), time=found.time,
                        package_sha256=found.report.sha256, detail=signature.as_dict())
    return _check(SIGNED_CHECK, signature.verified,
                  signature.key_name if signature.verified else signature.outcome,
                  "a signature (model.sig) by a key in [signing] trusted_keys",
                  signature.message[:1].upper() + signature.message[1:] + why, evidence)


def _required_files(found: _Found) -> Check:
    path = found.path
    missing = [n for n in REQUIRED_FILES if not is_regular_file(path / n)]
    return _check(
        "required files present",
        not missing,
        len(REQUIRED_FILES) - len(missing),
        f"all {len(REQUIRED_FILES)}: {', '.join(REQUIRED_FILES)}",
        "All required files are present." if not missing else f"Missing: {', '.join(missing)}.",
        found.evidence(str(path.name), []),
    )


def _manifest_verified(found: _Found) -> Check:
    report = found.report
    bad = found.problems(
        ("missing_file", "bad_manifest", "hash_mismatch", "size_mismatch", "not_regular_file")
    )
    return _check(
        "manifest verified (hashes)",
        not bad and report.sha256 is not None,
        len(report.verified),
        "every file matches MANIFEST.json",
        f"All {len(report.verified)} files match their SHA-256 in MANIFEST.json."
        if not bad
        else _say(bad) + ". Nothing was unpickled.",
        found.evidence(MANIFEST_FILE, bad),
    )


def _versioned_name(found: _Found) -> Check:
    name = found.path.name
    bad = found.problems(("bad_version_name", "version_mismatch"))
    return _check(
        "versioned package name",
        not bad,
        name,
        "vMAJOR.MINOR[.PATCH], same as the metadata",
        f"{name} is a version name and matches the metadata." if not bad else _say(bad) + ".",
        found.evidence(METADATA_FILE, bad),
    )


def _schema_matches_model(found: _Found) -> Check:
    bad = found.problems(("schema_model_mismatch", "unloadable", "bad_holdout"))
    bad += found.problems(("bad_json",), (SCHEMA_FILE,))
    if not bad and not found.report.unpickled:
        message = "Not checked: the package failed verification, so its pickles were not loaded."
        return _check(
            "schema matches model",
            False,
            None,
            "scaler and model fit the schema",
            message,
            found.evidence(SCHEMA_FILE, []),
        )
    return _check(
        "schema matches model",
        not bad,
        None,
        "scaler and model fit the schema",
        "The scaler and the model accept the schema's features and reproduce the holdout "
        "predictions."
        if not bad
        else _say(bad) + ".",
        found.evidence(SCHEMA_FILE, bad),
    )


def _shap_covers_features(found: _Found) -> Check:
    bad = found.problems(("missing_shap_features",)) + found.problems(
        ("bad_json", "missing_file"), (SHAP_FILE,)
    )
    return _check(
        "SHAP report covers every feature",
        not bad and is_regular_file(found.path / SHAP_FILE),
        None,
        "every schema feature has a SHAP importance",
        "Every schema feature has a global SHAP importance." if not bad else _say(bad) + ".",
        found.evidence(SHAP_FILE, bad),
    )


def _model_card_complete(found: _Found) -> Check:
    sections = _card_missing_sections(found.path)
    return _check(
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
        found.evidence(CARD_FILE, []),
    )


def _reference_present(found: _Found) -> Check:
    path = found.path
    files = (PROFILE_FILE, HOLDOUT_FILE, EXPECTED_FILE)
    bad = found.problems(("missing_file", "bad_json", "bad_holdout"), files)
    profile_ok = True
    if not bad:
        try:
            profile = read_json_file(path, PROFILE_FILE)
            profile_ok = isinstance(profile.get("features"), dict) and "prediction" in profile
        except PackageError:
            profile_ok = False
    ok = not bad and profile_ok and all(is_regular_file(path / n) for n in files)
    return _check(
        "drift reference profile and holdout present",
        ok,
        None,
        "reference_profile.json with predictions, holdout rows with expected predictions",
        "The drift reference profile and the holdout sample with expected predictions "
        "are present."
        if ok
        else (_say(bad) + "." if bad else "reference_profile.json lacks features or predictions."),
        found.evidence(PROFILE_FILE, bad),
    )
