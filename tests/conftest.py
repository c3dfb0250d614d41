"""Shared fixtures: the demo workspace is built once per test session and copied."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# No telemetry from any dependency, ever, in tests.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, built once. Treat as read-only: copy it to change it."""
    from deployready.demo.build import build_demo

    root = tmp_path_factory.mktemp("demo-master")
    build_demo(root)
    return root


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
