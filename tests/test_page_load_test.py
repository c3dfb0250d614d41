"""AppTest of the Load Test page: start a run, see progress, read the final table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from chart_support import chart_specs
from loadtest_models import make_workspace
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
POLICY = """
[load_test]
concurrency = 5
requests = 150
p50_ms = 5000.0
p95_ms = 5000.0
p99_ms = 5000.0
timeout_ms = 5000.0
warmup_requests = 5
max_seconds = 60.0
"""


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [s.value for s in at.subheader]
    parts += [e.value for e in at.error] + [s.value for s in at.success]
    parts += [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [str(c.value) for c in at.caption]
    return "\n".join(parts)


def _until_cancelled(at: AppTest) -> None:
    """Rerun ``at`` until its page says the run was cancelled (90 s at most)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "cancelled" not in _texts(at):
        time.sleep(0.3)
        at.run()
    assert "cancelled" in _texts(at)


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    root, _ = make_workspace(tmp_path / "ws", policy=POLICY)
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_run_progress_and_final_table(page: AppTest) -> None:
    at = page
    assert "No completed load test of v1.0" in _texts(at)
    assert at.number_input(key="lt_conc").value == 5  # the policy's defaults
    assert at.number_input(key="lt_requests").value == 150
    at.number_input(key="lt_requests").set_value(400)
    at.button(key="lt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saw_progress = False
    in_flight_now: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # run_every does not fire in AppTest: tick by hand
        if at.get("progress"):
            saw_progress = True
        in_flight_now += [int(m.value) for m in at.metric if m.label == "In flight now"]
        if "PASS" in _texts(at) or "FAIL" in _texts(at):
            break
        time.sleep(0.3)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert saw_progress, "no progress bar while the job ran"
    assert in_flight_now and all(0 <= n <= 5 for n in in_flight_now), in_flight_now
    text = _texts(at)
    assert "PASS — every load-test check passes." in text, text
    # the run's profile beside its percentiles: 5 clients held the policy's 5 in flight
    assert "**Load profile:** closed loop · 400 req in" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mode"] == "closed loop"
    assert float(metrics["Held ≥ 5 in flight"].rstrip("%")) >= 50
    assert chart_specs(at), "no chart of the requests in flight"
    table = next(df.value for df in at.dataframe if "check" in df.value.columns)
    assert {"P50 latency", "P95 latency", "P99 latency", "errors", "timeouts", "peak memory",
            "prediction consistency", "load profile"} <= set(table["check"])
    assert set(table["status"]) == {"pass"}
    history = next(df.value for df in at.dataframe if "run" in df.value.columns)
    assert list(history["status"]) == ["completed"]
    assert list(history["passed"]) == ["✅"]
    assert list(history["in flight max"]) == [5]
    assert list(history.columns).index("held ≥5") < list(history.columns).index("P50 ms")


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_second_session_sees_the_running_job_and_compare(page: AppTest, tmp_path: Path) -> None:
    at = page
    at.radio(key="lt_mode").set_value("open")
    at.number_input(key="lt_rate").set_value(50.0)
    at.number_input(key="lt_requests").set_value(10_000)  # long: we cancel it
    at.button(key="lt_run").click().run()
    assert not at.exception
    other = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    other.run()  # another browser tab: same registry, same running job
    assert not other.exception
    assert any("running" in s.value for s in other.subheader)
    assert other.button(key="lt_run").disabled
    other.button(key="lt_cancel").click().run()
    _until_cancelled(at)
    ws_root = Path(at.session_state["deployready_workspace"])
    runs = json.loads(json.dumps([p.name for p in (ws_root / "data" / "loadtests").iterdir()]))
    assert "run-1" in runs


def test_page_shows_policy_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  clear_streamlit_caches: None) -> None:
    root, _ = make_workspace(tmp_path / "ws", policy="[load_test]\nconcurrency = 'many'\n")
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "load_test.concurrency" in " ".join(e.value for e in at.error)


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_a_target_serving_another_model_is_shown_refused_with_its_rows(page: AppTest) -> None:
    from deployready.loadtest.results import LoadTestResult
    from deployready.loadtest.runs import claim, finish
    from deployready.workspace import Workspace

    at = page
    assert at.selectbox(key="lt_protocol").options == ["auto", "deployready", "oip", "mlflow",
                                                       "bentoml"]
    ws = Workspace(Path(at.session_state["deployready_workspace"]))
    run_id, _ = claim(ws, version="v1.0", package_sha256="unverified:http://127.0.0.1:9",
                      mode="closed", target="http://127.0.0.1:9", config={})
    behaviour = {"checked": True, "protocol": "oip", "rows": 100, "tolerance": 1e-6,
                 "mismatches": 97, "max_abs_diff": 0.4,
                 "shown": [{"row": 0, "expected": 0.25, "got": 0.75}]}
    finish(ws, run_id, status="completed", passed=False, result=LoadTestResult.from_dict(
        {"behaviour": behaviour, "config": {"mode": "closed"}}))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "serves another model" in errors and "row 0: expected 0.25, got 0.75" in errors


ACCESS = """
[access]
mode = "sign-in"

[access.roles.operator]
members = ["group:operators"]
may = ["loadtest"]
"""
AUTH = {"auth": {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length-0123456789",
    "client_id": "deployready", "client_secret": "s3cret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}}


def _signed_in(email: str, *groups: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "3_Load_Test.py"), default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "sub": f"sub-{email}", "email": email,
               "iss": "http://127.0.0.1:9", "provider": "default", "groups": list(groups)}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_only_a_role_holder_may_cancel_a_running_load_test(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deployready.access import access_log
    from deployready.workspace import Workspace

    root, _ = make_workspace(tmp_path / "ws", policy=POLICY + ACCESS)
    monkeypatch.setenv("DEPLOYREADY_WORKSPACE", str(root))
    monkeypatch.chdir(REPO)
    operator = _signed_in("op@example.com", "operators")
    operator.radio(key="lt_mode").set_value("open")
    operator.number_input(key="lt_rate").set_value(50.0)
    operator.number_input(key="lt_requests").set_value(10_000)  # long: cancelled below
    operator.button(key="lt_run").click().run()
    assert not operator.exception
    viewer = _signed_in("viv@example.com", "viewers")
    viewer.button(key="lt_cancel").click().run()
    assert any("Cancelling the load test refused." in e.value
               and "viv@example.com may not loadtest" in e.value for e in viewer.error)
    refused = [e for e in access_log(Workspace.open(root)) if not e.allowed]
    assert [(e.actor, e.action) for e in refused] == [("viv@example.com", "loadtest")]
    operator.run()
    assert "cancelled" not in _texts(operator)  # the refusal left the run going
    operator.button(key="lt_cancel").click().run()
    _until_cancelled(operator)
