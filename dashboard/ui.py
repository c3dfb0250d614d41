"""The dashboard's one Streamlit support module: sidebar, workspace, errors.

Only ``app.py``, ``pages/`` and this module import streamlit. Everything here arranges
widgets around engine results; nothing decides a check.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import identity
from dashboard.chart_theme import TEMPLATE_JSON
from deployready.errors import AccessDenied, DeployReadyError
from deployready.policy import Policy
from deployready.workspace import Workspace, default_workspace_path

if TYPE_CHECKING:
    from deployready.checks import Check
    from deployready.score import Readiness

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
    ("pages/8_Performance.py", "Performance", "📈"),
]

_WS_KEY = "deployready_workspace"
_VERSION_KEY = "deployready_version"
_DEPLOYED_KEY = "deployready_deployed_version"


def _script(name: str) -> str:
    return Path(__file__).with_name(name).read_text(encoding="utf-8")


#: The loader of the chart library (``chart_library.js``), shared by the page's first
#: element and every chart.
LIBRARY_JS = _script("chart_library.js")
#: The chart element's script (a Streamlit component, drawn in the page, not a frame): one
#: module of the loader, the margin estimate (``chart_margins.js``) and the element
#: (``chart.js``).
CHART_JS = "\n".join([LIBRARY_JS, _script("chart_margins.js"), _script("chart.js")])
#: The trace types ``static/plotly-deployready.min.js`` holds: the list in
#: ``dashboard/chart_bundle/entry.js`` (a browser test compares the two).
BUNDLE_TRACES: frozenset[str] = frozenset({"scatter", "bar", "box", "heatmap", "indicator"})
#: The page's first element: it starts loading the chart library and takes no room.
_LIBRARY_KEY = "deployready_library"
_LIBRARY_HTML = (f"<style>div:has(> .st-key-{_LIBRARY_KEY}) {{ display: none; }}</style>"
                 f"<script>{LIBRARY_JS}\ndeployreadyLibrary().catch(() => undefined);</script>")


def chart_json(fig: go.Figure) -> str:
    """``fig`` as the chart element draws it: a copy in the dashboard's theme
    (:mod:`dashboard.chart_theme`), as plotly JSON. A trace type the dashboard's plotly.js
    build does not hold is refused here, not left to draw nothing in the browser."""
    missing = sorted({trace.type for trace in fig.data} - BUNDLE_TRACES)
    if missing:
        raise ValueError(f"trace types {missing} are not in static/plotly-deployready.min.js; "
                         "add them to dashboard/chart_bundle/entry.js and rebuild")
    spec = json.loads(fig.to_json())  # plotly's encoder: numpy arrays, dates, NaN
    spec.setdefault("layout", {})["template"] = TEMPLATE_JSON
    return json.dumps(spec, separators=(",", ":"))


def chart(fig: go.Figure, *, key: str | None = None, where: Any = None) -> None:
    """Draw ``fig`` across the width of ``where`` (a column or container; default the
    page) with the dashboard's plotly.js build. It holds only :data:`BUNDLE_TRACES`, a
    quarter of the full library Streamlit's own plotly element loads, so a page's charts
    are drawn sooner (bench/README.md)."""
    with nullcontext() if where is None else where:
        _chart_element()(data={"figure": chart_json(fig)}, key=key)


def _chart_element() -> Any:
    """The chart element's mounting command (registering the same definition again, as
    every script run does, changes nothing)."""
    return st.components.v2.component("deployready_chart", js=CHART_JS, isolate_styles=False)


def setup_page(title: str, icon: str) -> None:
    """The page's title and layout, and the chart library's load started by the page's
    first element (a script in the sidebar) rather than its first chart: the browser
    fetches and compiles the library while it lays out the rest of the page, instead of
    after the chart elements mount (a failed load is reported by the charts that need
    it)."""
    st.set_page_config(page_title=f"{title} · deployready", page_icon=icon, layout="wide")
    with st.sidebar.container(key=_LIBRARY_KEY):
        st.html(_LIBRARY_HTML, unsafe_allow_javascript=True)


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
    """The workspace chosen in the sidebar (default: $DEPLOYREADY_WORKSPACE or cwd); with
    sign-in configured, the server's, with no path field (:mod:`dashboard.identity`)."""
    if identity.auth_configured():
        return identity.fixed_workspace()
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
    from deployready.rollout.state import rollout_state  # not events: no scipy to import

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
    identity.sign_in_gate()
    _navigation()
    st.sidebar.divider()
    ws = workspace()
    if not ws.root.is_dir():
        st.error(f"Workspace folder not found: {ws.root}")
        st.stop()
    identity.panel(ws)
    refresh_profiles(ws)
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


def refresh_profiles(ws: Workspace) -> None:
    """Profile the log rows that are new since the last ingest, before any cache key is
    taken (a stat per log file when nothing changed). A log file that cannot be ingested
    is reported where the logs are read; nothing of it is stored."""
    from deployready.monitoring.logs import requested_engine
    from deployready.monitoring.profiles.ingest import ingest_if_changed

    try:
        if requested_engine("auto") not in ("pandas", "duckdb"):
            ingest_if_changed(ws)
    except DeployReadyError:
        pass


def guarded(fn: Callable[[], T], what: str) -> T | None:
    """Run an engine call; show a deployready error as a visible message, not a traceback."""
    try:
        return fn()
    except AccessDenied as exc:
        st.error(f"**{what} refused.** {exc}", icon="🔒")
        return None
    except DeployReadyError as exc:
        st.error(f"**{what} failed.** {exc}", icon="🚫")
        return None


