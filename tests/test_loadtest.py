"""The load test: results maths, evidence rules, and real runs against served packages.

Real runs start a worker process which serves the package with ``deployready serve`` on
a loopback port; each test waits for its job with a bound and checks that the server
it started is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loadtest_models import FAULTS_ENV, FailEvery, Noisy, StallOnce, make_workspace

from deployready.checks import Status
from deployready.loadtest import JobRegistry, LoadTestConfig, loadtest_checks
from deployready.loadtest.concurrency import concurrency_profile, time_at_least
from deployready.loadtest.loadgen import NOT_SENT, OK, TIMEOUT, Samples, schedule
from deployready.loadtest.results import LoadTestResult
from deployready.loadtest.runs import child_env, claim, finish, mark_interrupted, run_dir
from deployready.loadtest.summary import consistency, latency_summary, phase_summary
from deployready.package.manifest import package_sha256
from deployready.store import dumps
from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 180.0

LENIENT = """
[load_test]
concurrency = 10
requests = 200
p50_ms = 5000.0
p95_ms = 5000.0
p99_ms = 5000.0
timeout_ms = 5000.0
warmup_requests = 10
max_seconds = 60.0
"""


# --------------------------------------------------------------------------- maths


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=400))
def test_latency_summary_matches_numpy(values: list[int]) -> None:
    arr = np.asarray(values, dtype=np.int64)
    out = latency_summary(arr).as_dict()
    assert out["count"] == len(values)
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("p99_9", 99.9)):
        expected = np.percentile(arr.astype(float), q) / 1000.0
        assert out[name] == pytest.approx(expected, abs=1e-3)
        cut = np.percentile(arr.astype(float), q)
        assert out["above"][name] == int(np.count_nonzero(arr > cut))
    assert out["max"] == pytest.approx(arr.max() / 1000.0, abs=1e-3)
    assert out["min"] <= out["p50"] <= out["p99"] <= out["max"]


def _samples(latency_ms: list[float], kinds: list[int]) -> Samples:
    s = Samples.empty(len(latency_ms))
    s.latency_us[:] = np.round(np.asarray(latency_ms) * 1000).astype(np.int64)
    s.kind[:] = kinds
    s.row[:] = np.arange(len(latency_ms)) % 3
    s.duration_s = 1.0
    s.dispatch_s = 1.0
    return s


def test_timeouts_enter_percentiles_errors_do_not() -> None:
    lat = [1.0] * 97 + [1000.0, 1000.0, 0.5]
    kinds = [OK] * 97 + [TIMEOUT, TIMEOUT, 3]  # the last one: an HTTP 5xx
    out = phase_summary(_samples(lat, kinds), mode="closed", rate=None).as_dict()
    assert out["latency_ms"]["count"] == 99  # the 5xx is not a latency sample
    assert out["latency_ms"]["max"] == 1000.0
    assert out["requests"]["timeouts"] == 2
    assert out["requests"]["errors"] == 3
    assert out["errors_by_kind"] == {"timeout": 2, "http_5xx": 1}


def test_not_sent_requests_are_errors() -> None:
    s = _samples([1.0, 1.0, 1.0], [OK, OK, NOT_SENT])
    out = phase_summary(s, mode="open", rate=10.0).as_dict()
    assert out["requests"]["not_sent"] == 1 and out["requests"]["errors"] == 1
    assert out["open_loop"]["target_rate_rps"] == 10.0


def test_consistency_detects_mismatch_and_repeats() -> None:
    expected = np.array([0.1, 0.2, 0.3])
    s = _samples([1.0] * 6, [OK] * 6)
    s.prediction[:] = [0.1, 0.2, 0.3, 0.1, 0.2, 0.3]
    ok = consistency(s, expected, 1e-6).as_dict()
    assert ok["consistent"] and ok["repeated_rows"] == 3
    s.prediction[4] = 0.25  # row 1, second time
    bad = consistency(s, expected, 1e-6).as_dict()
    assert not bad["consistent"]
    assert bad["holdout_mismatches"] == 1 and bad["repeat_mismatches"] == 1
    s.prediction[4] = 0.2 + 1e-16  # batched vs single noise is within tolerance
    assert consistency(s, expected, 1e-6).consistent


def test_open_loop_schedule() -> None:
    const = schedule(5, 100.0, "constant", 0)
    assert list(const) == [0, 10_000_000, 20_000_000, 30_000_000, 40_000_000]
    poisson = schedule(2000, 100.0, "poisson", 1)
    assert poisson[0] == 0 and np.all(np.diff(poisson) >= 0)
    assert poisson[-1] / 1e9 == pytest.approx(20.0, rel=0.1)
    assert np.array_equal(poisson, schedule(2000, 100.0, "poisson", 1))  # seeded


def test_config_validation_names_the_field() -> None:
    from deployready.errors import InputError

    with pytest.raises(InputError, match="concurrency"):
        LoadTestConfig(version="v1.0", concurrency=0).check()
    with pytest.raises(InputError, match="loopback"):
        LoadTestConfig(version="v1.0", target="http://10.0.0.1:8080").check()
    with pytest.raises(InputError, match="target"):
        LoadTestConfig(version="v1.0", target="ftp://127.0.0.1").check()
    LoadTestConfig(version="v1.0", target="http://127.0.0.1:8080/predict").check()


# --------------------------------------------------------------------------- evidence


def _result(p50: float = 5.0, p99: float = 20.0, errors: int = 0) -> dict[str, Any]:
    return {
        "latency_ms": {"p50": p50, "p95": 10.0, "p99": p99, "count": 1000, "above": {}},
        "requests": {"planned": 1000, "sent": 1000, "ok": 1000 - errors, "errors": errors,
                     "timeouts": 0, "not_sent": 0},
        "errors_by_kind": {"http_5xx": errors} if errors else {},
        "peak_rss_mb": 200.0,
        "consistency": {"consistent": True, "checked": 1000, "tolerance": 1e-6},
        "config": {"mode": "closed", "concurrency": 100, "timeout_ms": 1000.0},
        "duration_s": 1.0,
        # 100 in flight for 0.9 of the run's 1 s
        "concurrency": {"measured": True, "requests": 1000, "pool": 100, "duration_s": 1.0,
                        "duration_us": 1_000_000, "max": 100, "mean": 97.0,
                        "max_outstanding": 100, "us_at_least": [1_000_000] * 99 + [900_000]},
    }


def _record(ws: Workspace, version: str, sha: str, result: dict[str, Any],
            status: str = "completed") -> int:
    run_id, created = claim(ws, version=version, package_sha256=sha, mode="closed",
                            target="serve", config={})
    assert created
    finish(ws, run_id, status=status, result=LoadTestResult.from_dict(result), passed=True)
    return run_id


def test_loadtest_checks_pending_pass_fail_stale(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    policy = ws.policy()
    checks = loadtest_checks(ws, "v1.0", "a" * 64, policy)
    assert {c.status for c in checks} == {Status.PENDING}
    assert "No load test of v1.0" in checks[0].message

    run = _record(ws, "v1.0", "a" * 64, _result())
    checks = loadtest_checks(ws, "v1.0", "a" * 64, policy)
    assert all(c.status is Status.PASS for c in checks), [c.message for c in checks]
    assert checks[0].evidence is not None
    assert checks[0].evidence.source.endswith(f"loadtest_runs/{run}")
    assert checks[0].evidence.package_sha256 == "a" * 64

    # another package hash of the same version: stale, naming the hash it was measured on
    checks = loadtest_checks(ws, "v1.0", "b" * 64, policy)
    assert {c.status for c in checks} == {Status.STALE}
    assert "aaaaaaaaaaaa" in checks[0].message
    # another version
    checks = loadtest_checks(ws, "v1.1", "c" * 64, policy)
    assert {c.status for c in checks} == {Status.STALE}
    assert "v1.0" in checks[0].message

    _record(ws, "v1.0", "a" * 64, _result(p50=45.0, errors=3))
    by_name = {c.name: c for c in loadtest_checks(ws, "v1.0", "a" * 64, policy)}
    assert by_name["P50 latency"].status is Status.FAIL
    assert by_name["errors"].status is Status.FAIL and by_name["errors"].value == 3
    assert by_name["P99 latency"].status is Status.PASS

    assert {c.status for c in loadtest_checks(ws, "v1.0", None, policy)} == {Status.PENDING}

    # a run stored before the requests in flight were recorded proves no load profile
    old = _result()
    del old["concurrency"]
    _record(ws, "v1.0", "a" * 64, old)
    by_name = {c.name: c for c in loadtest_checks(ws, "v1.0", "a" * 64, policy)}
    assert by_name["load profile"].status is Status.PENDING
    assert "concurrency not measured" in by_name["load profile"].message
    assert "re-run the load test" in by_name["load profile"].message
    assert by_name["P99 latency"].status is Status.PASS  # its percentiles still count


def test_running_rows_of_dead_workers_become_interrupted(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    run_id, _ = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                      target="serve", config={})
    with ws.store.transaction() as conn:  # a worker pid that does not exist any more
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        conn.execute("UPDATE loadtest_runs SET pid = ? WHERE id = ?", (dead.pid, run_id))
    assert mark_interrupted(ws) == [run_id]
    row = ws.store.query("SELECT status FROM loadtest_runs WHERE id = ?", (run_id,))[0]
    assert row["status"] == "interrupted"
    assert dumps({}) == "{}"


def test_a_claim_whose_claimant_died_is_not_waited_for(tmp_path: Path) -> None:
    """Between claiming a run and saving its worker's pid, the claimant's life decides."""
    from deployready.loadtest.runs import process_alive, running_run, this_process

    ws = Workspace(tmp_path)
    run_id, _ = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                      target="serve", config={})
    assert process_alive(this_process())
    assert running_run(ws)["id"] == run_id  # this process claimed it and lives
    again, created = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                           target="serve", config={})
    assert (again, created) == (run_id, False)

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    import psutil
    ghost = f"{dead.pid}:{psutil.Process(dead.pid).create_time()!r}"
    dead.wait()
    assert not process_alive(ghost) and not process_alive("garbage")
    with ws.store.transaction() as conn:
        conn.execute("UPDATE loadtest_runs SET claimant = ? WHERE id = ?", (ghost, run_id))
    assert running_run(ws) is None
    fresh, created = claim(ws, version="v1.0", package_sha256="a" * 64, mode="closed",
                           target="serve", config={})
    assert created and fresh != run_id
    assert mark_interrupted(ws) == [run_id]


# --------------------------------------------------------------------------- real runs


def _server_gone(ws: Workspace, run_id: int) -> bool:
    info = run_dir(ws, run_id) / "server.json"
    if not info.exists():
        return True
    pid = json.loads(info.read_text())["pid"]
    try:
        proc = psutil.Process(pid)
        proc.wait(20)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        proc.kill()
        return False
    return True


def _run(ws: Workspace, **overrides: Any) -> dict[str, Any]:
    config = LoadTestConfig.from_policy(ws.versions()[-1], ws.policy().load_test, **overrides)
    job, started = JobRegistry().start(ws, config)
    assert started
    try:
        snap = job.wait(WAIT_S)
    finally:
        if not job.finished:
            job.cancel()
            job.wait(60)
    assert snap.status == "completed", (snap.status, snap.error)
    assert _server_gone(ws, job.run_id)
    assert snap.result is not None
    return snap.result.as_dict()  # the stored shape


@pytest.fixture(scope="module")
def plain_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root, _ = make_workspace(tmp_path_factory.mktemp("plain"), policy=LENIENT)
    return Workspace(root)


def test_closed_loop_run_is_evidence_for_its_package(plain_ws: Workspace) -> None:
    result = _run(plain_ws, concurrency=10, requests=200)
    sha = package_sha256(plain_ws.package_path("v1.0"))
    assert result["package"] == {"version": "v1.0", "sha256": sha}
    assert result["requests"]["ok"] == 200 and result["latency_ms"]["count"] == 200
    assert result["consistency"]["consistent"]
    assert result["consistency"]["holdout_mismatches"] == 0
    assert result["peak_rss_mb"] and result["peak_rss_mb"] > 10
    assert result["noise"]["latency_ms"]["count"] > 0  # the harness's no-op floor
    assert result["environment"]["cores_logical"] >= 1
    assert result["target"]["evidence_for_package"] is True
    assert result["server_stats"]["batches"] >= 1
    checks = loadtest_checks(plain_ws, "v1.0", sha, plain_ws.policy())
    assert all(c.status is Status.PASS for c in checks), [c.message for c in checks]
    row = plain_ws.store.query("SELECT * FROM loadtest_runs ORDER BY id DESC LIMIT 1")[0]
    samples = np.load(plain_ws.root / row["samples_path"])
    assert samples["main_latency_us"].shape == (200,)
    assert samples["main_latency_us"].dtype == np.int64
    # 10 clients back to back held 10 in flight; the stored measurement is the one the
    # raw send/completion times give
    conc = result["concurrency"]
    assert conc["max"] == 10 and conc["pool"] == 10 and conc["requests"] == 200
    assert time_at_least(conc, 10)[1] >= 0.5
    assert concurrency_profile(samples["main_send_us"], samples["main_end_us"], pool=10) == conc
    assert np.all(samples["main_latency_us"] >= 0) and np.all(samples["noise_latency_us"] >= 0)
    # the load test's prediction log is kept apart from production evidence
    assert not plain_ws.production_dir.exists()
    assert list((run_dir(plain_ws, row["id"]) / "predictions").glob("predictions-*.csv"))


def test_second_start_returns_the_same_job_and_cancel(plain_ws: Workspace) -> None:
    config = LoadTestConfig.from_policy("v1.0", plain_ws.policy().load_test, mode="open",
                                        rate=20.0, requests=5000, max_seconds=60.0)
    registry = JobRegistry()
    job, started = registry.start(plain_ws, config)
    try:
        assert started
        again, started_again = registry.start(plain_ws, config)
        assert again is job and not started_again
        # another session / process with its own registry sees the same run
        other, started_other = JobRegistry().start(plain_ws, config)
        assert other.run_id == job.run_id and not started_other
        assert JobRegistry().current(plain_ws).run_id == job.run_id  # type: ignore[union-attr]
        snap = job.snapshot()
        for _ in range(600):  # until the load phase has started (bounded)
            if snap.phase == "load" and snap.done > 0:
                break
            job.wait(0.1)
            snap = job.snapshot()
        assert not snap.finished and snap.status == "running"
        assert snap.total == 5000
    finally:
        assert registry.cancel(plain_ws)
        final = job.wait(60)
    assert final.status == "cancelled"
    assert _server_gone(plain_ws, job.run_id)
    assert not registry.cancel(plain_ws)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The faulty models' module must be importable by the server process; ``arm()``
    (after exporting, which predicts too) makes them misbehave."""
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    return lambda: monkeypatch.setenv(FAULTS_ENV, "1")


