"""The one-sort-per-day kernel of production performance, the bootstrap's multinomial
draws and the day grouping, each against an independent reference: scikit-learn's own
functions (``==``), the quadratic DeLong, CBPE's definitions threshold by threshold, the
row-order count table, the exact multinomial distribution, pandas' groupby."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from deployready.certification.metrics import REGISTRY, expected_calibration_error
from deployready.errors import InputError
from deployready.performance.api import _in_range
from deployready.performance.estimated import (
    Calibrator,
    estimated_performance,
    expected_metrics,
    fit_calibrator,
)
from deployready.performance.frame import day_groups, joined_days
from deployready.performance.intervals import count_table, day_table, delong_variance
from deployready.performance.join import utc_days
from deployready.performance.realized import realized_performance
from deployready.performance.resample import multinomial_draws
from deployready.performance.sorted_day import (
    KERNEL_METRICS,
    day_figures,
    sort_day,
)
from deployready.policy.sections import Policy
from tests.test_performance_maths import NOW, brute_delong, joined_frame


@st.composite
def labelled_days(draw: st.DrawFn, min_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels (both classes) and scores in [0, 1]: tiny days, heavy ties (a few
    distinct scores), exact 0 and 1, -0.0, adjacent floats."""
    n = draw(st.integers(min_size, 400))
    kind = draw(st.sampled_from(["continuous", "ties", "few", "edges"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    if kind == "continuous":
        p = rng.random(n)
    elif kind == "ties":
        p = np.round(rng.random(n), draw(st.integers(0, 2)))
    elif kind == "few":
        p = rng.choice(np.array([0.0, 0.25, 0.5, 0.5000000000000001, 1.0]), n)
    else:
        p = rng.choice(np.array([-0.0, 0.0, 5e-324, 0.1, 0.49999999999999994, 0.5, 1.0]), n)
    return y, p


@settings(max_examples=300, deadline=None)
@given(labelled_days())
def test_kernel_figures_equal_scikit_learn_bit_for_bit(day: tuple[np.ndarray, np.ndarray]):
    y, p = day
    got = day_figures(y, p, list(KERNEL_METRICS))
    assert got["roc_auc"] == skm.roc_auc_score(y, p)
    assert got["average_precision"] == skm.average_precision_score(y, p)
    assert got["brier"] == skm.brier_score_loss(y, p)
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert got["ks"] == float(np.max(np.abs(tpr - fpr)))
    assert got["ece"] == expected_calibration_error(y, p)
    for name in KERNEL_METRICS:  # and the registry's figure of every one of them
        assert got[name] == REGISTRY[name].fn(y, p), name


def test_kernel_falls_back_to_the_registry_and_refuses_what_it_refuses() -> None:
    y, p = np.array([0, 1, 1, 0, 1]), np.array([0.1, 0.7, 0.4, 0.4, 0.9])
    got = day_figures(y, p, list(REGISTRY))
    assert got == {name: spec.fn(y, p) for name, spec in REGISTRY.items()}
    with pytest.raises(InputError, match="one class"):
        day_figures(np.ones(4, dtype=np.int64), np.linspace(0, 1, 4), ["roc_auc"])
    with pytest.raises(InputError, match="outside"):
        day_figures(np.array([0, 1]), np.array([0.2, 1.5]), ["roc_auc"])
    with pytest.raises(InputError, match="outside"):
        day_figures(np.array([0, 1]), np.array([0.2, np.nan]), ["ks"])


@settings(max_examples=100, deadline=None)
@given(labelled_days())
def test_sorted_day_is_one_ascending_order_of_the_rows(day: tuple[np.ndarray, np.ndarray]):
    y, p = day
    s = sort_day(y, p)
    assert np.all(np.diff(s.scores) >= 0)
    assert sorted(zip(s.scores.tolist(), s.labels.tolist(), strict=True)) == sorted(
        zip((p + 0.0).tolist(), y.tolist(), strict=True))
    assert s.starts[0] == 0 and np.all(s.scores[s.starts[1:]] > s.scores[s.starts[1:] - 1])
    assert s.positives.sum() == y.sum() and s.negatives.sum() == (y == 0).sum()


@settings(max_examples=100, deadline=None)
@given(labelled_days(min_size=4))
def test_delong_from_the_sorted_day_equals_the_quadratic_reference(
    day: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = day
    if min(y.sum(), (y == 0).sum()) < 2:
        y[2], y[3] = 0, 1
    auc, var = delong_variance(y, p)
    ref_auc, ref_var = brute_delong(y, p)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-9, abs=1e-15)


def reference_expected(q: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """CBPE's figures with the soft labels ``q`` by their definitions, threshold by
    threshold (quadratic): expected TP / FP at each distinct score (ties one threshold)."""
    pos, neg = q.sum(), (1 - q).sum()
    thresholds = np.unique(p)[::-1]
    tp = np.array([q[p >= t].sum() for t in thresholds])
    fp = np.array([(1 - q)[p >= t].sum() for t in thresholds])
    tpr, fpr = np.r_[0.0, tp / pos], np.r_[0.0, fp / neg]
    hard = p >= 0.5
    bins = np.clip((p * 10).astype(np.int64), 0, 9)
    eps = np.finfo(np.float64).eps
    c = np.clip(p, eps, 1 - eps)
    hit = q[hard].sum()
    return {
        "roc_auc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)),
        "average_precision": float(np.sum(np.diff(np.r_[0.0, tp]) * tp / (tp + fp)) / pos),
        "ks": float(np.max(np.abs(tp / pos - fp / neg))),
        "brier": float(np.mean(q * (1 - p) ** 2 + (1 - q) * p**2)),
        "log_loss": float(np.mean(-(q * np.log(c) + (1 - q) * np.log(1 - c)))),
        "ece": float(sum(abs(q[bins == b].sum() - p[bins == b].sum()) for b in range(10))
                     / p.size),
        "accuracy": float((hit + (1 - q)[~hard].sum()) / p.size),
        "precision": float(hit / hard.sum()) if hard.any() else 0.0,
        "recall": float(hit / pos),
        "f1": float(2 * hit / (hard.sum() + pos)),
    }


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 500), st.booleans(), st.booleans())
def test_cbpe_from_the_sorted_day_equals_the_definitions(
    seed: int, n: int, ties: bool, calibrate: bool
) -> None:
    """Every expected metric of a day (its scores sorted once, the probabilities computed
    on the sorted scores) against its definition on the rows as they come."""
    rng = np.random.default_rng(seed)
    holdout = rng.random(2_000) ** 1.5
    labels = (rng.random(2_000) < holdout ** 0.7).astype(np.int64)
    calibrator = fit_calibrator(pd.DataFrame({"score": holdout, "label": labels}),
                                Policy().performance)
    if calibrate != calibrator.calibrated:
        calibrator = Calibrator(calibrator.model, calibrator.rows, calibrator.error,
                                calibrator.reliable, calibrator.reason, calibrate)
    scores = rng.random(n) * 0.98 + 0.01
    if ties:
        scores = np.round(scores, 2)
    got = expected_metrics(scores, calibrator, list(REGISTRY))
    want = reference_expected(calibrator.calibrate(scores), scores)
    for name in REGISTRY:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def row_order_table(y: np.ndarray, p: np.ndarray, cells: int):
    """The count table by its definition, on the rows in their own order (the code it
    had before the kernel): (label, score, rows) per non-empty group."""
    distinct, exact_key = np.unique(p, return_inverse=True)
    if distinct.size <= cells:
        groups, rows = np.unique(exact_key * 2 + y, return_counts=True)
        return (groups % 2).astype(np.float64), distinct[groups // 2], rows
    per_bin = cells // 10
    ece_bin = np.clip((p * 10).astype(np.int64), 0, 9)
    sub = np.clip(((p * 10 - ece_bin) * per_bin).astype(np.int64), 0, per_bin - 1)
    code = ((ece_bin * per_bin + sub) * 2 + (p >= 0.5)) * 2 + y
    order = np.argsort(code, kind="stable")
    ordered, ps = code[order], p[order]
    starts = np.flatnonzero(np.r_[True, np.diff(ordered) != 0])
    rows = np.diff(np.r_[starts, ordered.size])
    mean = np.add.reduceat(ps, starts) / rows
    score = np.clip(mean, np.minimum.reduceat(ps, starts), np.maximum.reduceat(ps, starts))
    return (ordered[starts] % 2).astype(np.float64), score, rows


def table_keys(labels: np.ndarray, scores: np.ndarray, cells: int, exact: bool) -> list:
    """Each group's identity: (score, label) by exact score, else (cell, side, label)."""
    if exact:
        return list(zip(scores.tolist(), labels.tolist(), strict=True))
    per_bin = cells // 10
    ece_bin = np.clip((scores * 10).astype(np.int64), 0, 9)
    sub = np.clip(((scores * 10 - ece_bin) * per_bin).astype(np.int64), 0, per_bin - 1)
    return list(zip((ece_bin * per_bin + sub).tolist(), (scores >= 0.5).tolist(),
                    labels.tolist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(labelled_days(), st.sampled_from([10, 100, 1000, 10_000]))
def test_table_of_the_sorted_day_is_the_count_table(
    day: tuple[np.ndarray, np.ndarray], cells: int
) -> None:
    """The count table built from the sorted day has the groups of the row-order
    definition — one per (exact score, label) up to ``cells`` distinct scores, else per
    (score cell, side of 0.5, label) — with the same rows and the same mean scores."""
    y, p = day
    labels, scores, rows = day_table(sort_day(y, p), cells)
    assert rows.sum() == y.size and np.all(rows > 0) and np.all(np.diff(scores) >= 0)
    ref_labels, ref_scores, ref_rows = row_order_table(y, p + 0.0, cells)
    exact = np.unique(p).size <= cells
    ours = dict(zip(table_keys(labels, scores, cells, exact),
                    zip(rows, scores, strict=True), strict=True))
    ref = dict(zip(table_keys(ref_labels, ref_scores, cells, exact),
                   zip(ref_rows, ref_scores, strict=True), strict=True))
    assert ours.keys() == ref.keys()
    for key, (count, score) in ref.items():
        assert ours[key][0] == count and ours[key][1] == pytest.approx(score, abs=1e-15)
    assert all(np.array_equal(a, b) for a, b in zip(count_table(y, p, cells),
                                                      (labels, scores, rows), strict=True))


# --------------------------------------------------------------------------- draws


def multinomial_pmf(counts: tuple[int, ...], probs: np.ndarray) -> float:
    n = sum(counts)
    coef = math.factorial(n) / math.prod(math.factorial(c) for c in counts)
    return coef * float(np.prod(probs ** np.array(counts)))


@pytest.mark.parametrize("rows", [(1, 2, 3), (4, 1), (2, 2, 1, 1)])
def test_draws_follow_the_exact_multinomial(rows: tuple[int, ...]) -> None:
    """Every outcome's frequency over 60,000 draws against Multinomial(n, rows / n)'s
    probability: a chi-square test (fixed seed, so the verdict is reproducible)."""
    rows_a = np.array(rows)
    n = int(rows_a.sum())
    draws = multinomial_draws(np.random.default_rng(5), rows_a, 60_000)
    assert draws.shape == (60_000, rows_a.size) and np.all(draws.sum(axis=1) == n)
    outcomes = [c for c in itertools.product(range(n + 1), repeat=rows_a.size) if sum(c) == n]
    seen = {tuple(r): 0 for r in outcomes}
    for row, count in zip(*np.unique(draws, axis=0, return_counts=True), strict=True):
        seen[tuple(int(v) for v in row)] += int(count)
    expected = np.array([multinomial_pmf(c, rows_a / n) for c in outcomes]) * 60_000
    observed = np.array([seen[c] for c in outcomes])
    keep = expected >= 5
    chi = stats.chisquare(observed[keep], expected[keep] * observed[keep].sum()
                          / expected[keep].sum())
    assert chi.pvalue > 1e-3, (rows, chi)


def test_draws_of_a_large_table_have_the_multinomial_moments() -> None:
    """18,000 cells of 1–40 rows plus two of thousands (drawn by NumPy's Poisson): every
    draw sums to n; the means and variances match n·p and n·p(1 − p), and so does the
    variance of the total of half the cells, n·q(1 − q) — the negative covariances of a
    multinomial (independent Poisson counts would give n·q)."""
    rng = np.random.default_rng(3)
    rows = np.r_[rng.integers(1, 41, 18_000), 5_000, 12_000]
    n = int(rows.sum())
    draws = multinomial_draws(np.random.default_rng(4), rows, 400).astype(np.float64)
    assert np.all(draws.sum(axis=1) == n) and draws.min() >= 0
    prob = rows / n
    z = (draws.mean(axis=0) - n * prob) / np.sqrt(n * prob * (1 - prob) / 400)
    assert abs(z.mean()) < 0.05 and 0.9 < z.std() < 1.1
    ratio = draws.var(axis=0, ddof=1) / (n * prob * (1 - prob))
    assert 0.97 < ratio[:-2].mean() < 1.03 and 0.75 < ratio[-1] < 1.25
    half, q = draws[:, :9_000].sum(axis=1), prob[:9_000].sum()
    assert half.var(ddof=1) / (n * q * (1 - q)) == pytest.approx(1.0, abs=0.25)


def test_draws_are_seeded() -> None:
    rows = np.arange(1, 200)
    a = multinomial_draws(np.random.default_rng(0), rows, 50)
    b = multinomial_draws(np.random.default_rng(0), rows, 50)
    assert np.array_equal(a, b)
    assert multinomial_draws(np.random.default_rng(0), np.array([7]), 3).tolist() == [[7]] * 3
    assert multinomial_draws(np.random.default_rng(0), np.zeros(0, np.int64), 3).shape == (3, 0)


# --------------------------------------------------------------------------- day groups


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([date(2025, 1, d) for d in (1, 2, 3, 9)] + [None]),
                min_size=0, max_size=40), st.booleans())
def test_day_groups_are_pandas_groups(days: list[date | None], ordered: bool) -> None:
    """Each day's rows in frame order, as ``groupby("day")`` gives them (rows without a
    day in none), whether the frame is ordered by day or not."""
    if ordered:
        days = sorted(days, key=lambda d: (d is None, d or date.min))
    frame = pd.DataFrame({"day": pd.Series(days, dtype=object), "x": range(len(days))})
    got = {d: frame["x"].to_numpy()[rows].tolist() for d, rows in day_groups(frame).items()}
    want = {d: g["x"].tolist() for d, g in frame.groupby("day", sort=False)}
    assert got == want
    assert list(got) == sorted(got)


def test_report_range_keeps_its_days_rows_in_frame_order() -> None:
    """The report's day range: the rows of its days in frame order (any frame order), and
    the checked, grouped frame itself — not a copy of 3 million rows — when every row is
    in range."""
    days = [date(2025, 1, d) for d in (3, 1, 2, 3, 2, 1, 1)]
    frame = joined_frame({date(2025, 1, 1): (7, 7)})
    frame["day"] = pd.Series(days, dtype=object)
    frame["x"] = range(len(days))
    whole = joined_days(frame)
    got = _in_range(whole, date(2025, 1, 2), "2025-01-03")
    assert got.frame["x"].tolist() == [0, 2, 3, 4]
    assert {d: got.frame["x"].to_numpy()[r].tolist() for d, r in got.rows.items()} == {
        date(2025, 1, 2): [2, 4], date(2025, 1, 3): [0, 3]}
    assert _in_range(whole, None, None) is whole
    assert _in_range(whole, "2025-01-01", date(2025, 1, 3)) is whole
    assert _in_range(whole, "2025-01-04", None).frame.empty


def test_checked_days_serve_both_sides_as_the_frame_does() -> None:
    """Realized and estimated performance of a :class:`JoinedDays` equal those of its
    frame; the frame is checked when the days are made."""
    frame = joined_frame({date(2025, 1, d): (400, 300) for d in (1, 2, 3)}, seed=4)
    frame = frame.sample(frac=1.0, random_state=1)  # any row order
    policy = Policy()
    holdout = pd.DataFrame({"score": frame["prediction"], "label": frame["label"].fillna(0)})
    calibrator = fit_calibrator(holdout, policy.performance)
    rules = policy.certification.metrics
    days = joined_days(frame)
    assert realized_performance(days, rules, policy.performance, NOW) == realized_performance(
        frame, rules, policy.performance, NOW)
    assert estimated_performance(days, calibrator, rules) == estimated_performance(
        frame, calibrator, rules)
    with pytest.raises(InputError, match="labeled_at"):
        joined_days(frame.drop(columns="labeled_at"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-2_000_000_000, 4_000_000_000), max_size=60), st.booleans(),
       st.sampled_from(["s", "ms", "us", "ns"]), st.booleans())
def test_utc_days_of_ordered_and_unordered_timestamps(
    seconds: list[int], ordered: bool, unit: str, nat: bool
) -> None:
    """Each timestamp's UTC ``.date()`` (None for NaT), in time order (the join's frames:
    days found by binary search) or not, whatever the unit and the zone shown."""
    if ordered:
        seconds = sorted(seconds)
    ts = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).dt.as_unit(unit)
    if nat and seconds:
        ts.iloc[len(seconds) // 2] = pd.NaT
    got = utc_days(ts.dt.tz_convert("Asia/Kolkata"))
    assert list(got) == [None if t is pd.NaT else t.date() for t in ts]
