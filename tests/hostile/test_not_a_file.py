"""Unreadable files (mode 000): every loader refuses them with its own error naming the path.

The folder, broken-link and FIFO variants of the same class are corpus cases
(``cases.py``, "not a file"). Unreadable needs a reader the permission bits apply to,
and the test suite runs as root, for whom ``chmod 000`` changes nothing (and whose
Python, under ``/root``, no other user may run). So each loader runs in a child process
that first reads a readable copy of the workspace (importing everything it needs), then
sets its file-system user to ``nobody`` (``setfsuid``: permission checks as that user,
root's override capabilities dropped) and reads a fresh readable copy and a copy with the
file at mode 000. As any other user, the child reads as that user. Where the file-system
user cannot be changed, the test is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.cases import HISTORY, LOG_FILE, PKG, POLICY, VERSION
from tests.hostile.conftest import REPO

NOBODY = 65534

#: loader → (the file made unreadable, the call that reads it, the error class)
LOADERS: dict[str, tuple[str, str, str]] = {
    "policy": (POLICY, "ws.policy()", "PolicyError"),
    "history": (HISTORY, "load_history(ws.history_path())", "HistoryError"),
    "history-score": (
        HISTORY, "history_evaluations(ws.history_path(), ws.policy())", "HistoryError"),
    "logs-pandas": (LOG_FILE, "ProductionLogs(ws.production_dir, None, 'pandas').validate()",
                    "LogError"),
    "logs-duckdb": (LOG_FILE, "ProductionLogs(ws.production_dir, None, 'duckdb').validate()",
                    "LogError"),
    "manifest": (f"{PKG}/MANIFEST.json", "load_package(ws.package_path(VERSION))",
                 "PackageError"),
    "model": (f"{PKG}/model.pkl", "load_package(ws.package_path(VERSION))", "PackageError"),
    "metadata": (f"{PKG}/model_metadata.json", "read_metadata(ws.package_path(VERSION))",
                 "PackageError"),
    "reference-profile": (f"{PKG}/reference_profile.json", "read_profile(ws, VERSION)",
                          "PackageError"),
    "holdout": (f"{PKG}/holdout.parquet", "load_package(ws.package_path(VERSION))",
                "PackageError"),
}

CHILD = """
import ctypes, json, os, sys
from deployready.package.load import load_package
from deployready.package.manifest import read_metadata
from deployready.certification.checks import history_evaluations
from deployready.monitoring.daily import read_profile
from deployready.errors import DeployReadyError
from deployready.certification.history import load_history
from deployready.monitoring.logs import ProductionLogs
from deployready.workspace import Workspace

VERSION = sys.argv[1]
jobs = json.loads(sys.argv[2])  # loader -> [call, warm copy, readable copy, unreadable copy]


def run(call, root):
    ws = Workspace.open(root)
    try:
        eval(call)
    except DeployReadyError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None, "message": ""}


out = {name: {"warm": run(call, warm)} for name, (call, warm, _, _) in jobs.items()}
fsuid = os.geteuid()
if fsuid == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(NOBODY)
    fsuid = libc.setfsuid(-1)  # an invalid id changes nothing and returns the current one
for name, (call, _, readable, unreadable) in jobs.items():
    out[name].update(readable=run(call, readable), unreadable=run(call, unreadable))
print(json.dumps({"fsuid": fsuid, "results": out}))
""".replace("NOBODY", str(NOBODY))


@pytest.fixture(scope="module")
def unreadable_results(hostile_master: Path) -> Iterator[dict[str, Any]]:
    """Every loader, in one child process, on its three copies of the master workspace
    (readable by another user: the folder is not under root's private temporary dir)."""
    folder = Path(tempfile.mkdtemp(prefix="deployready-unreadable-"))
    try:
        folder.chmod(0o755)
        jobs: dict[str, list[str]] = {}
        for loader, (rel, call, _) in LOADERS.items():
            copies = [folder / loader / name for name in ("warm", "readable", "unreadable")]
            for copy in copies:
                shutil.copytree(hostile_master, copy)
                for file in copy.rglob("*"):  # history appends leave mkstemp's mode 0600
                    if file.is_file():
                        file.chmod(0o644)
            (copies[2] / rel).chmod(0)
            jobs[loader] = [call, *map(str, copies)]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("DEPLOYREADY_LOG_ENGINE", None)
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, VERSION, json.dumps(jobs)],
            capture_output=True, text=True, timeout=300, env=env, cwd=str(folder),
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["folder"] = folder
        yield out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_unreadable_file_is_named(loader: str, unreadable_results: dict[str, Any]) -> None:
    if unreadable_results["fsuid"] == 0:
        pytest.skip("cannot read as another user here (setfsuid refused): root reads mode 000")
    rel, _, error = LOADERS[loader]
    out = unreadable_results["results"][loader]
    assert out["warm"]["error"] is None and out["readable"]["error"] is None, out
    result = out["unreadable"]
    assert result["error"] == error, result
    message = result["message"]
    path = unreadable_results["folder"] / loader / "unreadable" / rel
    assert str(path) in message, message
    assert "not readable (permission denied)" in message, message