def test_a_stall_shows_in_the_open_loop_p99(tmp_path: Path, faults: Any) -> None:
    root, _ = make_workspace(tmp_path, lambda m: StallOnce(m, stall_s=0.3, at_call=120),
                             policy=LENIENT)
    ws = Workspace(root)
    faults()
    result = _run(ws, mode="open", rate=200.0, requests=500, noise_requests=0)
    lat = result["latency_ms"]
    # ~60 requests were scheduled during the 300 ms stall; timed from their scheduled
    # send, they waited for it
    assert lat["p99"] >= 150.0, lat
    assert lat["max"] >= 200.0
    assert result["requests"]["errors"] == 0


def test_a_model_failing_one_percent_of_calls_shows_errors(tmp_path: Path, faults: Any) -> None:
    root, _ = make_workspace(tmp_path, lambda m: FailEvery(m, every=100), policy=LENIENT)
    ws = Workspace(root)
    faults()
    result = _run(ws, concurrency=10, requests=500, batching=False, noise_requests=0)
    errors = result["errors_by_kind"].get("http_5xx", 0)
    assert 1 <= errors <= 15, result["errors_by_kind"]
    sha = package_sha256(ws.package_path("v1.0"))
    by_name = {c.name: c for c in loadtest_checks(ws, "v1.0", sha, ws.policy())}
    assert by_name["errors"].status is Status.FAIL
    assert "http_5xx" in by_name["errors"].message


