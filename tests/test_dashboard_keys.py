"""The keys the dashboard caches readiness answers under: every evidence file, and nothing
the engine derives from it (its caches)."""

from __future__ import annotations

from pathlib import Path

from dashboard import ui
from deployready.workspace import Workspace


def test_a_cache_written_under_data_is_not_evidence(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    version = ws.versions()[-1]
    before = ui.evidence_signature(ws, version)
    key = ui.evidence_key(ws, version)
    cache = ws.data_dir / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "certification-history.parquet").write_bytes(b"derived, not evidence")
    (cache / "nested").mkdir()
    (cache / "nested" / "drift-history-v1.npz").write_bytes(b"derived")
    assert ui.evidence_signature(ws, version) == before
    assert ui.evidence_key(ws, version) == key


def test_every_evidence_file_is_in_the_key(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    version = ws.versions()[-1]
    key = ui.evidence_key(ws, version)
    assert ui.evidence_key(ws, version) == key  # stable while nothing changes
    logs = sorted(ws.production_dir.glob("*.csv"))
    extra = logs[-1].with_name("predictions-2099-01-01.csv")
    extra.write_bytes(logs[-1].read_bytes())
    added = ui.evidence_key(ws, version)
    assert added != key
    extra.unlink()
    assert ui.evidence_key(ws, version) == key
    history = ws.history_path()
    assert history is not None
    history.write_bytes(history.read_bytes() + b"\n")
    assert ui.evidence_key(ws, version) != key
    assert ui.evidence_key(ws, ws.versions()[0]) != ui.evidence_key(ws, version)
