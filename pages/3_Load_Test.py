"""Load Test: run the dry deployment, watch it live, read the result against the policy."""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import identity, ui
from deployready.charts.loadtest import (
    cdf_overlay,
    in_flight,
    live_latency,
    live_throughput,
    percentile_bars,
)
from deployready.checks import Check, Status, pass_fail, status_glyph
from deployready.loadtest import JobRegistry, JobSnapshot, LoadTestConfig
from deployready.loadtest.checks import (
    RunProfile,
    RunVerdict,
    profile_text,
    run_profile,
    run_verdict,
    share_text,
)
from deployready.loadtest.concurrency import step_series
from deployready.loadtest.loadgen import NOT_SENT
from deployready.loadtest.protocols import PROTOCOLS
from deployready.loadtest.results import LoadTestResult
from deployready.loadtest.runs import StoredRun, list_runs, load_samples
from deployready.package.manifest import package_sha256

ui.setup_page("Load Test", "⚡")
ws, version = ui.sidebar()
st.title("⚡ Load Test")
ui.require_versions(ws)
assert version is not None
VERSION: str = version

_RUNNING_KEY = "loadtest_running_run"


@st.cache_resource
def registry() -> JobRegistry:
    """One registry per dashboard process: every session sees the same jobs."""
    return JobRegistry()


reg = registry()
policy = ui.policy_or_stop(ws)
lp = policy.load_test
sha = ui.guarded(lambda: package_sha256(ws.package_path(VERSION)), f"Reading {VERSION}")
job = ui.guarded(lambda: reg.current(ws), "Reading load-test jobs")
snap: JobSnapshot | None = job.snapshot() if job is not None else None
running = snap is not None and not snap.finished
if running:
    assert snap is not None
    st.session_state[_RUNNING_KEY] = snap.run_id

st.caption(
    f"Serves **{version}** ({(sha or '?')[:12]}) with `deployready serve` on 127.0.0.1 in a "
    "worker process separate from this dashboard — verified manifest, warm-up discarded, "
    "one BLAS/OpenMP thread — and drives it with an HTTP load generator. Open loop measures "
    "from the scheduled send time, so a stall is not hidden. The load profile passes only "
    f"when at least {lp.concurrency} requests were in flight for at least "
    f"{share_text(lp.min_time_at_concurrency)} of the run, in either mode (an open loop holds "
    "rate × latency in flight)."
)

# --------------------------------------------------------------------------- form

with st.form("loadtest_form"):
    c1, c2, c3 = st.columns(3)
    mode = c1.radio("Mode", ["closed", "open"], horizontal=True, key="lt_mode",
                    format_func=lambda m: {"closed": "Closed loop (N clients)",
                                           "open": "Open loop (arrival rate)"}[m])
    arrival = c2.selectbox("Arrivals (open loop)", ["constant", "poisson"], key="lt_arrival")
    batching = c3.checkbox("Micro-batching", value=True, key="lt_batching")
    c1, c2, c3, c4 = st.columns(4)
    concurrency = c1.number_input("Concurrency", 1, 10_000, int(lp.concurrency), key="lt_conc",
                                  help="closed loop: clients; open loop: connection pool")
    requests = c2.number_input("Requests", 1, 1_000_000, int(lp.requests), key="lt_requests")
    rate = c3.number_input("Rate (req/s, open loop)", 1.0, 100_000.0, 100.0, key="lt_rate")
    timeout_ms = c4.number_input("Timeout (ms)", 1.0, 600_000.0, float(lp.timeout_ms),
                                 key="lt_timeout")
    c1, c2, c3 = st.columns([3, 1, 1])
    target = c1.text_input("Target endpoint (empty: serve this package on loopback)", "",
                           key="lt_target", placeholder="http://127.0.0.1:8080")
    protocol = c2.selectbox("Protocol", ["auto", *PROTOCOLS], key="lt_protocol",
                            help="deployready's /predict, the Open Inference Protocol (oip: "
                            "KServe, MLServer, Triton), MLflow's /invocations, a BentoML "
                            "'rows' method; auto asks the server")
    model_name = c3.text_input("Model (oip)", "", key="lt_model",
                               help="the name in /v2/models/{name}/infer (empty: the only "
                               "model the server lists; the package version when served here)")
    submitted = st.form_submit_button("Run load test", type="primary", disabled=running,
                                      key="lt_run")

