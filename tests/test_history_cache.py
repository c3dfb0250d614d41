"""The certification history's evaluations kept on disk: the same answer as evaluating the
history, and never a stale one."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.certification.evaluation import evaluate_history
from deployready.certification.history import load_history
from deployready.certification.history_cache import (
    CACHE_VERSION,
    HISTORY_MEMO,
    cache_path,
    history_evaluations,
)
from deployready.certification.runs import RunEvaluations
from deployready.policy import CertificationPolicy, CVPolicy, MetricRule, Policy

POLICY = Policy(
    certification=CertificationPolicy(
        metrics={"roc_auc": MetricRule("higher", 0.75), "log_loss": MetricRule("lower", 0.6)},
        consecutive_green=2,
        cv=CVPolicy(min_folds=3),
    )
)


def _fold(i: int, score: float) -> dict[str, Any]:
    return {
        "fold": i,
        "train_start": "2024-01-01T00:00:00+00:00",
        "train_end": f"2024-01-{10 + 2 * i:02d}T00:00:00+00:00",
        "test_start": f"2024-01-{11 + 2 * i:02d}T00:00:00+00:00",
        "test_end": f"2024-01-{12 + 2 * i:02d}T00:00:00+00:00",
        "n_train": 100 * i,
        "n_test": 50,
        "score": score,
    }


def run_row(k: int, auc: float = 0.81, scores: tuple[float, ...] = (0.8, 0.82, 0.81),
            entropy: float = 0.5, ratio: float = 1.0, noise: float = 0.0) -> dict[str, Any]:
    return {
        "run_id": f"run-{k:05d}",
        "trained_at": f"2024-02-{1 + k % 27:02d}T{k % 24:02d}:00:00+00:00",
        "roc_auc": auc,
        "log_loss": 0.45,
        "cv_metric": "roc_auc",
        "cv_fold_scores": json.dumps(list(scores)),
        "cv_folds": json.dumps([_fold(i + 1, s) for i, s in enumerate(scores)]),
        "synthetic_ratio": ratio,
        "noise": noise,
        "feature_entropy": json.dumps({"a": entropy, "b": 0.9}),
        "n_train": 700,
        "n_test": "",
        "notes": "scheduled",
    }


def write(root: Path, rows: list[dict[str, Any]]) -> Path:
    path = root / "data" / "certification" / "history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def fresh(path: Path, policy: Policy = POLICY) -> tuple[pd.DataFrame, list[Any]]:
    """As a new process sees it: nothing remembered in memory."""
    HISTORY_MEMO.clear()
    return history_evaluations(path, policy)


def evaluated(path: Path, policy: Policy = POLICY) -> tuple[pd.DataFrame, list[Any]]:
    history = load_history(path, policy)
    return history, evaluate_history(history, policy)


def same(got: tuple[pd.DataFrame, list[Any]], want: tuple[pd.DataFrame, list[Any]]) -> None:
    pd.testing.assert_frame_equal(got[0], want[0])
    assert got[0].to_dict("records") == want[0].to_dict("records")
    assert list(got[0].index) == list(want[0].index)
    assert got[1] == want[1]


runs = st.builds(
    run_row,
    k=st.integers(min_value=0, max_value=10**4),
    auc=st.floats(min_value=0.0, max_value=1.0),
    scores=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=6).map(tuple),
    entropy=st.floats(min_value=0.0, max_value=1.0),
    ratio=st.floats(min_value=1.0, max_value=3.0),
    noise=st.floats(min_value=0.0, max_value=2.0),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(runs, min_size=1, max_size=8, unique_by=lambda r: r["run_id"]))
def test_cached_answer_is_the_evaluation(tmp_path_factory: Any, rows: list[dict[str, Any]]
                                         ) -> None:
    path = write(tmp_path_factory.mktemp("ws"), rows)
    want = evaluated(path)
    same(fresh(path), want)  # computed, then kept
    target = cache_path(path)
    assert target is not None and target.is_file()
    same(fresh(path), want)  # read back from the cache


def _cache_hit(path: Path) -> bool:
    """Whether a fresh read answered from the cache: it is then not rewritten."""
    target = cache_path(path)
    assert target is not None
    before = target.stat().st_mtime_ns, target.stat().st_ino
    fresh(path)
    return (target.stat().st_mtime_ns, target.stat().st_ino) == before


def test_a_changed_old_row_is_evaluated_again(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k) for k in range(5)])
    fresh(path)
    assert _cache_hit(path)
    stat = path.stat()
    text = path.read_text()
    path.write_text(text.replace("run-00001,2024-02-02T01:00:00+00:00,0.81",
                                 "run-00001,2024-02-02T01:00:00+00:00,0.71"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    assert path.stat().st_size == stat.st_size
    history, evaluations = fresh(path)
    assert [e.green for e in evaluations] == [True, False, True, True, True]
    same((history, evaluations), evaluated(path))


def test_a_policy_change_is_evaluated_again(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k, auc=0.8) for k in range(3)])
    assert all(e.green for e in fresh(path)[1])
    stricter = replace(POLICY, certification=replace(
        POLICY.certification, metrics={**POLICY.certification.metrics,
                                       "roc_auc": MetricRule("higher", 0.9)}))
    got = fresh(path, stricter)
    assert not any(e.green for e in got[1])
    same(got, evaluated(path, stricter))
    assert all(e.green for e in fresh(path)[1])


def test_a_truncated_history_is_evaluated_again(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k) for k in range(4)])
    fresh(path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    got = fresh(path)
    assert len(got[1]) == 3
    same(got, evaluated(path))


def _plant(target: Path, how: str) -> None:
    if how == "garbage":
        target.write_bytes(b"not a parquet file")
    elif how == "truncated":
        target.write_bytes(target.read_bytes()[:200])
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "folder":
        target.unlink()
        target.mkdir()
    else:
        table = pq.read_table(target)
        meta = json.loads(table.schema.metadata[b"deployready.history_cache"])
        if how == "version":
            meta["version"] = CACHE_VERSION + 1
        elif how == "rows":
            meta["rows"] = meta["rows"] + 1
        if how == "status":
            statuses = ["maybe"] * table.num_rows
            table = table.set_column(table.column_names.index("c0:status"), "c0:status",
                                     pa.array(statuses))
        elif how == "cell":
            table = table.set_column(table.column_names.index("h:roc_auc"), "h:roc_auc",
                                     pa.array(["[1,"] * table.num_rows))
        elif how == "column":
            table = table.remove_column(table.column_names.index("green"))
        pq.write_table(table.replace_schema_metadata(
            {b"deployready.history_cache": json.dumps(meta).encode()}), target)


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty", "folder", "version", "rows",
                                 "status", "cell", "column"])
def test_a_corrupt_cache_is_ignored(tmp_path: Path, how: str) -> None:
    path = write(tmp_path, [run_row(k, auc=0.7 + k / 20) for k in range(4)])
    fresh(path)
    target = cache_path(path)
    assert target is not None
    _plant(target, how)
    same(fresh(path), evaluated(path))  # no error, the true answer


def test_a_cache_planted_for_other_bytes_is_not_used(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k, auc=0.9) for k in range(3)])
    fresh(path)
    target = cache_path(path)
    assert target is not None
    planted = target.read_bytes()
    write(tmp_path, [run_row(k, auc=0.5) for k in range(3)])
    target.write_bytes(planted)  # a cache of the green history beside the red one
    assert not any(e.green for e in fresh(path)[1])


def test_an_unwritable_cache_folder_only_means_no_cache(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k) for k in range(3)])
    blocker = tmp_path / "data" / "cache"
    blocker.write_text("a file where the cache folder would be")
    same(fresh(path), evaluated(path))
    assert blocker.read_text().startswith("a file")
    assert not list((tmp_path / "data").glob("**/*.tmp"))


def test_a_history_outside_a_workspace_keeps_no_cache(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    pd.DataFrame([run_row(0)]).to_csv(path, index=False)
    assert cache_path(path) is None
    same(fresh(path), evaluated(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def _reader(path: str, rounds: int) -> None:
    for _ in range(rounds):
        fresh(Path(path))


def test_concurrent_writers_leave_a_valid_cache(tmp_path: Path) -> None:
    path = write(tmp_path, [run_row(k, auc=0.7 + (k % 5) / 20) for k in range(60)])
    target = cache_path(path)
    assert target is not None
    # fresh interpreters (not multiprocessing's spawn, which re-runs whatever script is
    # __main__ — in a full test run, the last page an AppTest ran)
    code = ("import sys; from pathlib import Path; "
            "from tests.test_history_cache import _reader; _reader(sys.argv[1], 6)")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=repo, env=env,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for _ in range(6):  # this process rewrites it too, meanwhile
        fresh(path)
        target.unlink(missing_ok=True)
    for w in workers:
        _, err = w.communicate(timeout=240)
        assert w.returncode == 0, err[-2000:]
    fresh(path)
    assert _cache_hit(path)
    same(fresh(path), evaluated(path))
    assert not list(target.parent.glob("*.tmp"))


def test_cached_columns_are_those_of_the_records(tmp_path: Path) -> None:
    rows = [run_row(k, auc=0.6 + k / 40, scores=(0.8, 0.7 + k / 50, 0.81)) for k in range(12)]
    path = write(tmp_path, rows)
    fresh(path)
    _, cached = fresh(path)  # from the cache: columns first, records when asked for
    records = RunEvaluations.of(list(cached))
    assert cached.run_ids == records.run_ids == [e.run_id for e in cached]
    assert cached.green == records.green == [e.green for e in cached]
    assert cached.failing() == records.failing() == [e.failing for e in cached]
    assert any(cached.failing()) and not all(cached.failing())
    for metric in ("roc_auc", "log_loss", "ks"):
        assert cached.metric_passed(metric) == records.metric_passed(metric)
    for metric in ("roc_auc", "log_loss"):
        assert cached.metric_values(metric) == records.metric_values(metric)
    assert all(math.isnan(v) for v in cached.metric_values("ks"))  # not a policy metric
    assert not any(cached.metric_passed("ks"))
    assert cached.metric_passed("roc_auc") == [0.6 + k / 40 >= 0.75 for k in range(12)]
    assert cached[-1] == cached[len(cached) - 1] and cached[2:4] == list(cached)[2:4]


def test_reading_the_cache_runs_no_garbage_collection(tmp_path: Path) -> None:
    """Decoding a large cache makes hundreds of thousands of objects: a collection pass in
    the middle (the whole heap of a dashboard process, again and again) would cost more
    than the decoding; the collector is paused meanwhile and left as it was."""
    import gc

    path = write(tmp_path, [run_row(k) for k in range(400)])
    want = fresh(path)
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(count)
    try:
        assert gc.isenabled()
        got = fresh(path)
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(count)
    assert _cache_hit(path)
    same(got, want)
    assert len(passes) <= 1, passes  # the one owed when the collector comes back on
