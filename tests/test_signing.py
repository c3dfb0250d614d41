"""Signed packages: the OpenSSF Model Signing format with a private key, verified against
the policy's trusted keys before anything is unpickled — through the artifact check, the
loader, `deployready sign`/`validate`/`export --sign-key` and the Artifacts page."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployready.checks import Status
from deployready.errors import InputError, IntegrityError
from deployready.package.checks import SIGNED_CHECK, artifact_checks, package_signature
from deployready.package.load import load_package
from deployready.package.signing import (
    SIGNATURE_FILE,
    key_fingerprint,
    sign_package,
    trusted_keys,
    verify_signature,
)
from deployready.policy import Policy, SigningPolicy, load_policy, write_policy
from deployready.workspace import Workspace
from tests.hostile.cases import _new_key, rehash
from tests.hostile.conftest import hostile_master, hws

REPO = Path(__file__).resolve().parents[1]


__all__ = ["hostile_master", "hws"]  # the hostile suite's workspace fixtures


@pytest.fixture
def ws(hws: Workspace) -> Path:
    """A private copy of the hostile suite's small workspace (one exported package)."""
    return hws.root


def pkg(ws: Path) -> Path:
    return ws / "models" / "v1.0"


def trust(ws: Path, *keys: str, required: bool = True) -> Policy:
    policy = dataclasses.replace(load_policy(ws), signing=SigningPolicy(
        required=required, trusted_keys=list(keys)))
    write_policy(ws, policy)
    return policy


def checks_of(ws: Path) -> dict[str, Any]:
    return {c.name: c for c in artifact_checks(pkg(ws), load_policy(ws), ws)}


def test_a_signature_verifies_and_names_the_key(ws: Path) -> None:
    key = _new_key(ws, "keys/release-team")
    signed = sign_package(pkg(ws), key)
    assert (pkg(ws) / SIGNATURE_FILE).is_file()
    assert {"model.pkl", "scaler.pkl", "MANIFEST.json"} <= set(signed.files)
    assert SIGNATURE_FILE not in signed.files
    trust(ws, "keys/release-team.pub")
    check = checks_of(ws)[SIGNED_CHECK]
    assert check.status == Status.PASS and check.value == "release-team"
    public = ws / "keys/release-team.pub"
    assert check.evidence.detail["key_fingerprint"] == key_fingerprint(public)
    assert key_fingerprint(key) == key_fingerprint(ws / "keys/release-team.pub")
    assert "Signed by release-team" in check.message
    names = [c.name for c in artifact_checks(pkg(ws), load_policy(ws), ws)]
    assert names.index(SIGNED_CHECK) == 2  # right after the manifest
    assert load_package(pkg(ws), load_policy(ws).signing, ws).version == "v1.0"
    # the model.sig beside the manifest is not an unexpected file
    assert "unexpected_file" not in {f.code for f in load_package_report(ws)}


def load_package_report(ws: Path) -> list[Any]:
    from deployready.package.validate import validate_package

    return validate_package(pkg(ws), deep=False).findings


def test_without_a_requirement_an_unsigned_package_has_no_signature_box(ws: Path) -> None:
    assert SIGNED_CHECK not in checks_of(ws)
    assert verify_signature(pkg(ws), []).outcome == "unsigned"
    trust(ws, required=True)
    check = checks_of(ws)[SIGNED_CHECK]
    assert check.status == Status.FAIL and "is not signed" in check.message