if submitted and not running:
    def _start() -> Any:
        identity.require_action(ws, "loadtest", VERSION, policy)
        config = LoadTestConfig.from_policy(
            VERSION, lp, mode=mode, arrival=arrival, batching=batching,
            concurrency=int(concurrency), requests=int(requests), rate=float(rate),
            timeout_ms=float(timeout_ms), target=target.strip() or None, protocol=protocol,
            model_name=model_name.strip() or None)
        return reg.start(ws, config)

    started = ui.guarded(_start, "Starting the load test")
    if started is not None:
        new_job, created = started
        if not created:
            st.info(f"A load test is already running in this workspace (run #{new_job.run_id}); "
                    "showing it.")
        st.session_state[_RUNNING_KEY] = new_job.run_id
        st.rerun()

# --------------------------------------------------------------------------- live


def _targets() -> dict[str, float]:
    return {"P50": lp.p50_ms, "P95": lp.p95_ms, "P99": lp.p99_ms}


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    current = reg.current(ws)
    if current is None:
        return
    now = current.snapshot()
    if now.finished:
        if st.session_state.get(_RUNNING_KEY) == now.run_id:
            st.session_state.pop(_RUNNING_KEY, None)
            st.rerun()  # once: redraw the whole page with the result and history
        return
    st.subheader(f"Run #{now.run_id} — {now.version}, running")
    st.progress(now.fraction, text=f"{now.phase} {now.detail} · {now.done}/{now.total} requests "
                f"· {now.elapsed_s:.0f} s")
    lat = now.latency_ms or {}
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Completed", f"{now.done}/{now.total}")
    m2.metric("In flight now", now.in_flight, help=f"the policy's load test holds "
              f"{lp.concurrency}")
    m3.metric("Errors", now.errors)
    m4.metric("P50 so far", f"{lat['p50']:.1f} ms" if lat.get("p50") is not None else "—")
    m5.metric("P99 so far", f"{lat['p99']:.1f} ms" if lat.get("p99") is not None else "—")
    if now.series:
        c1, c2 = st.columns(2)
        ui.chart(live_latency(now.series, _targets()), key="lt_live_latency", where=c1)
        ui.chart(live_throughput(now.series), key="lt_live_throughput", where=c2)
    # cancelling is part of the load-test action: the same role, logged the same way
    if st.button("Cancel load test", key="lt_cancel") and ui.guarded(
            lambda: identity.require_action(ws, "loadtest", VERSION, policy),
            "Cancelling the load test") is not None:
        current.cancel()
        st.toast("Cancelling…")


live()

# --------------------------------------------------------------------------- result


def _verdict(run: StoredRun, verdict: RunVerdict) -> None:
    """The verdict the run was given, as stored, and what it is under today's policy."""
    if verdict.passed is None:
        st.info(f"Run #{run.id} was stored without a verdict.")
    else:
        (st.success if verdict.passed else st.error)(
            "PASS — every load-test check passes." if verdict.passed else
            "FAIL — " + ", ".join(verdict.failing or ["the run"]) + ".")
    if verdict.reevaluation is not None:
        (st.info if verdict.reevaluation.passed else st.warning)(
            verdict.reevaluation.message, icon=status_glyph(verdict.reevaluation.status))


