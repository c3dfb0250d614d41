"""Production performance where it belongs, on the demo workspace: the CLI (a real
subprocess), the daily check's items and alerts, the rollout gate, the reviews, the
report, and the demo's concept change that the estimate cannot see."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import deployready
from deployready.checks import Category, Check, Status
from deployready.monitoring.daily import list_daily
from deployready.monitoring.daily_alerts import alerts_of
from deployready.monitoring.daily_store import day_status
from deployready.performance.api import performance_report
from deployready.performance.daily import DailyPerformance
from deployready.performance.join import joined_predictions
from deployready.report.build import build_report
from deployready.report.render import render
from deployready.rollout.events import stage_performance
from deployready.rollout.gate import performance_check
from deployready.rollout.reviews import checklists
from deployready.rollout.state import RolloutState, VersionState
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployready", *args], capture_output=True,
                          text=True, timeout=300, check=False, cwd=REPO)


@pytest.fixture(scope="module")
def demo(demo_module_ws: Path) -> Path:
    """The demo for this module, copied once: reports keep caches in the workspace (tests
    that change the evidence use their own ``demo_ws``)."""
    return demo_module_ws


def test_cli_performance_json_on_the_demo(demo: Path) -> None:
    done = run("performance", "-w", str(demo), "--json")
    assert done.returncode == 1, done.stderr  # the drift week fails on its labels
    data = json.loads(done.stdout)
    days = {d["day"]: d for d in data["realized"]}
    ordered = sorted(days)
    last = date.fromisoformat(ordered[-1])
    drift = [d for d in ordered if date.fromisoformat(d) > last - timedelta(days=7)]
    statuses = [days[d]["status"] for d in drift]
    assert "fail" in statuses and statuses[-1] == "pending"  # labels not in yet
    assert days[ordered[-1]]["provisional"] and not days[ordered[0]]["provisional"]
    assert all(days[d]["status"] == "pass" for d in ordered[:-7])
    assert days[drift[-1]]["needed"] > 0
    # the figures equal scikit-learn's on the joined frame
    ws = Workspace.open(demo)
    frame = joined_predictions(ws, "v1.0").frame
    first = frame[(frame["day"] == date.fromisoformat(ordered[0])) & frame["label"].notna()]
    assert days[ordered[0]]["metrics"]["roc_auc"]["value"] == roc_auc_score(
        first["label"].to_numpy(np.int64), first["prediction"].to_numpy())
    assert data["retrain"]["recommendation"] == "retrain"
    assert {c["name"] for c in data["checks"]} >= {"realized_roc_auc", "estimated_roc_auc",
                                                   "importance_rank_correlation"}


def test_cli_performance_text_one_good_day_and_errors(demo: Path, demo_ws: Path) -> None:
    first = min(r.date for r in list_daily(Workspace.open(demo), "v1.0"))
    done = run("performance", "-w", str(demo), "--date", first)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{first}  PASS" in done.stdout and "retrain:" in done.stdout
    assert "realized:  roc_auc" in done.stdout and "estimated: PASS" in done.stdout
    bad = demo_ws / "data" / "labels" / "late.csv"
    bad.write_text("request_id,label,labeled_at\nx1,2,2026-01-01T00:00:00Z\n")
    done = run("performance", "-w", str(demo_ws))
    assert done.returncode == 2
    assert "late.csv" in done.stderr and "row 1" in done.stderr and "label" in done.stderr
    done = run("performance", "-w", str(demo), "--end", first)
    assert done.returncode == 2 and "--start" in done.stderr


def test_daily_records_carry_performance_and_red_days_are_unchanged(demo: Path) -> None:
    records = {r.date: r for r in list_daily(Workspace.open(demo), "v1.0")}
    days = sorted(records)
    end = date.fromisoformat(days[-1])
    realized = {d: records[d].check("realized_performance") for d in days}
    assert all(c is not None for c in realized.values())
    failed = [d for d, c in realized.items() if c is not None and c.status is Status.FAIL]
    assert failed and all(date.fromisoformat(d) > end - timedelta(days=7) for d in failed)
    for d in failed:  # a realized failure is red, with a performance alert
        assert not records[d].green
        assert "performance" in {a["kind"] for a in records[d].alerts}
    pending = realized[days[-1]]
    assert pending is not None and pending.status is Status.PENDING
    assert "more label(s) needed" in pending.message
    estimated = records[days[-1]].check("estimated_performance")
    assert estimated is not None and estimated.status is Status.PASS  # blind to the concept
    # the demo's red days: the error-spike day, the latency-spike day and the drift week
    red = {date.fromisoformat(d) for d, r in records.items() if not r.green}
    expected = {end - timedelta(days=20), end - timedelta(days=12)}
    expected |= {end - timedelta(days=k) for k in range(7)}
    assert red == expected


def test_an_estimate_below_threshold_warns_without_turning_the_day_red(demo: Path) -> None:
    record = list_daily(Workspace.open(demo), "v1.0")[0]
    warn = Check("estimated_performance", Category.DAILY, Status.WARN, 1,
                 "no certification metric estimated below threshold", "roc_auc 0.7 (below)")
    pending = Check("realized_performance", Category.DAILY, Status.PENDING, None, "", "")
    checks = [c for c in record.checks if "performance" not in c.name] + [warn, pending]
    assert day_status(record.rows, checks) == "ok"
    (alert,) = alerts_of(replace(record, checks=checks, status="ok"))
    assert (alert.kind, alert.severity) == ("estimated_performance", "warning")
    assert alert.key is not None and alert.key.endswith("/estimated_performance")


def test_the_gate_requires_no_realized_failure_in_the_stage(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    policy = ws.policy()
    policy = replace(policy, rollout=replace(policy.rollout, require_performance=True))
    days = sorted(r.date for r in list_daily(ws, "v1.0"))
    late = VersionState("v1.0", 25, f"{days[-7]}T00:00:00+00:00", None)
    early = VersionState("v1.0", 25, f"{days[0]}T00:00:00+00:00", None)
    state = RolloutState([5, 25, 100], {"v1.0": late}, [])
    judged = stage_performance(ws, "v1.0", policy, state)
    assert judged is not None and min(d.day for d in judged).isoformat() == days[-7]
    check = performance_check(judged, late)
    assert check.status is Status.FAIL and check.category is Category.GATE
    assert "below a certification threshold" in check.message
    clean = [d for d in judged if d.status is not Status.FAIL]
    assert performance_check(clean, early).status is Status.PASS
    assert performance_check(None, early).status is Status.FAIL
    off = replace(policy, rollout=replace(policy.rollout, require_performance=False))
    assert stage_performance(ws, "v1.0", off, state) is None


def test_reviews_and_report_show_the_figures(demo: Path) -> None:
    ws = Workspace.open(demo)
    last = max(date.fromisoformat(r.date) for r in list_daily(ws, "v1.0"))
    lists = checklists(ws, "v1.0", today=last + timedelta(days=1), performance=True)
    weekly = lists.weekly.performance
    assert weekly is not None and weekly["end"] == last.isoformat()
    assert weekly["failed_days"] and weekly["pending_days"]
    assert weekly["metrics"]["roc_auc"]["realized"] < weekly["metrics"]["roc_auc"]["estimated"]
    assert weekly["importance"]["rank_correlation"] is not None
    monthly = lists.monthly.performance
    assert monthly is not None and monthly["recommendation"] == "retrain"
    report = build_report(ws, "v1.0")
    assert report["performance"]["retrain"]["recommendation"] == "retrain"
    md = render(report, "md")
    assert "## Production performance" in md and "provisional" in md
    assert "Retrain decision: RETRAIN" in md and "retrain decision (" in md
    html = render(report, "html")
    assert "<h2>Production performance</h2>" in html and "est. roc_auc" in html
    assert json.loads(render(report, "json"))["performance"]["version"] == "v1.0"


def test_cli_reviews_prints_the_figures_when_asked(demo: Path) -> None:
    """`deployready reviews --performance` prints each review's figures, the same line the
    report renders; without the flag it reads no labels and prints none."""
    asked = run("reviews", "-w", str(demo), "--performance")
    assert asked.returncode in (0, 1), asked.stderr  # 1: a period is overdue
    assert "performance " in asked.stdout and "realized" in asked.stdout
    assert "retrain decision (" in asked.stdout and "RETRAIN" in asked.stdout
    plain = run("reviews", "-w", str(demo))
    assert plain.returncode == asked.returncode
    assert "retrain decision (" not in plain.stdout and "realized" not in plain.stdout


def test_the_concept_change_is_seen_by_labels_not_by_the_estimate(demo: Path) -> None:
    ws = Workspace.open(demo)
    report = performance_report(ws, now=datetime.now(UTC))
    end = report.end
    assert end is not None
    estimated = {e.day: e.values["roc_auc"] for e in report.estimated}
    inside, outside = [], []
    for d in report.realized:
        fig = d.metrics.get("roc_auc")
        if fig is None or fig.value is None or estimated[d.day] is None:
            continue
        err = abs(float(estimated[d.day] or 0) - fig.value)
        (inside if d.day > end - timedelta(days=7) else outside).append(err)
    assert len(outside) >= 20 and len(inside) >= 2
    assert np.mean(outside) < 0.03  # covariate drift aside, the estimate tracks
    assert np.mean(inside) > 0.15  # the concept change: only the labels see it


def test_the_api_run_daily_adds_the_performance_items(demo_ws: Path) -> None:
    ws = Workspace.open(demo_ws)
    days = sorted(r.date for r in list_daily(ws, "v1.0"))
    record = deployready.run_daily(ws, "v1.0", days[0], deliver=False)
    item = record.check("realized_performance")
    assert item is not None and item.status is Status.PASS and item.value == 0
    assert record.check("estimated_performance") is not None


def _keep_labels_known_by(ws: Workspace, now: datetime) -> None:
    """Rewrite the label files with only the labels known at ``now``."""
    for path in sorted(ws.labels_dir.glob("*.csv")):
        frame = pd.read_csv(path, dtype=str)
        frame[pd.to_datetime(frame["labeled_at"], utc=True) <= now].to_csv(path, index=False)


def test_a_report_as_of_an_earlier_now_counts_only_the_labels_known_then(
    demo: Path, demo_ws: Path
) -> None:
    """Labels that came after ``now`` are in the folder: the report as of ``now`` (either
    engine's join, the CLI's ``--now``, the daily check's items) equals the report on a
    workspace whose files hold only the labels known by then."""
    ws = Workspace.open(demo)
    days = sorted(r.date for r in list_daily(ws, "v1.0"))
    start, end = days[-16], days[-1]
    now = datetime.combine(date.fromisoformat(days[-5]), time(12), tzinfo=UTC)
    known = Workspace.open(demo_ws)
    _keep_labels_known_by(known, now)
    expected = performance_report(known, "v1.0", start, end, now).as_dict()
    later = 0
    for engine in ("pandas", "duckdb"):
        joined = joined_predictions(ws, "v1.0", engine=engine)  # type: ignore[arg-type]
        later = int((joined.frame["labeled_at"] > now).sum())
        report = performance_report(ws, "v1.0", start, end, now, joined=joined)
        assert report.as_dict() == expected, engine
    assert later > 1000  # the folder does hold labels that came after now
    everything = performance_report(ws, "v1.0", start, end, now).as_dict()
    assert everything == expected  # read by the report itself
    labelled = sum(d["counts"]["labelled"] for d in expected["realized"])
    unfiltered = performance_report(ws, "v1.0", start, end, None).as_dict()
    assert sum(d["counts"]["labelled"] for d in unfiltered["realized"]) > labelled
    done = run("performance", "-w", str(demo), "--start", start, "--end", end,
               "--now", now.isoformat(), "--json")
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["realized"] == expected["realized"]
    bad = run("performance", "-w", str(demo), "--now", "soon")
    assert bad.returncode == 2 and "--now" in bad.stderr
    policy = ws.policy()
    day = date.fromisoformat(days[-9])
    as_of = DailyPerformance(ws, "v1.0", day, day, policy, now)("v1.0", day)
    reference = DailyPerformance(known, "v1.0", day, day, policy, now)("v1.0", day)
    assert [c.as_dict() for c in as_of] == [c.as_dict() for c in reference]
    today = DailyPerformance(ws, "v1.0", day, day, policy, None)("v1.0", day)
    assert today[0].as_dict() != reference[0].as_dict()  # that day's late labels count today
    daily = run("daily", "-w", str(demo), "--date", day.isoformat(), "--now", now.isoformat(),
                "--json")
    assert daily.returncode in (0, 1), daily.stderr
    items = {c["name"]: c for c in json.loads(daily.stdout)["checks"]}
    for check in reference:
        assert items[check.name]["status"] == str(check.status)
        assert items[check.name]["message"] == check.message
    assert run("daily", "-w", str(demo), "--now", "later").returncode == 2
