"""Values kept across processes in the workspace's cache folder: the log index (the
logs' narrow rows, for the label join) and the production SHAP importances. A stale
entry is never used (a changed log file or sample is computed again), a corrupt one is
computed again, and a folder that cannot be written still answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deployready.memo import CACHE_DIR, cache_path
from deployready.monitoring.log_index import INDEX_NAME, narrow_rows
from deployready.monitoring.logs import ProductionLogs
from deployready.monitoring.logs_file import read_log_file
from deployready.package.load import load_package
from deployready.performance.importance import importance_stability
from deployready.performance.join import joined_predictions
from deployready.policy.sections import Policy
from deployready.workspace import Workspace
from tests.test_artifacts import FEATURES, export, fit, make_frame

PERF = Policy().performance
HEADER = "timestamp,version,latency_ms,prediction,error,request_id\n"


def _log(path: Path, day: str, n: int, start: int = 0, version: str = "v1.0") -> None:
    lines = [f"{day}T{h % 24:02d}:00:{i % 60:02d}Z,{version},3.5,{(i % 97) / 97},"
             f"{'timeout' if i % 11 == 0 else ''},{'' if i % 13 == 0 else f'{day}-{i}'}\n"
             for i, h in zip(range(start, start + n), range(start, start + n), strict=True)]
    new = not path.exists()
    with path.open("a") as out:
        out.write((HEADER if new else "") + "".join(lines))


def _direct(files: list[Path]) -> pd.DataFrame:
    """The same narrow rows from a direct read of every file (no index)."""
    parts = [read_log_file(p, {}) for p in files]
    f = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({
        "timestamp": f["timestamp"].astype("datetime64[ns, UTC]"),
        "version": f["version"].astype(object), "prediction": f["prediction"],
        "ok": (f["error"] == "").to_numpy(), "request_id": f["request_id"],
    })


def _rows(ws: Workspace) -> pd.DataFrame:
    logs = ProductionLogs(ws.production_dir, {})
    return narrow_rows(logs.files, logs.states, ws.root)


@pytest.fixture
def logs_ws(tmp_path: Path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.production_dir.mkdir(parents=True)
    for k in range(3):
        _log(ws.production_dir / f"predictions-2025-01-0{k + 1}.csv", f"2025-01-0{k + 1}", 40)
    return ws


def _equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)


def test_index_equals_a_direct_read_and_is_reused(logs_ws: Workspace) -> None:
    files = sorted(logs_ws.production_dir.glob("*.csv"))
    first = _rows(logs_ws)
    index = cache_path(logs_ws.root, INDEX_NAME)
    assert index.exists()
    _equal(first, _direct(files))
    assert first["request_id"].isna().any() and not first["ok"].all()
    stamp = index.stat().st_mtime_ns
    _equal(_rows(logs_ws), first)
    assert index.stat().st_mtime_ns == stamp  # nothing changed: not rewritten


def test_a_grown_or_rewritten_or_new_log_file_is_read_again(logs_ws: Workspace) -> None:
    _rows(logs_ws)
    day2 = logs_ws.production_dir / "predictions-2025-01-02.csv"
    _log(day2, "2025-01-02", 5, start=40)  # grew
    day1 = logs_ws.production_dir / "predictions-2025-01-01.csv"
    text = day1.read_text().replace(",v1.0,", ",v1.1,")
    day1.write_text(text)  # rewritten, same size
    os.utime(day1, ns=(day1.stat().st_atime_ns, day1.stat().st_mtime_ns + 1_000_000))
    _log(logs_ws.production_dir / "predictions-2025-01-04.csv", "2025-01-04", 7)  # new
    (logs_ws.production_dir / "predictions-2025-01-03.csv").unlink()  # gone
    files = sorted(logs_ws.production_dir.glob("*.csv"))
    got = _rows(logs_ws)
    _equal(got, _direct(files))
    assert set(got["version"]) == {"v1.0", "v1.1"} and len(got) == 40 + 45 + 7


def test_a_corrupt_or_foreign_index_is_rebuilt(logs_ws: Workspace) -> None:
    files = sorted(logs_ws.production_dir.glob("*.csv"))
    index = cache_path(logs_ws.root, INDEX_NAME)
    index.parent.mkdir(parents=True)
    for junk in (b"not an npz", b""):
        index.write_bytes(junk)
        _equal(_rows(logs_ws), _direct(files))
        assert np.load(index, allow_pickle=False)["files"].size == len(files)
    # arrays of the right names but inconsistent lengths: ignored, rebuilt
    np.savez(index, format=np.array([1]), files=np.array([str(f) for f in files]),
             keys=np.zeros((3, 3), dtype=np.int64), offsets=np.array([0, 1, 2, 3]),
             ts=np.zeros(1, np.int64), version=np.array(["v9"]), prediction=np.zeros(1),
             ok=np.ones(1, bool), request_id=np.array(["x"]))
    _equal(_rows(logs_ws), _direct(files))


def test_an_unwritable_cache_folder_still_answers(logs_ws: Workspace) -> None:
    files = sorted(logs_ws.production_dir.glob("*.csv"))
    (logs_ws.root / CACHE_DIR).write_text("a file where the cache folder would be")
    _equal(_rows(logs_ws), _direct(files))
    assert (logs_ws.root / CACHE_DIR).is_file()


def test_the_join_counts_from_the_index_as_from_the_files(logs_ws: Workspace) -> None:
    labels = logs_ws.labels_dir
    labels.mkdir(parents=True)
    (labels / "labels.csv").write_text(
        "request_id,label,labeled_at\n2025-01-01-1,1,2025-01-05T00:00:00Z\n"
        "2025-01-02-2,0,2025-01-05T00:00:00Z\nnowhere,1,2025-01-05T00:00:00Z\n")
    first = joined_predictions(logs_ws, "v1.0", engine="pandas")
    assert cache_path(logs_ws.root, INDEX_NAME).exists()
    duck = joined_predictions(logs_ws, "v1.0", engine="duckdb")
    again = joined_predictions(logs_ws, "v1.0", engine="pandas")
    for got in (first, again):
        pd.testing.assert_frame_equal(got.frame, duck.frame)
        assert got.unmatched == duck.unmatched == 1 and got.labelled == 2
        pd.testing.assert_series_equal(got.no_id, duck.no_id, check_dtype=False,
                                       check_names=False)
    # a changed label file is read again (labels are never cached)
    (labels / "labels.csv").write_text("request_id,label,labeled_at\n"
                                       "2025-01-03-3,1,2025-01-05T00:00:00Z\n")
    assert joined_predictions(logs_ws, "v1.0", engine="pandas").unmatched == 0


# ------------------------------------------------------------------ SHAP importances


@pytest.fixture(scope="module")
def package_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    data = make_frame(1200, seed=5)
    ws = Workspace.open(tmp_path_factory.mktemp("ws"))
    export(ws.models_dir, fit(data.iloc[:800]), data.iloc[:800], holdout=data.iloc[800:])
    return ws, make_frame(300, seed=9)[FEATURES]


def _cached_files(root: Path) -> list[Path]:
    return sorted((root / CACHE_DIR).glob("importance-*.json"))


def test_importances_are_kept_by_package_and_sample(
        package_ws: tuple[Workspace, pd.DataFrame], tmp_path: Path) -> None:
    ws, rows = package_ws
    package = load_package(ws.package_path("v1.0"))
    plain = importance_stability(package, rows, PERF)
    kept = importance_stability(package, rows, PERF, cache_root=tmp_path)
    assert kept == plain
    (entry,) = _cached_files(tmp_path)
    # the stored entry is what a later process answers with: edit it and see it used
    stored = json.loads(entry.read_text())
    stored["production"] = {f: float(i) for i, f in enumerate(package.features)}
    entry.write_text(json.dumps(stored))
    again = importance_stability(package, rows, PERF, cache_root=tmp_path)
    assert again.production == stored["production"] and again.rows_explained == plain.rows_explained
    # another sample (one value changed) is another key: computed, not the edited entry
    moved = rows.copy()
    moved.iloc[0, 0] = float(moved.iloc[0, 0]) + 1.0
    other = importance_stability(package, moved, PERF, cache_root=tmp_path)
    assert other == importance_stability(package, moved, PERF)
    assert len(_cached_files(tmp_path)) == 2


@pytest.mark.parametrize("junk", ["", "{", "[]", '{"key": "x"}',
                                  '{"key": null, "production": {"a": "NaN"}}'])
def test_a_corrupt_importance_entry_is_computed_again(
        package_ws: tuple[Workspace, pd.DataFrame], tmp_path: Path, junk: str) -> None:
    ws, rows = package_ws
    package = load_package(ws.package_path("v1.0"))
    plain = importance_stability(package, rows, PERF, cache_root=tmp_path)
    (entry,) = _cached_files(tmp_path)
    entry.write_text(junk)
    assert importance_stability(package, rows, PERF, cache_root=tmp_path) == plain
    assert json.loads(entry.read_text())["production"] == plain.production  # repaired


def test_importances_without_a_writable_cache(
        package_ws: tuple[Workspace, pd.DataFrame], tmp_path: Path) -> None:
    ws, rows = package_ws
    package = load_package(ws.package_path("v1.0"))
    blocked = tmp_path / "root"
    blocked.mkdir()
    (blocked / CACHE_DIR).write_text("not a folder")
    assert importance_stability(package, rows, PERF, cache_root=blocked) == \
        importance_stability(package, rows, PERF)