def _checks_table(run_id: int, checks: tuple[Check, ...]) -> None:
    st.dataframe(pd.DataFrame([{
        "": status_glyph(c.status), "check": c.name, "value": c.value,
        "target": c.threshold, "status": str(c.status), "detail": c.message,
    } for c in checks]), hide_index=True, width="stretch", key=f"lt_checks_{run_id}")


def _profile(result: LoadTestResult) -> RunProfile:
    profile = run_profile(result, lp.concurrency)
    st.markdown(f"**Load profile:** {profile_text(result, lp.concurrency)}")
    pc = st.columns(4)
    pc[0].metric("Mode", f"{profile.mode} loop")
    pc[1].metric(f"Held ≥ {lp.concurrency} in flight",
                 "not measured" if profile.held_fraction is None
                 else share_text(profile.held_fraction),
                 help="share of the run (first send → last completion) with at least the "
                 f"policy's {lp.concurrency} requests in flight; the policy asks for "
                 f"{share_text(lp.min_time_at_concurrency)}")
    pc[2].metric("Rate achieved", f"{profile.rate_rps:.0f} req/s"
                 if profile.rate_rps is not None else "—")
    pc[3].metric("Duration", f"{profile.duration_s:.2f} s")
    return profile


def _latency(result: LoadTestResult) -> None:
    lat = result.latency_ms
    cols = st.columns(4)
    cols[0].metric("Throughput", f"{result.throughput_rps or 0:.0f} req/s")
    cols[1].metric("P99.9 / max", f"{lat.p99_9 or 0:.1f} / {lat.max or 0:.1f} ms")
    noise = result.noise.latency_ms.p99 if result.noise is not None else None
    cols[2].metric("Harness noise P99 (no-op)", f"{noise:.1f} ms" if noise is not None else "—")
    cols[3].metric("Peak RSS", f"{result.peak_rss_mb or 0:.0f} MB")
    if result.open_loop is not None:
        o = result.open_loop
        st.caption(f"Open loop: target {o.target_rate_rps or 0:g} req/s, achieved "
                   f"{o.achieved_rate_rps or 0:.1f} req/s, {o.late_sends} sends later than "
                   f"{o.late_threshold_ms:g} ms (max lag {o.max_send_lag_ms} ms).")


def _in_flight(run: StoredRun, profile: RunProfile) -> None:
    data = ui.guarded(partial(load_samples, ws, run), f"Reading samples of #{run.id}")
    if data is not None and "main_send_us" in data:
        sent = data["main_kind"] != NOT_SENT
        series = step_series(data["main_send_us"][sent], data["main_end_us"][sent],
                             pool=profile.pool)
        if series["t_s"]:
            ui.chart(in_flight(series, lp.concurrency), key=f"lt_in_flight_{run.id}")
    elif not profile.measured:
        st.caption(f"Requests in flight: not measured — run #{run.id} was stored before "
                   "the load test recorded them; re-run it for load-profile evidence.")


def _details(result: LoadTestResult) -> None:
    with st.expander("Details: counts, environment, server"):
        stored = result.as_dict()
        st.json({key: stored.get(key) for key in (
            "requests", "errors_by_kind", "latency_ms", "concurrency", "consistency",
            "behaviour", "noise",
            "target", "server_stats", "environment", "config")}, expanded=False)


def _show_result(run: StoredRun, result: LoadTestResult) -> None:
    verdict = run_verdict(run, lp)
    assert verdict is not None  # a run with a result has a verdict
    st.subheader(f"Run #{run.id} — {run.version} ({run.package_sha256[:12]}), "
                 f"{run.mode} loop, finished {run.finished_at}")
    if run.package_sha256 != sha or run.version != version:
        st.warning(f"This run was measured on {run.version} ({run.package_sha256[:12]}), "
                   f"not on {version} ({(sha or '?')[:12]}): it is not evidence for this "
                   "package.")
    behaviour = result.behaviour
    if behaviour.checked:
        (st.success if behaviour.reproduces else st.error)(behaviour.finding())
    _verdict(run, verdict)
    _checks_table(run.id, verdict.checks)
    profile = _profile(result)
    _latency(result)
    _in_flight(run, profile)
    _details(result)


