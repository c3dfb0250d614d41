"""Signed packages: who produced the bytes, in the OpenSSF Model Signing format.

``MANIFEST.json`` proves a package's files agree with each other; a pickle rewritten
together with its manifest is simply another package. A signature answers who made it:
``deployready sign models/vX.Y --key KEY.pem`` signs every file of the folder (the
manifest included) with an elliptic-curve private key through the OpenSSF reference
library (``model-signing``: a Sigstore bundle with a DSSE envelope over an in-toto
statement of each file's SHA-256), written to ``models/vX.Y/model.sig`` — no network, no
transparency log. Verification (:func:`verify_signature`) hashes the files and checks the
bundle against the public keys the policy trusts (``[signing] trusted_keys``, PEM files);
it never unpickles anything, and the artifact checks run it before anything is unpickled.

A key's name is its file's stem (``keys/release-team.pub`` → ``release-team``); its
fingerprint is the SHA-256 of its PEM SubjectPublicKeyInfo — the hint the bundle carries,
so a signature by a key the policy does not list is named by its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from deployready.errors import InputError, PackageError

__all__ = [
    "SIGNATURE_FILE",
    "SignatureResult",
    "TrustedKey",
    "key_fingerprint",
    "sign_package",
    "trusted_keys",
    "verify_signature",
]

SIGNATURE_FILE = "model.sig"
KEY_EXPECTED = "a PEM elliptic-curve key (P-256, P-384 or P-521)"

Outcome = Literal["verified", "unsigned", "unknown_key", "invalid", "no_trusted_keys"]


@dataclass(frozen=True)
class TrustedKey:
    """A public key the policy trusts: its name (the file's stem), file and fingerprint."""

    name: str
    path: Path
    fingerprint: str


@dataclass(frozen=True)
class SignatureResult:
    """What verifying a package's signature found (carried as data to the check, the
    Artifacts page and the report)."""

    outcome: Outcome
    message: str
    #: the trusted key that verified it (name and fingerprint), when verified
    key_name: str | None = None
    key_fingerprint: str | None = None
    #: the fingerprint the signature names (also for an unknown key)
    signed_with: str | None = None
    #: the files the signature covers
    files: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return self.outcome == "verified"

    @property
    def signed(self) -> bool:
        return self.outcome != "unsigned"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = list(self.files)
        return out


def _public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the key: {exc}", source=path,
                         expected=KEY_EXPECTED) from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise InputError("not a PEM public or private key", source=path,
                             expected=KEY_EXPECTED) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
            "secp256r1", "secp384r1", "secp521r1"):
        raise InputError("not an elliptic-curve key on P-256, P-384 or P-521", source=path,
                         expected=KEY_EXPECTED)
    return key


def key_fingerprint(path: str | Path) -> str:
    """SHA-256 of the key's PEM SubjectPublicKeyInfo (a private key: of its public half)."""
    from cryptography.hazmat.primitives import serialization

    pem = _public_key(Path(path)).public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def trusted_keys(paths: Sequence[str], root: str | Path) -> list[TrustedKey]:
    """The policy's trusted public keys, relative paths resolved against ``root`` (the
    workspace). InputError naming the file when one cannot be read as a key."""
    out = []
    for entry in paths:
        path = Path(entry) if Path(entry).is_absolute() else Path(root) / entry
        out.append(TrustedKey(Path(entry).stem, path, key_fingerprint(path)))
    return out


def _hashing() -> Any:
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(  # type: ignore[no-untyped-call]
        paths=[SIGNATURE_FILE], ignore_git_paths=True)


def sign_package(path: str | Path, private_key: str | Path, *,
                 password: str | None = None) -> SignatureResult:
    """Sign every file of the package folder ``path`` into ``path/model.sig`` (replaced)."""
    from model_signing import signing

    folder, key = Path(path), Path(private_key)
    if not folder.is_dir():
        raise PackageError("not a package folder", source=folder, expected="a models/vX.Y folder")
    fingerprint = key_fingerprint(key)  # names the key file when it is not a usable key
    config = signing.Config().set_hashing_config(_hashing())  # type: ignore[no-untyped-call]
    try:
        config.use_elliptic_key_signer(private_key=key, password=password)
        config.sign(folder, folder / SIGNATURE_FILE)
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot sign with this key: {exc}", source=key,
                         expected="an unencrypted private key (or --password)") from exc
    return SignatureResult("verified", f"signed with {key.stem} ({fingerprint[:16]})",
                           key.stem, fingerprint, fingerprint, _covered(folder))


def _bundle_hint(sig: Path) -> tuple[str | None, tuple[str, ...]]:
    """(key fingerprint the bundle names, files its statement covers), or raise."""
    import base64

    bundle = json.loads(sig.read_text(encoding="utf-8"))
    hint = bundle["verificationMaterial"]["publicKey"].get("hint")
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    resources = statement["predicate"].get("resources", [])
    return (str(hint) if hint else None), tuple(sorted(str(r["name"]) for r in resources))


def _covered(folder: Path) -> tuple[str, ...]:
    try:
        return _bundle_hint(folder / SIGNATURE_FILE)[1]
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def verify_signature(path: str | Path, keys: Sequence[TrustedKey]) -> SignatureResult:
    """Verify ``path/model.sig`` against ``keys``; hashes files, unpickles nothing. (The
    signing library, slow to import, is imported only when there is a signature.)"""
    folder = Path(path)
    sig = folder / SIGNATURE_FILE
    if not sig.is_file():
        return SignatureResult("unsigned", f"{folder.name} is not signed (no {SIGNATURE_FILE}).")
    from model_signing import verifying

    try:
        hint, files = _bundle_hint(sig)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return SignatureResult("invalid", f"{SIGNATURE_FILE} is not a model signature "
                               f"bundle: {exc}")
    if not keys:
        return SignatureResult("no_trusted_keys", "signed, but the policy lists no trusted "
                               "keys ([signing] trusted_keys)", signed_with=hint, files=files)
    matching = [k for k in keys if hint is None or k.fingerprint == hint]
    if not matching:
        return SignatureResult("unknown_key", f"signed by a key the policy does not trust "
                               f"(fingerprint {str(hint)[:16]})", signed_with=hint, files=files)
    problem = ""
    for key in matching:
        config = verifying.Config().set_hashing_config(  # type: ignore[no-untyped-call]
            _hashing())
        try:
            config.use_elliptic_key_verifier(public_key=key.path).verify(folder, sig)
        except Exception as exc:  # the library raises ValueError and crypto errors alike
            problem = str(exc)
            continue
        return SignatureResult("verified", f"signed by {key.name} ({key.fingerprint[:16]}); "
                               f"all {len(files)} files match", key.name, key.fingerprint,
                               hint, files)
    return SignatureResult("invalid", f"the signature does not match the files: {problem}",
                           signed_with=hint, files=files)
