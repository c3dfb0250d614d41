"""The daily check: records, alerts once, idempotent re-runs, the CLI's exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from monitoring_support import crafted_logs, make_package, new_workspace, write_csv

from deployready.checks import Status
from deployready.cli import main
from deployready.demo.logs import write_demo_logs
from deployready.monitoring.daily import (
    CHECK_NAMES,
    daily_status,
    drift_by_day,
    list_daily,
    run_daily,
    run_daily_range,
)
from deployready.workspace import Workspace

END = "2026-03-20"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = new_workspace(tmp_path_factory.mktemp("daily-master"))
    pkg = make_package(ws, "v1.0")
    write_demo_logs(ws, pkg, days=12, end_date=END, rows_per_day=600, seed=11, drift_days=3,
                    spike_day=5, error_spike_day=7)
    return ws.root


@pytest.fixture
def ws(master: Path, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(master, target)
    return Workspace.open(target)


def count(ws: Workspace, table: str) -> int:
    rows = ws.store.query(f"SELECT count(*) FROM {table}")
    return int(rows[0][0]) if rows else 0


def test_defaults_and_record(ws: Workspace) -> None:
    record = run_daily(ws)
    assert record.version == "v1.0" and record.date == END  # the last logged day
    assert [c.name for c in record.checks] == list(CHECK_NAMES)
    assert record.rows > 500 and record.drift is not None
    amount = record.drift.features["amount"]
    assert amount.edges and len(amount.reference) == len(amount.current) == len(amount.edges) + 2
    assert record.status == "alert" and not record.green  # drift in the last days
    kinds = {a["kind"] for a in record.alerts}
    assert "feature_drift" in kinds
    stored = daily_status(ws, "v1.0", END)
    assert stored is not None and stored.as_dict()["checks"] == record.as_dict()["checks"]
    assert stored.drift == record.drift
    row = ws.store.query("SELECT status, package_sha256 FROM daily_checks")[0]
    assert row["status"] == "alert" and row["package_sha256"] == record.package_sha256


def test_rerun_is_idempotent(ws: Workspace) -> None:
    first = run_daily(ws, "v1.0", END)
    alerts, lines = count(ws, "alerts"), (ws.data_dir / "alerts.log").read_text().splitlines()
    second = run_daily(ws, "v1.0", END)
    assert count(ws, "daily_checks") == 1
    assert count(ws, "alerts") == alerts > 0
    assert (ws.data_dir / "alerts.log").read_text().splitlines() == lines
    assert [a["id"] for a in first.alerts] == [a["id"] for a in second.alerts]
    assert all(a["new"] for a in first.alerts) and not any(a["new"] for a in second.alerts)


def test_clean_day_spike_day_and_error_day(ws: Workspace) -> None:
    clean = run_daily(ws, "v1.0", "2026-03-10")
    assert clean.status == "ok" and clean.green and clean.alerts == []
    spike = run_daily(ws, "v1.0", "2026-03-15")  # spike_day = 5 days before END
    assert spike.check("latency_spike").status == "fail"  # type: ignore[union-attr]
    assert spike.spikes and spike.spikes[0]["start"].startswith("2026-03-15T14:00")
    errors = run_daily(ws, "v1.0", "2026-03-13")  # error_spike_day = 7 days before END
    item = errors.check("error_spike")
    assert item is not None and item.status == "fail" and errors.error_kinds == {
        "validation": errors.errors}


def test_no_data_day(ws: Workspace) -> None:
    record = run_daily(ws, "v1.0", "2026-01-01")
    assert record.status == "no_data" and record.rows == 0
    assert [a["kind"] for a in record.alerts] == ["no_data"]


def test_range_backfill(ws: Workspace) -> None:
    records = run_daily_range(ws)
    assert len(records) == 12 and count(ws, "daily_checks") == 12
    alerts = count(ws, "alerts")
    run_daily_range(ws, "2026-03-15", END)
    assert count(ws, "daily_checks") == 12 and count(ws, "alerts") == alerts
    listed = list_daily(ws, "v1.0", "2026-03-18")
    assert [r.date for r in listed] == ["2026-03-18", "2026-03-19", END]
    psi = drift_by_day(ws, "v1.0")
    assert len(psi) == 12
    assert psi[max(psi)].features["amount"].psi == listed[-1].drift.features["amount"].psi  # type: ignore[union-attr]


def test_duckdb_engine_gives_the_same_record(ws: Workspace,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    profiled = run_daily(ws, "v1.0", "2026-03-15", deliver=False).as_dict()
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "pandas")
    a = run_daily(ws, "v1.0", "2026-03-15", deliver=False).as_dict()
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "duckdb")
    b = run_daily(ws, "v1.0", "2026-03-15", deliver=False).as_dict()
    assert (profiled["engine"], a["engine"], b["engine"]) == ("profiles", "pandas", "duckdb")
    for key in ("rows", "errors", "status", "checks", "drift", "spikes"):
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True) or (
            key == "spikes" and [s["start"] for s in a[key]] == [s["start"] for s in b[key]]
        ), key
    # from profiles: the same counts, decisions and PSI; percentiles within 0.5 %
    for key in ("rows", "errors", "status", "drift", "error_kinds"):
        assert json.dumps(profiled[key], sort_keys=True) == json.dumps(a[key], sort_keys=True)
    assert [(c["name"], c["status"]) for c in profiled["checks"]] == \
        [(c["name"], c["status"]) for c in a["checks"]]
    assert [s["start"] for s in profiled["spikes"]] == [s["start"] for s in a["spikes"]]
    for k in ("p50", "p95", "p99", "max"):
        assert profiled["latency"][k] == pytest.approx(a["latency"][k], rel=0.005)
    assert profiled["latency"]["mean"] == pytest.approx(a["latency"]["mean"], abs=1e-3)


def test_cli_exit_codes(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(ws.root)
    assert main(["daily", "-w", root, "--date", "2026-03-10"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["daily", "-w", root, "--date", END, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "alert"
    assert main(["daily", "-w", root, "--date", "2026-02-30"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["daily", "-w", root, "--version", "v9.9"]) == 2


def test_cli_json(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "-w", str(ws.root), "--date", "2026-03-10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["date"] == "2026-03-10" and data["status"] == "ok" and data["green"] is True
    assert main(["drift", "-w", str(ws.root), "--date", END, "--json"]) == 1
    drift = json.loads(capsys.readouterr().out)
    assert drift["features"]["amount"]["status"] == "alert"
    assert main(["latency", "-w", str(ws.root), "--json"]) == 1  # the spike day
    latency = json.loads(capsys.readouterr().out)
    assert latency["spikes"] and latency["baseline"]["kind"] == "none"


def test_bad_logs_are_an_error_not_a_traceback(ws: Workspace,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = crafted_logs(END, [1.0, -2.0])
    write_csv(ws, "zz-bad.csv", bad)
    assert main(["daily", "-w", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert "zz-bad.csv" in err and "row 2" in err and "latency_ms" in err
    assert count(ws, "daily_checks") == 0


def test_missing_profile_is_a_package_error(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "w")
    make_package(ws, "v1.0", n=500)
    (ws.package_path("v1.0") / "reference_profile.json").unlink()
    assert main(["daily", "-w", str(ws.root), "--date", END]) == 2


def test_performance_items_without_labels_or_a_readable_calibration(ws: Workspace) -> None:
    """No labels yet: realized pending, saying how many are needed; a package whose
    calibration cannot be read: no estimate, saying why — and the day stays green."""
    from deployready.performance.daily import run_daily as run_with_performance

    record = run_with_performance(ws, "v1.0", "2026-03-10", deliver=False)
    realized = record.check("realized_performance")
    estimated = record.check("estimated_performance")
    assert realized is not None and realized.status is Status.PENDING
    assert "more label(s) needed" in realized.message
    assert estimated is not None and estimated.status is Status.PENDING
    assert "estimate unavailable" in estimated.message and "MANIFEST.json" in estimated.message
    assert record.green
