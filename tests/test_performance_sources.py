"""The evidence a performance report reads from the workspace: the red-PSI checks come
from the kept per-day PSI history, with the very numbers the per-day drift gives; the
week's importances are kept under the week's days and revisions, the numbers of the
sample explained again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deployready.checks import Category, Check, Evidence, pass_fail
from deployready.memo import cache_path
from deployready.monitoring.daily import drift_by_day
from deployready.monitoring.logs import ProductionLogs
from deployready.package.load import load_package
from deployready.performance import sources
from deployready.performance.api import performance_report
from deployready.performance.importance import ImportanceStability, importance_stability
from deployready.performance.sources import psi_checks, report_range, week_sample
from deployready.policy import Policy
from deployready.workspace import Workspace


def reference_psi_checks(ws: Workspace, version: str, first: date, last: date,
                         policy: Policy) -> list[Check]:
    """The checks as they were computed from every day's drift (``drift_by_day``)."""
    by_day = drift_by_day(ws, version, first, last, policy=policy)
    worst: dict[str, float] = {}
    red: dict[str, list[str]] = {}
    for day, result in sorted(by_day.items()):
        for name, feature in result.features.items():
            if feature.psi is not None:
                worst[name] = max(worst.get(name, 0.0), feature.psi)
            if name in result.alerting:
                red.setdefault(name, []).append(day.isoformat())
    return [
        Check(name, Category.PERFORMANCE, pass_fail(name not in red), round(psi, 6),
              f"< {policy.drift.psi_alert:g} every day",
              (f"PSI >= {policy.drift.psi_alert:g} on {len(red[name])} day(s) "
               f"(max {psi:.3f})" if name in red else f"max PSI {psi:.3f}"),
              Evidence("production logs vs reference_profile.json",
                       detail={"red_days": red.get(name, [])}))
        for name, psi in sorted(worst.items())
    ]


@pytest.mark.parametrize("engine", ["auto", "pandas"])
def test_psi_checks_equal_the_per_day_drift(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Every check identical to the one computed from each day's drift — from the kept
    history (the profile store) and from the raw rows (a raw engine forced)."""
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", engine)
    ws = Workspace.open(demo_ws)
    policy = ws.policy()
    version, first, last = report_range(ws, "v1.0", None, None)
    expected = reference_psi_checks(ws, version, first, last, policy)
    assert any(c.status == "fail" for c in expected)  # the demo has red days to find
    for lo, hi in ((first, last), (last, last), (first, first)):
        want = reference_psi_checks(ws, version, lo, hi, policy)
        got = psi_checks(ws, version, lo, hi, policy)
        assert [c.as_dict() for c in got] == [c.as_dict() for c in want]
        assert [type(c.value) for c in got] == [type(c.value) for c in want]
    # a second report reads the kept history again: the same checks
    assert [c.as_dict() for c in psi_checks(ws, version, first, last, policy)] == [
        c.as_dict() for c in expected]


def test_psi_checks_read_the_kept_history_not_every_days_counts(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's PSI checks come from the per-day history kept across processes, not
    from a month of counts decoded again per day."""
    ws = Workspace.open(demo_ws)
    version, first, last = report_range(ws, "v1.0", None, None)

    def recomputed(*args: object, **kwargs: object) -> None:
        raise AssertionError("every day's drift computed again")

    monkeypatch.setattr(sources, "drift_by_day", recomputed, raising=False)
    checks = psi_checks(ws, version, first, last, ws.policy())
    assert {c.name for c in checks if c.status == "fail"} >= {"amount"}


# --------------------------------------------------------------------------- the week's importance

NOW = datetime(2026, 12, 31, tzinfo=UTC)


def fresh_importance(ws: Workspace, version: str, last: date) -> ImportanceStability:
    """The importance stability explained again from the week's sample, nothing kept."""
    package = load_package(ws.package_path(version))
    rows = week_sample(ws, version, last, ws.policy().performance.importance_sample_rows)
    return importance_stability(package, rows, ws.policy().performance)


def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """A record of every raw read of log rows from now on."""
    calls: list[object] = []
    frame = ProductionLogs.frame

    def counted(self: ProductionLogs, *args: Any, **kwargs: Any) -> pd.DataFrame:
        calls.append(args)
        return frame(self, *args, **kwargs)

    monkeypatch.setattr(ProductionLogs, "frame", counted)
    return calls


def test_week_importance_is_kept_and_equals_the_sample_explained_again(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, "v1.0", None, None)
    first = performance_report(ws, version, now=NOW)
    assert first.importance is not None and first.importance.production
    assert first.importance == fresh_importance(ws, version, last)
    reads = rows_read(monkeypatch)
    again = performance_report(ws, version, now=NOW)
    assert reads == []  # the kept importances: none of the week's rows read
    assert again.as_dict() == first.as_dict()


def test_a_changed_day_of_the_week_is_explained_again(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, "v1.0", None, None)
    before = performance_report(ws, version, now=NOW).importance
    newest = sorted(ws.production_dir.glob("predictions-*.csv"))[-1]
    rows = pd.read_csv(newest, dtype=str, keep_default_na=False)
    rows.iloc[: len(rows) // 3].to_csv(newest, index=False)  # the day's file rewritten
    reads = rows_read(monkeypatch)
    after = performance_report(ws, version, now=NOW).importance
    assert reads  # the week's rows read again
    assert after == fresh_importance(ws, version, last) and after != before


def test_an_unusable_kept_entry_is_computed_again(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, "v1.0", None, None)
    performance_report(ws, version, now=NOW)
    entries = list(cache_path(ws.root, "x").parent.glob("importance-*.json"))
    assert len(entries) >= 2  # the sample's and the week's (and any the workspace had)
    for entry in entries:
        entry.write_text('{"key": "other", "production": {"amount": 1.0}, '
                         '"rows_explained": 1}')
    report = performance_report(ws, version, now=NOW)
    assert report.importance == fresh_importance(ws, version, last)
    assert report.importance is not None and report.importance.rows_explained > 1


def test_a_raw_engine_keeps_nothing_and_gives_the_same_importance(
    demo_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "pandas")
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, "v1.0", None, None)
    report = performance_report(ws, version, now=NOW)
    assert report.importance == fresh_importance(ws, version, last)


def test_kept_importances_stay_bounded(demo_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new key (here: the week's newest day growing, a new revision per ingest) writes
    one more entry; beyond ``KEPT_ENTRIES`` the least recently used are removed, and the
    report still finds the one it needs."""
    from deployready.performance import importance

    monkeypatch.setattr(importance, "KEPT_ENTRIES", 2)
    ws = Workspace.open(demo_ws)
    version, _, last = report_range(ws, version="v1.0", start=None, end=None)
    newest = sorted(ws.production_dir.glob("predictions-*.csv"))[-1]
    for _ in range(3):
        lines = newest.read_text().splitlines(keepends=True)
        newest.write_text("".join(lines) + lines[-1])
        report = performance_report(ws, version, now=NOW)
        entries = list(cache_path(ws.root, "x").parent.glob("importance-*.json"))
        assert len(entries) <= 2
        assert report.importance == fresh_importance(ws, version, last)
    reads = rows_read(monkeypatch)
    assert performance_report(ws, version, now=NOW).importance == report.importance
    assert not reads  # the week's entry is one of the two kept
