"""kill -9 during ``export_package``: no partial version, dead temp folders swept, next ok."""

from __future__ import annotations

import fcntl
import os
import random
import time
from pathlib import Path

import pytest

from crash.support import POLICY, child, dataset, export, fitted
from deployready.package.manifest import package_sha256
from deployready.package.staging import LOCK_FILE, TMP_PREFIX
from deployready.package.validate import validate_package
from deployready.package.versioning import next_version
from deployready.score import compute_score
from deployready.workspace import Workspace

ATTEMPTS = 3
EXPORTS_PER_CHILD = 6
DELAY_S = 0.15  # per predict_proba call of the exported model: ~1 s an export


def _tmp_folders(models: Path) -> list[Path]:
    return sorted(p for p in models.iterdir() if p.name.startswith(TMP_PREFIX))


def _assert_only_complete_versions(ws: Workspace, reported: list[str]) -> None:
    versions = ws.versions()
    assert set(reported) <= set(versions), (reported, versions)
    # at most one export may have renamed its folder without living to report it
    assert len(versions) - len(reported) in (0, 1), (reported, versions)
    for version in versions:
        report = validate_package(ws.package_path(version))
        assert report.valid, (version, [f.message for f in report.errors])
    assert not any(v.startswith(TMP_PREFIX) for v in versions)
    assert ws.latest_version() == (versions[-1] if versions else None)


def _lock_is_free(models: Path) -> bool:
    with open(models / LOCK_FILE, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


def _export_next(ws: Workspace, seed: int) -> str:
    """Export a new model in this process; it must get the next minor (or the first) version."""
    previous = ws.latest_version()
    frame, features = dataset()
    model, scaler = fitted(frame, features, c=10.0 + seed)
    info = export(ws.models_dir, model, scaler, frame, features)
    expected = next_version(previous, "minor" if previous else "initial")
    assert info.version == expected, (info.version, expected)
    assert validate_package(info.path).valid
    return info.version


@pytest.fixture
def empty_ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "models").mkdir(parents=True)
    (root / "deployready.toml").write_text(POLICY)
    return Workspace(root)


def test_kill_during_exports_leaves_only_complete_versions(empty_ws: Workspace) -> None:
    ws = empty_ws
    rng = random.Random(20260301)
    models = ws.models_dir
    reported: list[str] = []
    stale_seen: set[Path] = set()
    for _attempt in range(ATTEMPTS):
        with child("export", str(models), str(EXPORTS_PER_CHILD), str(DELAY_S)) as proc:
            proc.wait_for("begin", timeout=90)
            time.sleep(rng.uniform(0.05, 2.5))  # somewhere in the first or second export
            proc.kill9()
            reported += proc.reported("done")
        _assert_only_complete_versions(ws, reported)
        assert _lock_is_free(models), "a killed exporter's lock must die with it"
        reported = ws.versions()  # complete, whether the child lived to report it or not
        # the dead export's folder stays until the next export (the next child's) sweeps it
        stale_seen.update(_tmp_folders(models))
        if ws.versions():  # the score reads only complete packages, whatever lies beside them
            readiness = compute_score(ws, ws.versions()[-1])
            assert readiness.package_sha256 == package_sha256(ws.package_path(ws.versions()[-1]))
    assert stale_seen, "no kill landed while a package was being built"

    version = _export_next(ws, seed=1)
    assert version in ws.versions()
    assert _tmp_folders(models) == [], "the next export must sweep the dead exports' folders"
    assert not any(p.exists() for p in stale_seen)
    _assert_only_complete_versions(ws, [*reported, version])


def test_kill_while_holding_the_export_lock_does_not_block(empty_ws: Workspace) -> None:
    ws = empty_ws
    models = ws.models_dir
    with child("lock", str(models)) as proc:
        proc.wait_for("locked", timeout=60)
        assert not _lock_is_free(models)  # the child really holds it
        proc.kill9()
    assert _lock_is_free(models)
    assert _export_next(ws, seed=2) == "v1.0"


def test_live_export_folder_is_not_swept(empty_ws: Workspace) -> None:
    ws = empty_ws
    """A temporary folder whose exporter is alive is left alone; a dead one is removed."""
    models = ws.models_dir
    with child("claim", str(models)) as live:
        live.wait_for("claimed", timeout=60)
        live_tmp = _tmp_folders(models)
        assert len(live_tmp) == 1
        dead_tmp = models / f"{TMP_PREFIX}deadbeef"
        dead_tmp.mkdir()
        (dead_tmp / "model.pkl").write_bytes(os.urandom(64))
        _export_next(ws, seed=3)
        assert _tmp_folders(models) == live_tmp  # the live one survives the sweep
        assert not dead_tmp.exists()
        live.kill9()
    _export_next(ws, seed=4)
    assert _tmp_folders(models) == []
    assert ws.versions() == ["v1.0", "v1.1"]
