"""Fixtures of the crash suite: one small workspace (package v1.0), built once, copied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crash.support import build_workspace
from deployready.workspace import Workspace


@pytest.fixture(scope="session")
def crash_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lenient policy and one small package; read-only, copy it to change it."""
    return build_workspace(tmp_path_factory.mktemp("crash-master") / "ws")


@pytest.fixture
def ws(crash_master: Path, tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(crash_master, root)
    return Workspace(root)
