"""The dashboard's one Streamlit support module: sidebar, workspace, errors.

Only ``app.py``, ``pages/`` and this module import streamlit. Everything here arranges
widgets around engine results; nothing decides a check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException

from deployready.errors import DeployReadyError
from deployready.workspace import Workspace, default_workspace_path

T = TypeVar("T")

PAGES: list[tuple[str, str, str]] = [
    ("app.py", "Overview", "🏁"),
    ("pages/1_Certification.py", "Certification", "🎓"),
    ("pages/2_Artifacts.py", "Artifacts", "📦"),
    ("pages/3_Load_Test.py", "Load Test", "⚡"),
    ("pages/4_Latency.py", "Latency", "⏱️"),
    ("pages/5_Drift.py", "Drift", "🌊"),
    ("pages/6_Rollout.py", "Rollout", "🚦"),
    ("pages/7_Monitoring.py", "Monitoring", "🗓️"),
]

_WS_KEY = "deployready_workspace"
_VERSION_KEY = "deployready_version"
_DEPLOYED_KEY = "deployready_deployed_version"


def setup_page(title: str, icon: str) -> None:
    st.set_page_config(page_title=f"{title} · deployready", page_icon=icon, layout="wide")


def _navigation() -> None:
    root = Path(__file__).resolve().parent.parent
    for path, label, icon in PAGES:
        if not (root / path).exists():
            continue
        try:
            st.sidebar.page_link(path, label=label, icon=icon)
        except StreamlitAPIException:
            # A page run on its own (not through app.py, e.g. in AppTest) has no page
            # registry to link into; the page itself still works.
            return


def workspace() -> Workspace:
    """The workspace chosen in the sidebar (default: $DEPLOYREADY_WORKSPACE or cwd)."""
    if _WS_KEY not in st.session_state:
        st.session_state[_WS_KEY] = str(default_workspace_path())
    entered = st.sidebar.text_input(
        "Workspace",
        value=st.session_state[_WS_KEY],
        key="workspace_input",
        help="Folder with deployready.toml, data/ and models/",
    )
    if entered != st.session_state[_WS_KEY]:
        st.session_state[_WS_KEY] = entered
        st.session_state.pop(_VERSION_KEY, None)
        st.session_state.pop(_DEPLOYED_KEY, None)
    return Workspace.open(st.session_state[_WS_KEY])


def _deployed_default(ws: Workspace) -> str | None:
    """The version serving traffic: stable (100 %), else the one in rollout."""
    from deployready.rollout import rollout_state

    try:
        state = rollout_state(ws)
    except DeployReadyError:
        return None
    return state.stable or state.canary


def sidebar(*, with_version: bool = True, deployed: bool = False) -> tuple[Workspace, str | None]:
    """Navigation, workspace picker and version selector. Returns (workspace, version).

    Readiness pages share one selection (default: the newest package, the candidate);
    monitoring pages (``deployed=True``) share another, defaulting to the version that
    serves traffic, so looking at a candidate does not hide the deployed model's health.
    """
    _navigation()
    st.sidebar.divider()
    ws = workspace()
    if not ws.root.is_dir():
        st.error(f"Workspace folder not found: {ws.root}")
        st.stop()
    version: str | None = None
    versions = ws.versions()
    if with_version and versions:
        state_key = _DEPLOYED_KEY if deployed else _VERSION_KEY
        current = st.session_state.get(state_key)
        if current not in versions and deployed:
            current = _deployed_default(ws)
        index = versions.index(current) if current in versions else len(versions) - 1
        label = "Deployed version" if deployed else "Model version"
        version = st.sidebar.selectbox(
            label,
            versions,
            index=index,
            key=f"{state_key}_input",
            help="Monitoring pages default to the version serving traffic." if deployed else None,
        )
        st.session_state[state_key] = version
    return ws, version


def guarded(fn: Callable[[], T], what: str) -> T | None:
    """Run an engine call; show a deployready error as a visible message, not a traceback."""
    try:
        return fn()
    except DeployReadyError as exc:
        st.error(f"**{what} failed.** {exc}", icon="🚫")
        return None


def require_versions(ws: Workspace) -> None:
    """Stop the page with guidance when the workspace has no packages."""
    if not ws.versions():
        st.info(
            f"No model packages in `{ws.models_dir}`. Build the demo workspace with "
            "`deployready demo DIR`, or export a package with `deployready export`.",
            icon="ℹ️",
        )
        st.stop()


STATUS_ICON = {"pass": "✅", "fail": "❌", "pending": "⏳", "stale": "🕰️"}