all_runs = ui.guarded(lambda: list_runs(ws, None, 200), "Reading past runs") or []
finished_snap = snap if snap is not None and snap.finished else None
shown = None
if finished_snap is not None:
    shown = next((r for r in all_runs if r.id == finished_snap.run_id), None)
    if finished_snap.status != "completed":
        st.error(f"Run #{finished_snap.run_id} {finished_snap.status}: "
                 f"{finished_snap.error or 'no result'}")
if shown is None or shown.result is None:
    shown = next((r for r in all_runs if r.version == version and r.result is not None
                  and r.status == "completed"), None)
if shown is not None and shown.result is not None:
    _show_result(shown, shown.result)
elif not running:
    st.info(f"No completed load test of {version} yet. Keep the checklist defaults "
            f"({lp.concurrency} concurrent × {lp.requests} requests) and click **Run load test**.")

# --------------------------------------------------------------------------- history

st.markdown("### History")


def _history_row(r: StoredRun) -> dict[str, Any]:
    lat = r.result.latency_ms if r.result else None
    prof = run_profile(r.result, lp.concurrency) if r.result else None
    held = prof.held_fraction if prof else None
    verdict = run_verdict(r, lp)
    again = verdict.reevaluation if verdict is not None else None
    return {
        "run": r.id, "version": r.version, "package": r.package_sha256[:12],
        "this package": status_glyph(Status.PASS) if r.package_sha256 == sha else "",
        "mode": r.mode, "status": r.status, "started": r.started_at,
        f"held ≥{lp.concurrency}": ("not measured" if prof and held is None
                                    else "" if held is None else share_text(held)),
        "in flight max": prof.in_flight_max if prof else None,
        "in flight mean": prof.in_flight_mean if prof else None,
        "req/s": prof.rate_rps if prof else None, "duration s": prof.duration_s if prof else None,
        "P50 ms": lat.p50 if lat else None, "P95 ms": lat.p95 if lat else None,
        "P99 ms": lat.p99 if lat else None,
        "errors": r.result.requests.errors if r.result else None,
        "passed": "" if r.passed is None else status_glyph(pass_fail(r.passed)),
        "current policy": "" if again is None else status_glyph(again.status),
        "error": r.error or "",
    }


if all_runs:
    st.dataframe(pd.DataFrame([_history_row(r) for r in all_runs]), hide_index=True,
                 width="stretch", key="lt_history")
else:
    st.caption("No load tests in this workspace yet.")

completed = [r for r in all_runs if r.result is not None and r.status == "completed"]
if len(completed) >= 2:
    st.markdown("### Compare runs")
    labels = {r.id: f"#{r.id} {r.version} — {profile_text(r.result, lp.concurrency)}"
              for r in completed if r.result is not None}
    chosen = st.multiselect("Runs", list(labels), default=[r.id for r in completed[:2]],
                            format_func=lambda i: labels[i], max_selections=4, key="lt_compare")
    if chosen:
        picked = [r for r in completed if r.id in chosen]
        c1, c2 = st.columns(2)
        bars = [(f"#{r.id}", r.result.latency_ms.as_dict()) for r in picked if r.result]
        ui.chart(percentile_bars(bars, {"p50": lp.p50_ms, "p95": lp.p95_ms, "p99": lp.p99_ms}),
                 key="lt_compare_bars", where=c1)
        samples = {}
        for r in picked:
            data = ui.guarded(partial(load_samples, ws, r), f"Reading samples of #{r.id}")
            if data is not None and "main_latency_us" in data:
                kinds = data["main_kind"]
                samples[f"#{r.id}"] = data["main_latency_us"][(kinds == 0) | (kinds == 1)]
        if samples:
            ui.chart(cdf_overlay(samples), key="lt_compare_cdf", where=c2)
