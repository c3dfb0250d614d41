"""The certification history as the Certification page shows it: each run's parsed
evidence next to its checks, and the run the streak is counted up to — decided by the
engine, laid out by the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.certification.checks import append_run, history_evaluations
from deployready.certification.evaluation import RunEvaluation, streak
from deployready.certification.view import CertificationView
from deployready.checks import Category, Check, Status
from deployready.policy import Policy

POLICY = Policy()


def _folds() -> list[dict[str, Any]]:
    return [
        {
            "train_start": "2024-01-01T00:00:00+00:00",
            "train_end": f"2024-02-{i * 3 + 1:02d}T00:00:00+00:00",
            "test_start": f"2024-02-{i * 3 + 2:02d}T00:00:00+00:00",
            "test_end": f"2024-02-{i * 3 + 3:02d}T00:00:00+00:00",
        }
        for i in range(5)
    ]


def _row(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": f"run-{i}",
        "trained_at": f"2024-05-{i:02d}T10:00:00+00:00",
        "roc_auc": 0.88,
        "average_precision": 0.7,
        "brier": 0.11,
        "ece": 0.02,
        "ks": 0.6,
        "cv_metric": "roc_auc",
        "cv_fold_scores": [0.85, 0.86, 0.84, 0.87, 0.85],
        "cv_folds": _folds(),
        "synthetic_ratio": 1.2,
        "noise": 0.01,
        "feature_entropy": {"amount": 0.4, "channel": 0.9},
    }
    row.update(overrides)
    return row


@pytest.fixture(params=["csv", "parquet", "jsonl"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"history.{request.param}"
    for row in (_row(1), _row(2, roc_auc=0.1), _row(3), _row(4), _row(5, noise=0.5)):
        append_run(path, row)
    return path


def test_an_evaluation_carries_the_runs_parsed_evidence(history: Path) -> None:
    """JSON columns arrive parsed whatever the file format: the page reads no column."""
    _, evaluations = history_evaluations(history, POLICY)
    second = evaluations[1]
    assert second.metrics == {"roc_auc": 0.1, "average_precision": 0.7, "brier": 0.11,
                              "ece": 0.02, "ks": 0.6}
    assert second.cv_metric == "roc_auc"
    assert second.cv_fold_scores == [0.85, 0.86, 0.84, 0.87, 0.85]
    assert [f["test_start"] for f in second.cv_folds] == [f["test_start"] for f in _folds()]
    assert second.feature_entropy == {"amount": 0.4, "channel": 0.9}
    assert (second.synthetic_ratio, second.noise) == (1.2, 0.01)
    assert second.failing == ["roc_auc"]
    roc = second.metric_check("roc_auc")
    assert roc is not None and roc.status is Status.FAIL
    assert roc.category is Category.CERTIFICATION
    assert evaluations[4].failing == ["noise"]


def test_a_metric_check_is_found_by_its_name_not_a_prefix() -> None:
    checks = [Check("ks_weighted", Category.CERTIFICATION, Status.FAIL, 0.1, "", ""),
              Check("ks", Category.CERTIFICATION, Status.PASS, 0.6, "", "")]
    run = RunEvaluation("r", "2024-01-01", checks, False, metrics={"ks": 0.6,
                                                                   "ks_weighted": 0.1})
    assert run.metric_check("ks") is checks[1]
    assert run.metric_check("ks_weighted") is checks[0]
    assert run.metric_check("noise") is None  # a check, not a policy metric


def test_the_view_counts_the_streak_up_to_the_packages_run(history: Path) -> None:
    _, evaluations = history_evaluations(history, POLICY)
    view = CertificationView(evaluations, package_run="run-4")
    assert view.run_ids == ["run-1", "run-2", "run-3", "run-4", "run-5"]
    assert view.focus == "run-4" and view.streak == 2 and not view.package_run_missing
    assert view.green == [True, False, True, True, False]
    assert view.metric_values("roc_auc") == [0.88, 0.1, 0.88, 0.88, 0.88]
    assert view.metric_passed("roc_auc") == [True, False, True, True, True]
    assert view.recent(2) == slice(2, 4) and view.recent(40) == slice(0, 4)
    assert view.run("run-2") is evaluations[1]

    newest = CertificationView(evaluations)
    assert newest.focus == "run-5" and newest.streak == 0
    gone = CertificationView(evaluations, package_run="run-9")
    assert gone.package_run_missing and gone.focus == "run-5"
    with pytest.raises(ValueError, match="run-9"):
        gone.index("run-9")
    with pytest.raises(ValueError, match="at least one run"):
        CertificationView([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.data())
def test_the_views_streak_and_window_agree_with_the_history(
    greens: list[bool], data: st.DataObject
) -> None:
    runs = [RunEvaluation(f"r{i}", f"2024-01-{i + 1:02d}", [], g)
            for i, g in enumerate(greens)]
    pick = data.draw(st.one_of(st.none(), st.integers(0, len(greens) - 1)))
    package_run = None if pick is None else f"r{pick}"
    view = CertificationView(runs, package_run=package_run)
    upto = len(greens) - 1 if pick is None else pick
    assert view.focus == f"r{upto}"
    assert view.streak == streak(runs, f"r{upto}")
    count = data.draw(st.integers(1, 40))
    window = view.run_ids[view.recent(count)]
    assert window[-1] == f"r{upto}" and len(window) == min(count, upto + 1)
