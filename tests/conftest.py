"""Shared fixtures: the demo workspace is built once per test session and copied."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# No telemetry from any dependency, ever, in tests.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: (size, modification time in ns) of a file,
    (0, 0) of a folder (whose time a reader's passing SQLite journal moves) by path."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[path.relative_to(root).as_posix()] = (
            (0, 0) if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime_ns))
    return out


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo workspace, built once. Read-only: every copy (``demo_ws``) is made from it,
    so a test that wrote here would change later tests' workspaces; copy it to change it.
    At the end of the session (and after each test given it) no file of it may have been
    added, removed or rewritten, nor a folder added or removed."""
    from deployready.demo.build import build_demo

    root = tmp_path_factory.mktemp("demo-master")
    build_demo(root)
    before = listing(root)
    yield root
    _assert_unchanged(before, listing(root), "a test or fixture")


def _assert_unchanged(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                      who: str) -> None:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"{who} wrote into the demo master: {changed[:10]}"


@pytest.fixture(autouse=True)
def _demo_master_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test given the demo master (directly or through a copy of it) leaves it as it was
    (a listing of about a hundred entries: cheap)."""
    if "demo_master" not in request.fixturenames:
        yield
        return
    root: Path = request.getfixturevalue("demo_master")
    before = listing(root)
    yield
    _assert_unchanged(before, listing(root), request.node.nodeid)


@pytest.fixture(scope="module")
def demo_module_ws(demo_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the demo workspace shared by one module's tests (which may leave
    caches in it, never a change a later test of the module must not see)."""
    target = tmp_path_factory.mktemp("demo-module") / "ws"
    shutil.copytree(demo_master, target)
    return target


@pytest.fixture
def demo_ws(demo_master: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the demo workspace."""
    target = tmp_path / "ws"
    shutil.copytree(demo_master, target)
    return target


@pytest.fixture
def clear_streamlit_caches() -> Iterator[None]:
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
