"""The warm launcher (``python -m dashboard.serve``): it imports the engine, then serves
app.py on loopback; a client speaking Streamlit's own websocket protocol gets the
Overview drawn."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.serve import WARM_MODULES, streamlit_args, warm_imports

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the launcher exited early:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.status == 200 and resp.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"no health answer:\n{log.read_text(errors='replace')}")


async def _render_overview(port: int) -> tuple[list[str], list[str], int]:
    """Run app.py through the server's websocket: (headings, exceptions, finish status)."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    headings: list[str] = []
    errors: list[str] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream",
                                  subprotocols=["streamlit"], max_size=None) as conn:  # type: ignore[list-item]
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        await conn.send(msg.SerializeToString())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(conn.recv(), timeout=120))
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                if element.WhichOneof("type") == "heading":
                    headings.append(element.heading.body)
                elif element.WhichOneof("type") == "exception":
                    errors.append(element.exception.message)
            elif kind == "script_finished":
                return headings, errors, int(fwd.script_finished)
    raise AssertionError(f"the Overview did not finish; drawn so far: {headings}")


def test_launcher_serves_the_overview_on_loopback(demo_ws: Path, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "DEPLOYREADY_WORKSPACE": str(demo_ws), "DO_NOT_TRACK": "1",
           "PORT": str(port), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "dashboard.serve", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        headings, errors, finished = asyncio.run(_render_overview(port))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    assert errors == []
    assert finished == 0  # FINISHED_SUCCESSFULLY
    assert "🏁 Readiness overview" in headings
    assert any(h.startswith("v1.1 — ") for h in headings), headings
    text = log.read_text(errors="replace")
    assert "engine imported in" in text
    assert "127.0.0.1" in text  # bound to loopback only


def test_launcher_flags_bind_loopback_and_pass_extra_arguments_last() -> None:
    args = streamlit_args(["--server.headless", "true"], env={"PORT": "9123"})
    assert args[:2] == ["run", str(REPO / "app.py")]
    assert args[args.index("--server.address") + 1] == "127.0.0.1"
    assert args[args.index("--server.port") + 1] == "9123"
    assert args[-2:] == ["--server.headless", "true"]
    default = streamlit_args([], env={})
    assert default[default.index("--server.port") + 1] == "8501"


def test_warm_imports_load_every_listed_engine_module() -> None:
    took = warm_imports()
    engine = [m for m in WARM_MODULES if m.startswith("deployready")]
    assert set(engine) <= set(took)
    assert all(name in sys.modules for name in took)


def test_a_renamed_engine_module_in_the_list_is_an_error_not_a_cold_start() -> None:
    with pytest.raises(ImportError):
        warm_imports(["deployready.no_such_module"])
    assert warm_imports(["no_such_optional_library"]) == {}


def test_warm_figures_draw_every_trace_type_the_charts_use() -> None:
    import plotly.graph_objects as go

    from dashboard.serve import warm_figures, warm_stack_inspection

    warm_figures()  # raises on a property this plotly does not know
    warm_stack_inspection()
    used = set()
    for path in (REPO / "deployready" / "charts").glob("*.py"):
        used |= {name for name in dir(go) if f"go.{name}(" in path.read_text()}
    assert used - {"Figure"} <= {"Scatter", "Bar", "Heatmap", "Box", "Indicator"}, used


def test_the_deployed_version_lookup_imports_no_scipy() -> None:
    """The sidebar finds the deployed version through the rollout state and the gate's
    module: neither imports scipy (a second on a fresh server's first page)."""
    code = ("import sys, deployready.rollout.state, deployready.rollout.gate; "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "False"


def test_warm_imports_load_the_styler_the_event_log_uses() -> None:
    """The Rollout page's event log is a styled frame (``DataFrame.style``): pandas imports
    its Styler (and compiles its templates) on first use, a page's first run otherwise."""
    code = ("import sys; from dashboard.serve import warm_imports; warm_imports(); "
            "assert 'pandas.io.formats.style' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_warm_up_leaves_the_imported_libraries_out_of_the_collectors_reach() -> None:
    """After the warm-up the libraries' objects are frozen (``gc.freeze``): a collection
    during a page's first render walks only what the page made."""
    code = ("import gc; from dashboard.serve import warm_up; "
            "before = gc.get_freeze_count(); warm_up(); after = gc.get_freeze_count(); "
            "gc.collect(); print(before, after, gc.get_freeze_count(), gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, still, enabled = done.stdout.split()
    assert int(before) == 0
    assert int(after) > 100_000  # the imported libraries' objects
    assert int(still) == int(after)  # a collection does not thaw them
    assert enabled == "True"  # frozen, not switched off
