"""Figures of the Performance page, on the engine's own records."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from deployready.charts.performance import (
    importance_bars,
    label_coverage,
    label_delays,
    performance_trend,
)
from deployready.checks import Status, status_color
from deployready.performance.estimated import estimated_performance, fit_calibrator
from deployready.performance.importance import ImportanceStability
from deployready.performance.realized import realized_performance
from deployready.policy.sections import Policy
from tests.test_performance_maths import joined_frame

POLICY = Policy()
RULES = POLICY.certification.metrics
PERF = POLICY.performance
NOW = datetime(2025, 1, 20, tzinfo=UTC)
#: two final days, one provisional (judged), one pending
DAYS = {date(2025, 1, 1): (600, 500), date(2025, 1, 2): (600, 450),
        date(2025, 1, 12): (600, 300), date(2025, 1, 18): (600, 20)}


@pytest.fixture(scope="module")
def records() -> tuple[pd.DataFrame, list, list]:
    frame = joined_frame(DAYS, seed=4)
    realized = realized_performance(frame, RULES, PERF, NOW)
    rng = np.random.default_rng(1)
    p = rng.random(4000)
    holdout = pd.DataFrame({"score": p, "label": (rng.random(4000) < p).astype(int)})
    estimated = estimated_performance(frame, fit_calibrator(holdout, PERF), RULES)
    return frame, realized, estimated


def by_name(fig) -> dict[str, object]:
    return {t.name: t for t in fig.data if t.name}


def test_trend_marks_final_provisional_and_pending_days(records) -> None:
    _, realized, estimated = records
    assert [d.status for d in realized][-1] is Status.PENDING
    assert [d.metrics["roc_auc"].status for d in realized[:3]] == [Status.PASS] * 3
    assert [d.provisional for d in realized] == [False, False, True, True]
    rule = RULES["roc_auc"]
    fig = performance_trend(realized, estimated, "roc_auc", op=rule.op,
                            threshold=rule.threshold, confidence=PERF.confidence)
    traces = by_name(fig)
    final = traces["realized, final"]
    assert list(final.x) == ["2025-01-01", "2025-01-02"]
    assert final.marker.symbol == "circle"
    provisional = next(t for n, t in traces.items() if n.startswith("realized, provisional"))
    assert list(provisional.x) == ["2025-01-12"] and provisional.marker.symbol == "circle-open"
    assert list(provisional.y) == [realized[2].metrics["roc_auc"].value]
    pending = next(t for n, t in traces.items() if n.startswith("pending"))
    assert list(pending.x) == ["2025-01-18"] and pending.marker.pattern.shape == "/"
    assert "labels needed" in pending.hovertext[0] or "more label" in pending.hovertext[0]
    estimate = traces["estimated (CBPE)"]
    assert list(estimate.x) == [d.isoformat() for d in DAYS]
    assert estimate.y[-1] == pytest.approx(estimated[-1].values["roc_auc"])
    band = next(t for n, t in traces.items() if "CI" in n)
    fig_ci = realized[0].metrics["roc_auc"]
    assert fig_ci.low in band.y and fig_ci.high in band.y and band.fill == "toself"
    assert [s.y0 for s in fig.layout.shapes] == [rule.threshold]
    assert list(fig.layout.xaxis.categoryarray) == [d.isoformat() for d in DAYS]


def test_trend_without_estimate_or_labels(records) -> None:
    frame, _, _ = records
    realized = realized_performance(frame.assign(label=np.nan, labeled_at=pd.NaT), RULES,
                                    PERF, NOW)
    estimated = estimated_performance(frame, fit_calibrator(None, PERF), RULES)
    fig = performance_trend(realized, estimated, "brier", op="<=", threshold=0.16,
                            confidence=0.95)
    traces = by_name(fig)
    assert all(v is None for v in traces["estimated (CBPE)"].y)
    pending = next(t for n, t in traces.items() if n.startswith("pending"))
    assert len(pending.x) == 4
    low, high = fig.layout.yaxis.range
    assert low < 0.16 < high  # the threshold stays in view


def test_coverage_bars_colour_by_status_and_hatch_provisional_days(records) -> None:
    _, realized, _ = records
    fig = label_coverage(realized, min_coverage=PERF.min_coverage)
    traces = by_name(fig)
    # the synthetic scores are not calibrated: ECE fails every judged day
    assert list(traces["fail, final"].x) == ["2025-01-01", "2025-01-02"]
    assert traces["fail, final"].marker.color == status_color(Status.FAIL)
    assert traces["fail, final"].marker.pattern.shape == ""
    assert list(traces["fail, provisional"].x) == ["2025-01-12"]
    hatched = traces["pending, provisional"]
    assert hatched.marker.pattern.shape == "/"
    assert hatched.y[0] == pytest.approx(20 / 600)
    assert [s.y0 for s in fig.layout.shapes] == [PERF.min_coverage]


def test_label_delay_histogram_counts_every_labelled_prediction(records) -> None:
    frame, _, _ = records
    fig = label_delays(frame, window_days=14)
    (bars,) = fig.data
    assert sum(bars.y) == int(frame["label"].notna().sum())
    filled = [x for x, n in zip(bars.x, bars.y, strict=True) if n]
    assert filled == [5.5]  # every label came 5 days later: the bin [5, 6)
    assert [s.x0 for s in fig.layout.shapes] == [14]
    empty = label_delays(frame.iloc[0:0], window_days=14)
    assert sum(empty.data[0].y) == 0 and "no labels" in empty.layout.title.text


def test_importance_bars() -> None:
    result = ImportanceStability({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 1.0, "b": 2.5, "c": 0.5},
                                 200, 0.5, 2 / 3)
    fig = importance_bars(result, top_k=2)
    traces = by_name(fig)
    assert list(traces["package"].y) == ["a", "b", "c"]
    assert list(traces["package"].x) == [3.0, 2.0, 1.0]
    assert list(traces["production"].x) == [1.0, 2.5, 0.5]
    title = fig.layout.title.text
    assert "ρ 0.50" in title and "top-2 overlap 67%" in title
    none = importance_bars(ImportanceStability({"a": 1.0}, {}, 0, None, None), top_k=2)
    assert "no production rows" in none.layout.title.text
