"""The maths of production performance against independent references."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from deployready.certification.metrics import REGISTRY
from deployready.checks import Category, Status
from deployready.errors import InputError
from deployready.performance.frame import labels_known_by
from deployready.performance.intervals import (
    CELLS,
    bootstrap_intervals,
    clt_interval,
    count_table,
    delong_interval,
    delong_variance,
    interval_method,
    logit_ap_interval,
)
from deployready.performance.realized import realized_performance
from deployready.performance.weighted import weighted_metric, weighted_metrics
from deployready.policy.sections import Policy

POLICY = Policy()
RULES = POLICY.certification.metrics


def labelled_scores(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2], y[2:4] = 0, 1  # both classes, at least two of each
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + y)))
    if ties:
        p = np.round(p, 1)
    return y, p


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 300), st.booleans())
def test_weighted_metrics_with_unit_weights_equal_scikit_learn(seed: int, n: int, ties: bool):
    y, p = labelled_scores(seed, n, ties)
    for name, spec in REGISTRY.items():
        got = weighted_metric(name, y, p, np.ones((1, n)))[0]
        assert got == pytest.approx(spec.fn(y, p), abs=1e-12), name


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_weighted_metrics_with_counts_equal_the_repeated_rows(seed: int, reps: int) -> None:
    y, p = labelled_scores(seed, 40, ties=True)
    counts = np.random.default_rng(seed).integers(0, reps + 1, 40)
    counts[:4] = 1
    yy, pp = np.repeat(y, counts), np.repeat(p, counts)
    for name, spec in REGISTRY.items():
        got = weighted_metric(name, y, p, counts[None, :])[0]
        assert got == pytest.approx(spec.fn(yy, pp), abs=1e-12), name


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 120), st.booleans(), st.booleans())
def test_many_weightings_at_once_equal_each_repeated_sample(
    seed: int, n: int, ties: bool, soft: bool
) -> None:
    """``weighted_metrics`` (every metric of every weighting row, the curves shared) gives
    each row's figure of the rows repeated by its counts — hard labels, and soft labels
    against the one-row-at-a-time formula."""
    y, p = labelled_scores(seed, n, ties)
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(4, n))
    counts[:, :4] = 1  # both classes in every weighting
    names = list(REGISTRY)
    if soft:
        q = rng.random(n)
        got = weighted_metrics(names, q, p, counts)
        for name in names:
            for row in range(len(counts)):
                one = weighted_metric(name, q, p, counts[row][None, :])[0]
                assert got[name][row] == pytest.approx(one, abs=1e-12), name
        return
    got = weighted_metrics(names, y, p, counts)
    for row in range(len(counts)):
        yy, pp = np.repeat(y, counts[row]), np.repeat(p, counts[row])
        for name, spec in REGISTRY.items():
            assert got[name][row] == pytest.approx(spec.fn(yy, pp), abs=1e-12), (name, row)


def brute_delong(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])  # m × n
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 200), st.booleans())
def test_delong_variance_equals_the_quadratic_reference(seed: int, n: int, ties: bool) -> None:
    y, p = labelled_scores(seed, n, ties)
    auc, var = delong_variance(y, p)
    ref_auc, ref_var = brute_delong(y, p)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert auc == pytest.approx(REGISTRY["roc_auc"].fn(y, p), abs=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-9, abs=1e-15)


def test_interval_coverage_is_roughly_nominal() -> None:
    """Binormal scores (positives N(1, 1), negatives N(0, 1)): true AUC Φ(1/√2); the other
    true values from a million-row sample. 150 data sets of 300 rows each, nominal 95 %:
    DeLong (ROC AUC), CLT (Brier), logit (average precision), the count-table bootstrap
    by exact score (300 distinct scores) and by 100 score cells (accuracy, precision)."""
    rng = np.random.default_rng(7)
    true_auc = float(stats.norm.cdf(1 / np.sqrt(2)))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.4).astype(np.int64)
        return y, 1 / (1 + np.exp(-(rng.normal(size=n) + y - 0.5)))

    big_y, big_p = draw(1_000_000)
    names = ("brier", "average_precision", "accuracy", "precision")
    truth = {name: REGISTRY[name].fn(big_y, big_p) for name in names}
    hits = dict.fromkeys(["roc_auc", *names, "accuracy@100", "precision@100"], 0)
    runs = 150

    def hit(key: str, low: float | None, high: float | None, true: float) -> None:
        assert low is not None and high is not None
        hits[key] += low <= true <= high

    for i in range(runs):
        y, p = draw(300)
        ci = delong_interval(y, p, 0.95)
        hit("roc_auc", ci.low, ci.high, true_auc)
        ci = clt_interval("brier", y, p, 0.95)
        hit("brier", ci.low, ci.high, truth["brier"])
        ap = REGISTRY["average_precision"].fn(y, p)
        ci = logit_ap_interval(ap, int(y.sum()), 0.95)
        hit("average_precision", ci.low, ci.high, truth["average_precision"])
        for cells, tag in ((CELLS, ""), (100, "@100")):
            boot = bootstrap_intervals(["accuracy", "precision"], y, p, confidence=0.95,
                                       resamples=200, seed=i, cells=cells)
            for name in ("accuracy", "precision"):
                hit(name + tag, boot[name].low, boot[name].high, truth[name])
    for key, count in hits.items():
        assert 0.87 <= count / runs <= 0.99, (key, count)


def test_clt_interval_is_the_t_interval_of_the_per_row_losses() -> None:
    y, p = labelled_scores(3, 500, ties=False)
    for name in ("brier", "log_loss"):
        ci = clt_interval(name, y, p, 0.9)
        q = np.clip(p, 1e-15, 1 - 1e-15)
        loss = (p - y) ** 2 if name == "brier" else -(y * np.log(q) + (1 - y) * np.log(1 - q))
        low, high = stats.t.interval(0.9, loss.size - 1, loss.mean(), stats.sem(loss))
        assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-9), name
        assert loss.mean() == pytest.approx(REGISTRY[name].fn(y, p), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 0.99), st.integers(1, 5000))
def test_logit_interval_holds_the_estimate_and_narrows(ap: float, positives: int) -> None:
    ci = logit_ap_interval(ap, positives, 0.95)
    wider = logit_ap_interval(ap, positives, 0.99)
    assert ci.low is not None and ci.high is not None
    assert wider.low is not None and wider.high is not None
    assert 0 < wider.low <= ci.low <= ap <= ci.high <= wider.high < 1
    more = logit_ap_interval(ap, 4 * positives, 0.95)
    assert more.high - more.low < ci.high - ci.low  # type: ignore[operator]
    assert logit_ap_interval(1.0, positives, 0.95).low is None


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 400), st.booleans(),
       st.sampled_from([10, 100, 1000]))
def test_count_table_keeps_the_figures_within_the_stated_bounds(
    seed: int, n: int, ties: bool, cells: int
) -> None:
    """The count table with its row counts as weights: by exact score (at most ``cells``
    distinct scores) every figure equals scikit-learn's; by score cell the confusion
    metrics are exact and the ECE within 1 / cells."""
    y, p = labelled_scores(seed, n, ties)
    labels, scores, rows = count_table(y, p, cells)
    assert rows.sum() == n
    got = weighted_metrics(list(REGISTRY), labels, scores, rows[None, :])
    exact = np.unique(p).size <= cells
    for name, spec in REGISTRY.items():
        if exact or name in ("accuracy", "precision", "recall", "f1"):
            assert got[name][0] == pytest.approx(spec.fn(y, p), abs=1e-12), name
    assert abs(got["ece"][0] - REGISTRY["ece"].fn(y, p)) <= 1 / cells + 1e-12


def test_interval_method_is_one_per_metric() -> None:
    assert {name: interval_method(name) for name in REGISTRY} == {
        "roc_auc": "DeLong", "brier": "CLT", "log_loss": "CLT",
        "average_precision": "logit", "ece": "bootstrap", "ks": "bootstrap",
        "accuracy": "bootstrap", "precision": "bootstrap", "recall": "bootstrap",
        "f1": "bootstrap",
    }


# --------------------------------------------------------------------------- realized


def joined_frame(days: dict[date, tuple[int, int]], seed: int = 0) -> pd.DataFrame:
    """``days``: day → (predictions, labelled)."""
    rng = np.random.default_rng(seed)
    parts = []
    for day, (n, k) in days.items():
        y = (rng.random(n) < 0.3).astype(np.float64)
        p = 1 / (1 + np.exp(-(2.5 * rng.normal(size=n) * 0.5 + 2.5 * y - 1.5)))
        label = y.copy()
        label[k:] = np.nan
        ts = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, n), "s")
        parts.append(pd.DataFrame({
            "request_id": [f"{day}-{i}" for i in range(n)],
            "timestamp": ts,
            "day": [day] * n,
            "prediction": p,
            "label": label,
            "labeled_at": ts + pd.Timedelta(days=5),
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[frame["label"].isna(), "labeled_at"] = pd.NaT
    return frame


NOW = datetime(2025, 3, 1, tzinfo=UTC)


def test_realized_figures_equal_scikit_learn_exactly() -> None:
    d = date(2025, 1, 10)
    frame = joined_frame({d: (2000, 1500)})
    (day,) = realized_performance(frame, RULES, POLICY.performance, NOW)
    labelled = frame[frame["label"].notna()]
    y, p = labelled["label"].to_numpy(np.int64), labelled["prediction"].to_numpy()
    assert day.status in (Status.PASS, Status.FAIL) and not day.provisional
    assert (day.counts.labelled, day.counts.predictions) == (1500, 2000)
    for name in RULES:
        assert day.metrics[name].value == REGISTRY[name].fn(y, p), name  # exactly
        fig = day.metrics[name]
        assert fig.low is not None and fig.high is not None and fig.low <= fig.high
        assert fig.interval == interval_method(name)
    checks = {c.name: c for c in day.checks}
    assert set(checks) == {f"realized_{n}" for n in RULES}
    auc = checks["realized_roc_auc"]
    assert auc.category is Category.PERFORMANCE and auc.value == day.metrics["roc_auc"].value
    assert auc.status is (Status.PASS if auc.value >= 0.8 else Status.FAIL)  # type: ignore[operator]
    assert "DeLong" in auc.message and auc.evidence and auc.evidence.detail["interval"] == "DeLong"


def test_a_model_below_threshold_fails() -> None:
    d = date(2025, 1, 10)
    frame = joined_frame({d: (1000, 800)})
    frame["prediction"] = np.random.default_rng(1).random(len(frame))  # no skill
    (day,) = realized_performance(frame, RULES, POLICY.performance, NOW)
    assert day.status is Status.FAIL
    assert {c.name: c.status for c in day.checks}["realized_roc_auc"] is Status.FAIL


def test_pending_says_how_many_labels_are_needed() -> None:
    days = {date(2025, 1, 1): (1000, 150), date(2025, 1, 2): (5000, 300)}
    few, low_coverage = realized_performance(
        joined_frame(days), RULES, POLICY.performance, NOW, unjoinable={date(2025, 1, 2): 1000}
    )
    assert few.status is Status.PENDING and few.needed == 50 and "50 more" in few.finding
    # 300 of 6000 predictions (unjoinable ones count): 10 % needs 600
    assert low_coverage.counts.predictions == 6000
    assert low_coverage.status is Status.PENDING and low_coverage.needed == 300
    assert all(c.status is Status.PENDING and c.value is None for c in few.checks)


def test_provisional_until_the_label_window_has_passed() -> None:
    d = date(2025, 1, 10)
    frame = joined_frame({d: (1000, 800)})
    window = POLICY.performance.label_window_days
    just_before = datetime(2025, 1, 10 + window, 23, 59, tzinfo=UTC)
    on_time = datetime(2025, 1, 11 + window, tzinfo=UTC)
    (early,) = realized_performance(frame, RULES, POLICY.performance, just_before)
    (final,) = realized_performance(frame, RULES, POLICY.performance, on_time)
    assert early.provisional and "provisional until 2025-01-25" in early.finding
    assert not final.provisional and "provisional" not in final.finding


def test_bad_frame_names_the_column() -> None:
    frame = joined_frame({date(2025, 1, 1): (10, 5)})
    with pytest.raises(InputError, match="labeled_at"):
        realized_performance(frame.drop(columns="labeled_at"), RULES, POLICY.performance, NOW)
    frame.loc[3, "label"] = 2.0
    with pytest.raises(InputError) as info:
        realized_performance(frame, RULES, POLICY.performance, NOW)
    assert info.value.location == "label, row 3"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), hours=st.integers(-24, 24 * 10), naive=st.booleans())
def test_labels_known_by_keeps_exactly_the_labels_of_then(seed: int, hours: int,
                                                          naive: bool) -> None:
    d = date(2025, 1, 10)
    frame = joined_frame({d: (300, 200)}, seed=seed)
    frame["labeled_at"] += pd.to_timedelta(
        np.random.default_rng(seed).integers(0, 10 * 86_400, len(frame)), "s")
    now = datetime(2025, 1, 15, tzinfo=UTC) + pd.Timedelta(hours=hours)
    seen = labels_known_by(frame, now.replace(tzinfo=None) if naive else now)  # naive: UTC
    known = (frame["labeled_at"] <= now).to_numpy()
    assert (seen["label"].notna().to_numpy() == known).all()
    assert (seen["labeled_at"].notna().to_numpy() == known).all()
    assert seen[known].equals(frame[known])
    assert seen.drop(columns=["label", "labeled_at"]).equals(
        frame.drop(columns=["label", "labeled_at"]))
    assert labels_known_by(frame, None) is frame
    assert labels_known_by(frame, datetime(2100, 1, 1, tzinfo=UTC)) is frame