def policy_or_stop(ws: Workspace) -> Policy:
    """The workspace policy; a malformed one is shown as an error and stops the page."""
    policy = guarded(ws.policy, "Reading the policy")
    if policy is None:
        st.stop()
    assert policy is not None
    return policy


def require_versions(ws: Workspace) -> None:
    """Stop the page with guidance when the workspace has no packages."""
    if not ws.versions():
        st.info(
            f"No model packages in `{ws.models_dir}`. Build the demo workspace with "
            "`deployready demo DIR`, or export a package with `deployready export`.",
            icon="ℹ️",
        )
        st.stop()


# --------------------------------------------------------------------------- caching
#
# Engine reads are pure functions of files. The cached helpers below take a signature of
# every file the read depends on (path, size, mtime in ns) as part of their cache key, so
# a changed, added or removed file is a cache miss: a cached result is never stale.

FileSignature = tuple[tuple[str, int, int, int], ...]


def stop_without_logs(ws: Workspace, version: str, info: dict[str, Any]) -> None:
    """Stop the page, saying so, when ``version`` has no production logs (``info``: the
    versions with logs, :func:`log_versions`)."""
    if version in info:
        return
    others = ", ".join(sorted(info)) or "none"
    st.info(f"No production logs of {version} in `{ws.production_dir}` "
            f"(versions with logs: {others}). Pick a deployed version in the sidebar.", icon="ℹ️")
    st.stop()


def files_signature(paths: Iterable[Path]) -> FileSignature:
    """(path, size, mtime_ns, ctime_ns) of each existing file, sorted by path (the change
    time moves on an in-place rewrite that puts the size and modification time back)."""
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return tuple(sorted(out))


def _tree_files(folder: Path, skip: Path | None = None, leave: Path | None = None
                ) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirs, names in os.walk(folder):
        if skip is not None and Path(dirpath) == skip:
            dirs.clear()  # the files directly in ``skip`` count, its subfolders do not
        if leave is not None and Path(dirpath) == leave.parent:
            dirs[:] = [d for d in dirs if d != leave.name]  # nothing in ``leave`` counts
        for name in names:
            # SQLite's shared-memory index changes on reads; the database and its WAL
            # carry every committed change.
            if not name.endswith("-shm"):
                files.append(Path(dirpath) / name)
    return files


def evidence_signature(ws: Workspace, version: str | None = None) -> FileSignature:
    """Every file a readiness verdict can depend on: the policy, the package list and the
    package's files, and everything under ``data/`` (history, production logs, the
    store, load-test samples) except the load-test runs' scratch folders
    (``data/loadtests/run-<id>/``: live progress, logs), which a running load test
    rewrites several times a second and no check reads; a finished run's evidence is its
    store row and its ``run-<id>.npz`` samples. The engine's caches (``data/cache/``) are
    left out too: they are derived from the evidence and keyed on it, so writing one (the
    first render of a fresh server) is no change of the verdict."""
    paths = [ws.policy_path,
             *_tree_files(ws.data_dir, skip=ws.loadtest_dir, leave=ws.data_dir / "cache")]
    if ws.models_dir.is_dir():
        paths += [p for p in ws.models_dir.iterdir() if p.is_dir()]
    if version:
        paths += _tree_files(ws.package_path(version))
    return files_signature(paths)


def evidence_key(ws: Workspace, version: str | None = None) -> str:
    """A digest of :func:`evidence_signature`: the same files, one short cache key
    (Streamlit hashes a key's every item on every rerun; at scale, a thousand files)."""
    signature = evidence_signature(ws, version)
    return hashlib.sha256(repr(signature).encode()).hexdigest()


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_score(root: str, version: str, key: str) -> Readiness:
    from deployready.score import compute_score

    return compute_score(Workspace.open(root), version)


def readiness(ws: Workspace, version: str) -> Readiness:
    """``compute_score(ws, version)``, cached until any evidence file changes."""
    return _cached_score(str(ws.root), version, evidence_key(ws, version))


def log_key(ws: Workspace) -> tuple[Any, ...]:
    """The key of every cached answer from the production logs. The workspace's profiles
    are brought up to date first when a log file is new or changed (a stat per file when
    none is); the key is then the profile store's generation — or, when a raw engine is
    forced (``$DEPLOYREADY_LOG_ENGINE``), the files' signature."""
    from deployready.memo import file_signature
    from deployready.monitoring.logs import ProductionLogs, requested_engine
    from deployready.monitoring.profiles.ingest import ingest_if_changed, profile_store

    engine = requested_engine("auto")
    if engine in ("pandas", "duckdb"):
        return (engine, file_signature(ProductionLogs(ws.production_dir, {}).files))
    ingest_if_changed(ws)
    return ("profiles", profile_store(ws).generation())


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_log_versions(root: str, key: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    from deployready.monitoring.logs import ProductionLogs

    return ProductionLogs.for_workspace(Workspace.open(root)).versions()


def log_versions(ws: Workspace) -> dict[str, dict[str, Any]]:
    """``ProductionLogs.for_workspace(ws).versions()``: version -> {rows, first, last},
    cached until the logs change (:func:`log_key`)."""
    return _cached_log_versions(str(ws.root), log_key(ws))


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_latency_checks(root: str, version: str, key: str) -> list[Check]:
    from deployready.monitoring.latency_checks import latency_checks
    from deployready.package.manifest import package_sha256_or_none

    ws = Workspace.open(root)
    return latency_checks(ws, version, package_sha256_or_none(ws.package_path(version)),
                          ws.policy())


def latency_checks(ws: Workspace, version: str) -> list[Check]:
    """The score's latency checks of ``version``, cached until any evidence file changes."""
    return _cached_latency_checks(str(ws.root), version, evidence_key(ws, version))
