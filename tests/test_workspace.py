"""Workspace layout and version names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployready.workspace import Workspace, format_version, parse_version


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_version_round_trip(major: int, minor: int, patch: int) -> None:
    assert parse_version(format_version(major, minor, patch)) == (major, minor, patch)


@pytest.mark.parametrize(
    "name", ["1.0", "v1", "v01.0", "v1.0.0.1", "v1.x", "V1.0", ".tmp-v1.0", "v1.0-rc1"]
)
def test_bad_version_names(name: str) -> None:
    assert parse_version(name) is None


def test_versions_sorted_numerically_and_ignore_other_folders(tmp_path: Path) -> None:
    for name in ["v1.10", "v1.2", "v1.2.1", "v2.0", ".tmp-abc", "notes", "v1.0"]:
        (tmp_path / "models" / name).mkdir(parents=True)
    (tmp_path / "models" / "v9.9").write_text("a file, not a package")
    ws = Workspace(tmp_path)
    assert ws.versions() == ["v1.0", "v1.2", "v1.2.1", "v1.10", "v2.0"]
    assert ws.latest_version() == "v2.0"


def test_env_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(tmp_path))
    assert Workspace.open().root == tmp_path
    assert Workspace(tmp_path).is_empty()


def test_policy_parsed_once_per_file_signature(tmp_path: Path) -> None:
    from dataclasses import replace

    from deployready.errors import PolicyError
    from deployready.policy import Policy, write_policy

    ws = Workspace(tmp_path)
    assert ws.policy() == Policy()  # no file: the defaults
    path = ws.policy_path
    path.write_text("[latency]\np99_ms = 40\n", encoding="utf-8")
    first = ws.policy()
    assert first.latency.p99_ms == 40
    # unchanged: the parsed policy is reused, by every handle on the workspace
    assert ws.policy() is first
    assert Workspace.open(tmp_path).policy() is first
    # edited in place: seen at once
    path.write_text("[latency]\np99_ms = 45.5\n", encoding="utf-8")
    second = ws.policy()
    assert second.latency.p99_ms == 45.5 and ws.policy() is second
    # rewritten by write_policy with the same size: seen at once
    write_policy(path, replace(second, latency=replace(second.latency, p99_ms=47.5)))
    assert ws.policy().latency.p99_ms == 47.5
    # a broken file is an error on every call, never a remembered policy
    path.write_text("[latency]\np99_ms = 'fast'\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(PolicyError, match="p99_ms"):
            ws.policy()
    path.unlink()
    assert ws.policy() == Policy()