def _unpickled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every unpickling of package bytes, recorded."""
    import joblib

    seen: list[str] = []
    real = joblib.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append("joblib.load")
        return real(*args, **kwargs)

    monkeypatch.setattr(joblib, "load", spy)
    return seen


def test_a_package_rewritten_with_its_manifest_fails_and_is_not_unpickled(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_package(pkg(ws), _new_key(ws, "keys/release-team"))
    trust(ws, "keys/release-team.pub", required=False)
    scaler = pkg(ws) / "scaler.pkl"
    scaler.write_bytes(scaler.read_bytes() + b"\x00")  # any change, every hash rewritten
    meta = json.loads((pkg(ws) / "model_metadata.json").read_text())
    meta["scaler_sha256"] = hashlib.sha256(scaler.read_bytes()).hexdigest()
    (pkg(ws) / "model_metadata.json").write_text(json.dumps(meta))
    rehash(ws)
    seen = _unpickled(monkeypatch)
    checks = checks_of(ws)
    assert checks["manifest verified (hashes)"].status == Status.PASS  # the manifest agrees
    signed = checks[SIGNED_CHECK]
    assert signed.status == Status.FAIL and signed.value == "invalid"
    assert "scaler.pkl" in signed.message and "Nothing was unpickled" in signed.message
    assert "never ignored" in signed.message  # not required, yet a bad signature fails
    assert checks["schema matches model"].status == Status.FAIL
    with pytest.raises(IntegrityError, match="does not match the files"):
        load_package(pkg(ws), load_policy(ws).signing, ws)
    assert seen == []


def test_a_signature_by_another_key_is_named_by_its_fingerprint(ws: Path) -> None:
    _new_key(ws, "keys/release-team")
    intruder = _new_key(ws / "elsewhere", "intruder")
    sign_package(pkg(ws), intruder)
    trust(ws, "keys/release-team.pub")
    result = package_signature(pkg(ws), load_policy(ws).signing, ws)
    assert result.outcome == "unknown_key"
    assert result.signed_with == key_fingerprint(intruder)
    assert key_fingerprint(intruder)[:16] in result.message
    assert checks_of(ws)[SIGNED_CHECK].status == Status.FAIL


def test_signed_without_trusted_keys_is_said_not_decided(ws: Path) -> None:
    sign_package(pkg(ws), _new_key(ws, "keys/release-team"))
    result = package_signature(pkg(ws), SigningPolicy(), ws)
    assert result.outcome == "no_trusted_keys" and "lists no trusted keys" in result.message
    assert SIGNED_CHECK not in checks_of(ws)
    trust(ws, required=True)
    assert checks_of(ws)[SIGNED_CHECK].status == Status.FAIL


def test_bad_keys_are_named(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "not-a-key.pem").write_text("hello")
    with pytest.raises(InputError, match=r"not-a-key\.pem: not a PEM"):
        sign_package(pkg(ws), tmp_path / "not-a-key.pem")
    with pytest.raises(InputError, match=r"missing\.pub: cannot read the key"):
        trusted_keys(["keys/missing.pub"], ws)
    sign_package(pkg(ws), _new_key(ws, "keys/release-team"))
    trust(ws, "keys/missing.pub")
    check = checks_of(ws)[SIGNED_CHECK]
    assert check.status == Status.FAIL and "missing.pub" in check.message
    (pkg(ws) / SIGNATURE_FILE).write_text("{not json")
    trust(ws, "keys/release-team.pub")
    assert "not a model signature bundle" in checks_of(ws)[SIGNED_CHECK].message


def test_the_policy_refuses_bad_key_lists() -> None:
    from deployready.errors import PolicyError
    from deployready.policy import parse_policy

    with pytest.raises(PolicyError, match=r"signing\.trusted_keys.*two keys with one name"):
        parse_policy({"signing": {"trusted_keys": ["a/k.pub", "b/k.pub"]}})
    with pytest.raises(PolicyError, match=r"signing\.required"):
        parse_policy({"signing": {"required": "yes"}})


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployready", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


def test_the_commands_sign_validate_and_export_signed(ws: Path) -> None:
    key = _new_key(ws, "keys/release-team")
    trust(ws, "keys/release-team.pub")
    unsigned = run("validate", str(pkg(ws)), cwd=ws)
    assert unsigned.returncode == 1 and "is not signed" in unsigned.stdout
    signed = run("sign", str(pkg(ws)), "--key", str(key), cwd=ws)
    assert signed.returncode == 0, signed.stderr
    assert "signed with release-team" in signed.stdout
    ok = run("validate", str(pkg(ws)), "--json", cwd=ws)
    assert ok.returncode == 0, ok.stdout
    out = json.loads(ok.stdout)
    assert out["valid"] and out["signature"]["key_name"] == "release-team"
    bad = run("sign", str(pkg(ws)), "--key", str(ws / "keys/missing.pem"), cwd=ws)
    assert bad.returncode == 2 and "missing.pem" in bad.stderr
    # export --sign-key: the new package is signed as it is written
    from tests.test_artifacts import make_frame

    frame = make_frame(300)
    frame.to_csv(ws / "train.csv", index=False)
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = ["amount", "age"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200))
    model.fit(frame[features], frame["target"])
    joblib.dump(model, ws / "model.joblib")
    exported = run("export", "-w", str(ws), "--model", str(ws / "model.joblib"), "--train",
                   str(ws / "train.csv"), "--target", "target", "--features", ",".join(features),
                   "--sign-key", str(key), "--json", cwd=ws)
    assert exported.returncode == 0, exported.stderr
    info = json.loads(exported.stdout)
    assert info["signature"]["key_name"] == "release-team"
    assert verify_signature(info["path"], trusted_keys(["keys/release-team.pub"], ws)).verified


def test_the_artifacts_page_shows_who_signed(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    sign_package(pkg(ws), _new_key(ws, "keys/release-team"))
    trust(ws, "keys/release-team.pub")
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(ws))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages/2_Artifacts.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    fingerprint = key_fingerprint(ws / "keys/release-team.pub")
    assert any("signed by release-team" in s.value and fingerprint in s.value
               for s in at.success)
    (pkg(ws) / "README.md").write_text("# rewritten after signing\n")
    rehash(ws)
    at = AppTest.from_file(str(REPO / "pages/2_Artifacts.py"), default_timeout=120)
    at.run()
    assert any("Not signed by a trusted key" in e.value and "README.md" in e.value
               for e in at.error)