def test_a_non_deterministic_model_fails_consistency(tmp_path: Path, faults: Any) -> None:
    root, _ = make_workspace(tmp_path, Noisy, policy=LENIENT)
    ws = Workspace(root)
    faults()
    result = _run(ws, concurrency=10, requests=300, noise_requests=0)
    cons = result["consistency"]
    assert not cons["consistent"]
    assert cons["holdout_mismatches"] > 0 and cons["repeat_mismatches"] > 0
    sha = package_sha256(ws.package_path("v1.0"))
    by_name = {c.name: c for c in loadtest_checks(ws, "v1.0", sha, ws.policy())}
    assert by_name["prediction consistency"].status is Status.FAIL


def test_endpoint_serving_another_model_is_refused_naming_the_rows(plain_ws: Workspace,
                                                                   tmp_path: Path) -> None:
    from test_serve import start_server

    other_root, _ = make_workspace(tmp_path / "other", seed=1)  # another fitted model
    for server in start_server(other_root / "models" / "v1.0", tmp_path / "srv"):
        result = _run(plain_ws, target=server.url, concurrency=5, requests=100,
                      noise_requests=20)
        assert result["target"]["evidence_for_package"] is False
        behaviour = result["behaviour"]
        assert behaviour["checked"] and not behaviour["reproduces"]
        assert behaviour["rows"] == 100 and behaviour["mismatches"] > 0
        first = behaviour["shown"][0]
        assert set(first) == {"row", "expected", "got"} and first["expected"] != first["got"]
        row = plain_ws.store.query("SELECT * FROM loadtest_runs ORDER BY id DESC LIMIT 1")[0]
        assert row["package_sha256"] == package_sha256(other_root / "models" / "v1.0")
        verdict = {c["name"]: c for c in result["verdict"]["checks"]}
        consistency = verdict["prediction consistency"]
        assert consistency["status"] == "fail"
        assert "serves another model" in consistency["message"]
        assert f"row {first['row']}: expected" in consistency["message"]
    sha = package_sha256(plain_ws.package_path("v1.0"))
    checks = loadtest_checks(plain_ws, "v1.0", sha, plain_ws.policy())
    # the earlier serve run of this package is still the evidence, not the endpoint run
    assert checks[0].evidence is not None and checks[0].evidence.package_sha256 == sha


