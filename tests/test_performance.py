"""Estimated performance (CBPE), importance stability, the retrain decision and the API,
on synthetic data and on a real exported model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.certification.metrics import REGISTRY
from deployready.checks import Category, Check, Status
from deployready.errors import InputError
from deployready.package.load import load_package
from deployready.performance.api import PerformanceReport, performance_report
from deployready.performance.estimated import (
    CLEAR_GAIN,
    NO_HOLDOUT,
    estimated_performance,
    fit_calibrator,
    noise_floor,
    use_calibration,
)
from deployready.performance.importance import compare_importance, importance_stability
from deployready.performance.join import utc_days
from deployready.performance.realized import realized_performance
from deployready.performance.retrain import retrain_decision
from deployready.policy.sections import Policy
from deployready.workspace import Workspace
from tests.test_artifacts import FEATURES, export, fit, make_frame
from tests.test_performance_maths import joined_frame

POLICY = Policy()
RULES = POLICY.certification.metrics
PERF = POLICY.performance
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def calibrated(n: int, rng: np.random.Generator, a: float = 2.0, b: float = 5.0):
    p = rng.beta(a, b, n)
    return p, (rng.random(n) < p).astype(np.int64)


def test_expected_metrics_equal_realized_in_expectation_when_calibrated() -> None:
    """Perfectly calibrated scores: the estimate of each day equals, on average over
    days, the metric computed with the labels."""
    rng = np.random.default_rng(11)
    hp, hy = calibrated(20_000, rng, 1.0, 1.0)
    calibrator = fit_calibrator(pd.DataFrame({"score": hp, "label": hy}), PERF)
    assert calibrator.reliable and calibrator.error is not None and calibrator.error < 0.02
    names = ["roc_auc", "average_precision", "brier", "ks"]
    rules = {n: RULES[n] for n in names}
    realized, estimates = {n: [] for n in names}, {n: [] for n in names}
    days = [date(2025, 1, d) for d in range(1, 31)]
    parts = []
    for d in days:
        p, y = calibrated(2000, rng)
        parts.append(pd.DataFrame({"request_id": [f"{d}-{i}" for i in range(2000)],
                                   "timestamp": pd.Timestamp(d, tz="UTC"), "day": d,
                                   "prediction": p, "label": y.astype(float),
                                   "labeled_at": pd.Timestamp(d, tz="UTC")}))
        for n in names:
            realized[n].append(REGISTRY[n].fn(y, p))
    frame = pd.concat(parts, ignore_index=True)
    for day in estimated_performance(frame, calibrator, rules):
        for n in names:
            estimates[n].append(day.values[n])
    for n in ("roc_auc", "average_precision", "brier"):
        assert np.mean(estimates[n]) == pytest.approx(np.mean(realized[n]), abs=0.01), n
    # KS is a maximum: the realized KS of 2000 rows overshoots the population's by its
    # sampling noise, the estimate does not
    assert 0 < np.mean(realized["ks"]) - np.mean(estimates["ks"]) < 0.04


def test_estimate_below_threshold_is_a_warning() -> None:
    rng = np.random.default_rng(2)
    hp, hy = calibrated(5000, rng, 1.0, 1.0)
    calibrator = fit_calibrator(pd.DataFrame({"score": hp, "label": hy}), PERF)
    frame = joined_frame({date(2025, 1, 1): (1000, 0)})
    frame["prediction"] = rng.beta(5, 5, len(frame))  # scores bunched in the middle: low AUC
    (day,) = estimated_performance(frame, calibrator, RULES)
    checks = {c.name: c for c in day.checks}
    auc = checks["estimated_roc_auc"]
    assert auc.status is Status.WARN and auc.value is not None and auc.value < 0.8
    assert "a warning" in auc.message and auc.category is Category.PERFORMANCE
    assert day.status is Status.WARN
    assert Status.FAIL not in {c.status for c in day.checks}


def test_no_or_unreliable_calibration_shows_no_number() -> None:
    frame = joined_frame({date(2025, 1, 1): (500, 0)})
    (none,) = estimated_performance(frame, fit_calibrator(None, PERF), RULES)
    assert all(c.status is Status.PENDING and c.value is None for c in none.checks)
    assert none.checks[0].message == NO_HOLDOUT
    rng = np.random.default_rng(3)
    hp, hy = calibrated(5000, rng, 1.0, 1.0)
    holdout = pd.DataFrame({"score": hp, "label": hy})
    strict = replace(PERF, max_calibration_error=0.0001)
    (bad,) = estimated_performance(frame, fit_calibrator(holdout, strict), RULES)
    assert all(c.status is Status.PENDING and c.value is None for c in bad.checks)
    assert "unreliable" in bad.checks[0].message and "calibration error" in bad.checks[0].message
    small = fit_calibrator(holdout.iloc[:50], PERF)
    assert not small.reliable and "50 labelled holdout rows" in small.reason


# --------------------------------------------------------------------------- importance


def test_compare_importance() -> None:
    ref = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert compare_importance(ref, ref, 2) == (pytest.approx(1.0), 1.0)
    rho, overlap = compare_importance(ref, {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, 2)
    assert rho == pytest.approx(-1.0) and overlap == 0.0
    assert compare_importance(ref, dict.fromkeys(ref, 0.0), 2)[0] is None


# --------------------------------------------------------------------------- retrain


def _day_status(status: Status, day: int) -> Any:
    frame = joined_frame({date(2025, 1, day): (400, 300)}, seed=day)
    if status is Status.FAIL:
        frame["prediction"] = np.random.default_rng(day).random(len(frame))
    (result,) = realized_performance(frame, {"roc_auc": RULES["roc_auc"]}, PERF, NOW)
    assert result.status is status
    return result


def drift_check(name: str, status: Status) -> Check:
    return Check(name, Category.DAILY, status, 0.3, "< 0.25", "PSI")


@pytest.mark.parametrize(
    ("failed", "red", "new", "expected"),
    [
        (0, False, 5000, "no retrain"),
        (0, True, 5000, "watch"),
        (1, False, 5000, "watch"),
        (1, True, 5000, "retrain"),
        (3, False, 5000, "retrain"),
        (3, False, 10, "watch"),
    ],
)
def test_retrain_decision(failed: int, red: bool, new: int, expected: str) -> None:
    days = [_day_status(Status.FAIL, d) for d in range(1, failed + 1)]
    days += [_day_status(Status.PASS, 20)]
    drift = [drift_check("amount", Status.FAIL if red else Status.PASS)]
    decision = retrain_decision(days, [], drift, [], new, PERF)
    assert decision.recommendation == expected, decision.reasons
    assert any(f"{new} labelled" in r for r in decision.reasons)
    if expected == "watch" and failed >= 3:
        assert any("not enough new labelled data" in r for r in decision.reasons)
    if red:
        assert "red PSI: amount" in decision.reasons


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    data = make_frame(3000, seed=5)
    ws = Workspace.open(tmp_path_factory.mktemp("ws"))
    export(ws.models_dir, fit(data.iloc[:1500]), data.iloc[:1500], holdout=data.iloc[1500:2500])
    return ws, make_frame(2000, seed=9)


def production(ws: Workspace, rows: pd.DataFrame) -> pd.DataFrame:
    """A real model's predictions on 2 days of rows, labelled by the rows' target
    (day 2 only half labelled)."""
    package = load_package(ws.package_path("v1.0"))
    p = package.predict(rows[FEATURES])
    day = np.where(np.arange(len(rows)) < 1000, 0, 1)
    ts = pd.Timestamp("2025-02-01", tz="UTC") + pd.to_timedelta(day, "D")
    label = rows["target"].to_numpy(np.float64)
    label[1500:] = np.nan
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(len(rows))], "timestamp": ts,
        "day": [t.date() for t in ts], "prediction": p, "label": label,
        "labeled_at": ts + pd.Timedelta(days=4),
    })


def test_report_on_a_real_model(workspace: tuple[Workspace, pd.DataFrame]) -> None:
    ws, rows = workspace
    joined = production(ws, rows)
    report = performance_report(ws, "v1.0", now=NOW, joined=joined, feature_rows=rows[FEATURES],
                                drift_checks=[drift_check("amount", Status.PASS)])
    assert isinstance(report, PerformanceReport) and len(report.realized) == 2
    first = report.realized[0]
    labelled = joined[(joined["day"] == first.day) & joined["label"].notna()]
    y, p = labelled["label"].to_numpy(np.int64), labelled["prediction"].to_numpy()
    for name in RULES:
        assert first.metrics[name].value == REGISTRY[name].fn(y, p)  # exactly scikit-learn
    assert report.realized[1].counts.labelled == 500 and not first.provisional
    assert report.calibration.rows == 1000 and report.calibration.reliable
    assert report.estimate_error["roc_auc"] is not None
    assert report.estimate_error["roc_auc"] < 0.05  # same population: the estimate is close
    assert report.importance is not None
    rho = report.importance.rank_correlation
    assert rho is not None and rho > 0.5  # same population: same features matter
    names = {c.name for c in report.checks}
    assert {"realized_roc_auc", "estimated_roc_auc", "importance_rank_correlation"} <= names
    assert report.retrain.recommendation in ("no retrain", "watch", "retrain")
    assert report.retrain.signals["new_labels"] == 1500  # all after the cut-off


def test_report_range_and_provisional(workspace: tuple[Workspace, pd.DataFrame]) -> None:
    ws, rows = workspace
    joined = production(ws, rows)
    report = performance_report(ws, "v1.0", start="2025-02-02", now=datetime(2025, 2, 5,
                                tzinfo=UTC), joined=joined)
    (day,) = report.realized
    assert day.day == date(2025, 2, 2) and day.provisional
    assert report.start == date(2025, 2, 2) and report.end == date(2025, 2, 2)
    # no production logs in this workspace: no rows to explain this week, said so
    assert report.importance is not None
    assert {c.status for c in report.importance.checks} == {Status.PENDING}


def test_shuffled_importances_fail(workspace: tuple[Workspace, pd.DataFrame]) -> None:
    ws, rows = workspace
    package = load_package(ws.package_path("v1.0"))
    moved = rows[FEATURES].copy()
    moved["amount"] = 100.0  # the strongest feature no longer varies
    result = importance_stability(package, moved, PERF)
    checks = {c.name: c for c in result.checks}
    assert result.production["amount"] == pytest.approx(0.0, abs=1e-12)
    assert checks["importance_top_k_overlap"].value is not None
    assert checks["importance_rank_correlation"].status is Status.FAIL, result.rank_correlation
    empty = importance_stability(package, rows.iloc[0:0], PERF)
    assert {c.status for c in empty.checks} == {Status.PENDING}


def test_api_without_joined_predictions_reads_the_workspace(
    workspace: tuple[Workspace, pd.DataFrame],
) -> None:
    """No logs, no labels: the report joins them itself and finds no day to judge."""
    ws, _ = workspace
    report = performance_report(ws, "v1.0", "2025-02-01", "2025-02-02", now=NOW)
    assert report.realized == [] and report.estimated == []
    assert report.retrain.signals["new_labels"] == 0
    with pytest.raises(InputError) as info:
        performance_report(ws, "v1.0", "2025-02-03", "2025-02-01", now=NOW)
    assert info.value.location == "--start"


def test_calibration_is_used_only_when_it_clearly_helps() -> None:
    """Calibrated scores on the holdout: isotonic calibration does not clearly lower the
    cross-fitted error, the raw scores are CBPE's probabilities. Scores squashed towards
    the middle (p ↦ 0.25 + p / 2): calibration clearly helps and is used. The record and
    every estimated check say which scores were used and why."""
    rng = np.random.default_rng(5)
    hp, hy = calibrated(5000, rng, 1.0, 1.0)
    raw = fit_calibrator(pd.DataFrame({"score": hp, "label": hy}), PERF)
    assert raw.reliable and not raw.calibrated and raw.raw_error is not None
    assert raw.error == raw.raw_error  # the reliability rule judges the scores used
    assert "raw scores" in raw.choice
    scores = rng.random(50)
    assert np.array_equal(raw.calibrate(scores), scores)
    squashed = fit_calibrator(pd.DataFrame({"score": 0.25 + hp / 2, "label": hy}), PERF)
    assert squashed.calibrated and squashed.reliable and "isotonic" in squashed.choice
    assert squashed.raw_error is not None and squashed.error is not None
    assert squashed.error < squashed.raw_error
    frame = joined_frame({date(2025, 1, 1): (500, 0)})
    for cal in (raw, squashed):
        (day,) = estimated_performance(frame, cal, RULES)
        for check in day.checks:
            assert check.evidence is not None
            assert check.evidence.detail["calibrated"] is cal.calibrated
            assert cal.choice in check.message


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0, 0.1))
def test_one_rule_decides_calibration(raw: float, calibrated: float, noise: float) -> None:
    """Calibrate only when the calibrated error is clearly lower: never when it is not
    lower by the noise floor, always when it is lower by more than it and the margin."""
    use = use_calibration(raw, calibrated, noise)
    if raw - calibrated <= noise:
        assert not use
    if raw - calibrated > max(CLEAR_GAIN, noise):
        assert use


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([500, 5000]))
def test_noise_floor_is_the_mean_ece_of_calibrated_scores(seed: int, n: int) -> None:
    """Labels drawn from the scores themselves: the noise floor is, to within a fifth,
    the ECE such scores show on average (over 200 draws of the labels)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    eces = [REGISTRY["ece"].fn((rng.random(n) < p).astype(np.int64), p) for _ in range(200)]
    assert noise_floor(p) == pytest.approx(float(np.mean(eces)), rel=0.2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-2_000_000_000, 4_000_000_000), min_size=0, max_size=60))
def test_utc_days_are_the_dates_of_the_timestamps(seconds: list[int]) -> None:
    """The vectorised ``day`` column equals each UTC timestamp's ``.date()`` — a
    ``datetime.date``, as the contract of the joined frame says."""
    ts = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).dt.tz_convert("Europe/Paris")
    days = utc_days(ts)
    expected = [t.tz_convert("UTC").date() for t in ts]
    assert list(days) == expected and days.dtype == object
    assert all(type(d) is date for d in days)
