"""The exported package served by the team's own stacks — MLServer, ``mlflow models
serve`` and BentoML, each in its own virtualenv on loopback — returns the package's own
predictions for its holdout rows, bit for bit; the other version's export does not.

The venvs are built once and cached (``scripts/peers.sh``); a peer whose venv cannot be
built is skipped with the reason, except under ``CI=true`` where that fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployready.package.load import LoadedPackage, load_package
from deployready.stacks.export import export_to_stack
from deployready.workspace import Workspace
from tests.peers import servers, venvs

pytestmark = pytest.mark.peers

REPO = Path(__file__).resolve().parent.parent
PEERS = list(venvs.PINS)
ROWS = 200  # holdout rows compared per server (one request)


def _peer_or_skip(name: str) -> venvs.Peer:
    built = venvs.build([name], retry_failed=False)[name]
    if built is None:
        reason = f"the {name} venv could not be built (see {venvs.peer(name).log})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return built


@pytest.fixture(scope="module")
def packages(demo_master: Path) -> tuple[LoadedPackage, LoadedPackage]:
    ws = Workspace.open(demo_master)
    old, new = ws.versions()[-2:]
    return load_package(ws.models_dir / new), load_package(ws.models_dir / old)


@pytest.fixture(scope="module", params=PEERS)
def served(request: pytest.FixtureRequest, demo_master: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Running]:
    """Each peer serving the newest package's export."""
    name = str(request.param)
    peer = _peer_or_skip(name)
    work = tmp_path_factory.mktemp(f"peer-{name}")
    version = Workspace.open(demo_master).versions()[-1]
    export = export_to_stack(demo_master, version, name, work / "export").path
    with servers.serve(name, peer, export, work) as running:
        yield running


def test_peer_reproduces_the_package_predictions(
    served: servers.Running, packages: tuple[LoadedPackage, LoadedPackage]
) -> None:
    right, wrong = packages
    rows = right.request_rows(ROWS)
    started = time.monotonic()
    got = np.asarray(servers.predict(served, right.schema, rows), dtype=np.float64)
    assert time.monotonic() - started < 60
    assert np.array_equal(got, right.expected[:ROWS]), served.name
    # the other version's predictions differ on these rows: the comparison can fail
    assert not np.allclose(got, wrong.predict(wrong.validate_rows(rows)), atol=1e-6)


def test_mlserver_refuses_a_package_whose_hash_is_not_the_settings(
    demo_master: Path, tmp_path: Path
) -> None:
    peer = _peer_or_skip("mlserver")
    version = Workspace.open(demo_master).versions()[-1]
    export = export_to_stack(demo_master, version, "mlserver", tmp_path / "export").path
    settings = json.loads((export / "model-settings.json").read_text())
    settings["parameters"]["extra"]["package_sha256"] = "0" * 64
    (export / "model-settings.json").write_text(json.dumps(settings))
    with pytest.raises(RuntimeError, match="not 0000"), \
            servers.serve("mlserver", peer, export, tmp_path, timeout_s=60):
        pass


PROTOCOL = {"mlserver": ["--protocol", "oip", "--model", servers.MODEL_NAME],
            "mlflow": ["--protocol", "mlflow"], "bentoml": ["--protocol", "bentoml"]}


def _loadtest(ws: Path, version: str, running: servers.Running) -> dict[str, Any]:
    argv = [sys.executable, "-m", "deployready", "loadtest", "-w", str(ws), "--version", version,
            "--target", running.url, *PROTOCOL[running.name], "--requests", "60",
            "--concurrency", "2", "--max-seconds", "60", "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode in (0, 1), done.stderr  # a verdict, not "could not evaluate"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_loadtest_through_the_cli_is_evidence_for_the_right_package_only(
    served: servers.Running, demo_ws: Path
) -> None:
    old, new = Workspace.open(demo_ws).versions()[-2:]
    right = _loadtest(demo_ws, new, served)["result"]
    assert right["behaviour"]["reproduces"], right["behaviour"]
    assert right["behaviour"]["max_abs_diff"] == 0.0  # the export is exact
    assert right["target"]["evidence_for_package"] is True
    assert right["target"]["protocol"] == PROTOCOL[served.name][1]
    out = _loadtest(demo_ws, old, served)
    wrong = out["result"]
    assert wrong["target"]["evidence_for_package"] is False
    assert not wrong["behaviour"]["reproduces"] and wrong["behaviour"]["mismatches"] > 0
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["prediction consistency"]["status"] == "fail"
    assert "serves another model" in str(checks["prediction consistency"])