@pytest.mark.usefixtures("faults")
def test_endpoint_reproducing_the_holdout_is_evidence_whatever_it_reports(
        plain_ws: Workspace, tmp_path: Path) -> None:
    from test_serve import start_server

    # the same fitted model in another package: another hash on /health, same behaviour
    other_root, _ = make_workspace(tmp_path / "same", lambda m: StallOnce(m, at_call=10**9))
    assert package_sha256(other_root / "models" / "v1.0") != package_sha256(
        plain_ws.package_path("v1.0"))
    for server in start_server(other_root / "models" / "v1.0", tmp_path / "srv"):
        result = _run(plain_ws, target=server.url, concurrency=5, requests=100,
                      noise_requests=20)
        assert result["behaviour"]["reproduces"] and result["behaviour"]["rows"] == 100
        assert result["target"]["evidence_for_package"] is True
        assert result["target"]["protocol"] == "deployready"


def test_cli_loadtest_json_and_exit_codes(plain_ws: Workspace) -> None:
    cmd = [sys.executable, "-m", "deployready", "loadtest", "-w", str(plain_ws.root),
           "--requests", "200", "--concurrency", "10", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_S, env=child_env())
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["passed"] is True and data["status"] == "completed"
    assert data["profile"]["mode"] == "closed" and data["profile"]["in_flight_max"] == 10
    assert data["profile"]["held_fraction"] >= 0.5
    assert {c["name"] for c in data["checks"]} >= {"P50 latency", "P99 latency", "errors"}
    assert "/200" in proc.stderr  # progress on stderr
    proc = subprocess.run([*cmd[:6], "--version", "v9.9"], capture_output=True, text=True,
                          timeout=60, env=child_env())
    assert proc.returncode == 2 and "v9.9" in proc.stderr
    # a strict policy turns the same run into exit 1
    proc = subprocess.run([*cmd[:-1], "--requests", "50"], capture_output=True, text=True,
                          timeout=WAIT_S, env=child_env())
    assert proc.returncode == 1, proc.stderr  # fewer requests than the policy's load test
    assert "load profile" in proc.stdout
    assert "only 50 requests sent" in proc.stdout
    # the profile sits next to the percentiles
    lines = proc.stdout.splitlines()
    profile = next(i for i, line in enumerate(lines) if line.startswith("  profile: "))
    assert lines[profile + 1].startswith("  latency ms: ")
    assert "closed loop · 50 req in" in lines[profile] and "in flight max 10" in lines[profile]
