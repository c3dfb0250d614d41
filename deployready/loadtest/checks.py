"""Load-test results as checks: pass/fail against ``policy.load_test``, the load profile,
the verdict a stored run was given, and the score's load-test category.

Load profile (the checklist's "simulate 100 concurrent predictions"), one rule whatever
the mode, decided in :func:`load_profile_check`:

- PASS when at least ``policy.load_test.requests`` requests were sent **and** at least
  ``policy.load_test.concurrency`` requests were in flight for at least
  ``min_time_at_concurrency`` (default 0.5) of the measured span, first send → last
  completion (:mod:`~deployready.loadtest.concurrency`);
- FAIL otherwise — an open loop at 200 req/s against a 5 ms server holds about one
  request in flight, whatever its request count;
- PENDING for a run stored before the in-flight count was recorded: not evidence of the
  profile, re-run it.

The run's profile — mode, concurrency held, rate achieved, duration — is
:func:`run_profile`, shown beside the percentiles wherever a run is shown.

A stored run is shown with the verdict it was given (:func:`run_verdict`): the checks
the worker decided and stored with the result. When the ``[load_test]`` thresholds
changed since (or the run was stored without them), one more record says what the run
is under the current policy; nothing re-decides the stored verdict.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from deployready.checks import (
    Category,
    Check,
    Evidence,
    Status,
    format_value,
    pass_fail,
    status_label,
    status_mark,
)
from deployready.loadtest.concurrency import time_at_least
from deployready.loadtest.results import Consistency, LoadTestResult, Verdict
from deployready.loadtest.runs import StoredRun, latest_completed
from deployready.policy import LoadTestPolicy, Policy

CHECK_NAMES: tuple[str, ...] = (
    "P50 latency", "P95 latency", "P99 latency", "errors", "timeouts", "peak memory",
    "prediction consistency", "load profile",
)
#: The ``[load_test]`` keys a verdict depends on (the others are how a run is driven).
VERDICT_KEYS: tuple[str, ...] = (
    "p50_ms", "p95_ms", "p99_ms", "max_errors", "max_timeouts", "max_memory_mb",
    "consistency_tolerance", "concurrency", "requests", "min_time_at_concurrency",
)
REEVALUATION = "current policy"


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} ms"


def _latency_checks(result: LoadTestResult, policy: LoadTestPolicy,
                    evidence: Evidence | None) -> list[Check]:
    lat = result.latency_ms
    checks = []
    for name, key, limit in (("P50 latency", "p50", policy.p50_ms),
                             ("P95 latency", "p95", policy.p95_ms),
                             ("P99 latency", "p99", policy.p99_ms)):
        value = getattr(lat, key)
        checks.append(Check(
            name, Category.LOAD_TEST, pass_fail(value is not None and value < limit), value,
            f"< {limit:g} ms", f"{key.upper()} {_fmt_ms(value)} over {lat.count or 0} samples "
            f"({lat.above.get(key, 0)} above it).", evidence))
    return checks


def _memory_check(result: LoadTestResult, policy: LoadTestPolicy,
                  evidence: Evidence | None) -> Check:
    rss, threshold = result.peak_rss_mb, f"< {policy.max_memory_mb:g} MB"
    if rss is None:
        return Check("peak memory", Category.LOAD_TEST, Status.PENDING, None, threshold,
                     "The serving process's memory could not be measured (an external "
                     "endpoint).", evidence)
    return Check("peak memory", Category.LOAD_TEST, pass_fail(rss < policy.max_memory_mb), rss,
                 threshold, f"Peak RSS of the serving process: {rss:.1f} MB.", evidence)


def _consistency_check(result: LoadTestResult, policy: LoadTestPolicy,
                       evidence: Evidence | None) -> Check:
    """The run's predictions against the package's, and — for a target that did not
    report the package's hash — the holdout sent before the run: a target serving
    another model fails it, its mismatching rows named."""
    cons = result.consistency or Consistency()
    tol = policy.consistency_tolerance if cons.tolerance is None else cons.tolerance
    behaviour = result.behaviour
    finding = (f"{cons.checked} predictions of {cons.distinct_rows} holdout rows: "
               f"{cons.holdout_mismatches} differ from the expected predictions "
               f"(max |Δ| {cons.max_abs_diff:.3g}); {cons.repeat_mismatches} of "
               f"{cons.repeated_rows} repeated rows disagree "
               f"(max spread {cons.max_repeat_spread:.3g}).")
    ok = cons.consistent
    if behaviour.checked:
        ok = ok and behaviour.reproduces
        finding = f"{behaviour.finding()} {finding}"
    return Check(
        "prediction consistency", Category.LOAD_TEST, pass_fail(ok),
        cons.mismatches + behaviour.mismatches, f"|Δ| <= {tol:g}", finding, evidence)


def checks_from_result(result: LoadTestResult, policy: LoadTestPolicy,
                       evidence: Evidence | None) -> list[Check]:
    """Pass/fail of one completed run against ``policy.load_test``."""
    req = result.requests
    errors = req.errors  # every request that did not succeed, timeouts included
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.errors_by_kind.items())) or "none"
    timeout_ms = result.timeout_ms
    return [
        *_latency_checks(result, policy, evidence),
        Check("errors", Category.LOAD_TEST, pass_fail(errors <= policy.max_errors), errors,
              f"<= {policy.max_errors}",
              f"{errors} of {req.planned} requests failed: {kinds}.", evidence),
        Check("timeouts", Category.LOAD_TEST, pass_fail(req.timeouts <= policy.max_timeouts),
              req.timeouts, f"<= {policy.max_timeouts}",
              f"{req.timeouts} requests exceeded the {timeout_ms:g} ms timeout." if timeout_ms
              else f"{req.timeouts} requests timed out.", evidence),
        _memory_check(result, policy, evidence),
        _consistency_check(result, policy, evidence),
        load_profile_check(result, policy, evidence),
    ]


def passed(checks: list[Check] | tuple[Check, ...]) -> bool:
    return all(c.status is Status.PASS for c in checks)


# --------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class RunProfile:
    """What load a run applied: mode, requests sent, duration, rate achieved and the
    concurrency it held (``held_fraction``: share of the measured span with at least
    ``concurrency`` requests in flight; None when the run did not measure it)."""

    mode: str
    pool: int | None
    requests: int
    duration_s: float
    rate_rps: float | None
    target_rate_rps: float | None
    measured: bool
    concurrency: int
    in_flight_max: int | None
    in_flight_mean: float | None
    held_s: float | None
    held_fraction: float | None  # exact: the decision uses it; round only to show it

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def profile_threshold(policy: LoadTestPolicy) -> str:
    return (f">= {policy.requests} requests, >= {policy.concurrency} in flight for "
            f">= {share_text(policy.min_time_at_concurrency)} of the run")


def run_profile(result: LoadTestResult, concurrency: int) -> RunProfile:
    """The load ``result`` applied, read against ``concurrency`` requests in flight."""
    conc = result.concurrency
    held_s: float | None = None
    held: float | None = None
    if conc.measured:
        duration = conc.duration_us / 1e6
        held_s, held = time_at_least(conc.as_dict(), concurrency)
    else:
        duration = float(result.duration_s or 0.0)
    sent = result.requests.sent
    return RunProfile(
        mode=result.mode, pool=int(result.config.get("concurrency") or 0) or None,
        requests=sent, duration_s=round(duration, 4),
        rate_rps=round(sent / duration, 1) if duration > 0 else None,
        target_rate_rps=result.config.get("rate") if result.mode == "open" else None,
        measured=conc.measured, concurrency=concurrency,
        in_flight_max=conc.max if conc.measured else None,
        in_flight_mean=conc.mean if conc.measured else None,
        held_s=held_s, held_fraction=held,
    )


def share_text(fraction: float) -> str:
    """A share as a percentage rounded *down* to 0.1 %, so a share just under a
    threshold never reads as the threshold."""
    return f"{math.floor(fraction * 1000 + 1e-9) / 10:g}%"


def profile_text(result: LoadTestResult, concurrency: int) -> str:
    """One line: ``closed loop · 1000 req in 1.23 s (812 req/s) · in flight max 100, mean
    97.1, >= 100 for 91 % of the run``."""
    p = run_profile(result, concurrency)
    loop = "open loop" if p.mode == "open" else "closed loop"
    if p.mode == "open" and p.target_rate_rps:
        loop += f" at {p.target_rate_rps:g} req/s"
    rate = f"{p.rate_rps:.0f} req/s" if p.rate_rps is not None else "— req/s"
    head = f"{loop} · {p.requests} req in {p.duration_s:.3g} s ({rate})"
    if not p.measured or p.held_fraction is None:
        return f"{head} · concurrency not measured"
    return (f"{head} · in flight max {p.in_flight_max}, mean {p.in_flight_mean:.1f}, "
            f">= {concurrency} for {share_text(p.held_fraction)} of the run")


def load_profile_check(result: LoadTestResult, policy: LoadTestPolicy,
                       evidence: Evidence | None) -> Check:
    """The load-profile decision (see the module's docstring): the only place it is made."""
    p = run_profile(result, policy.concurrency)
    threshold = profile_threshold(policy)
    text = profile_text(result, policy.concurrency)
    if not p.measured or p.held_fraction is None:
        return Check(
            "load profile", Category.LOAD_TEST, Status.PENDING, None, threshold,
            f"{text}. This run did not record the requests in flight (it predates that "
            "measurement): re-run the load test to prove the load profile.", evidence)
    enough_requests = p.requests >= policy.requests
    held = p.held_fraction >= policy.min_time_at_concurrency
    why = []
    if not enough_requests:
        why.append(f"only {p.requests} requests sent, the policy asks for {policy.requests}")
    if not held:
        why.append(f"{policy.concurrency} requests in flight for {share_text(p.held_fraction)} "
                   f"of the run, the policy asks for {share_text(policy.min_time_at_concurrency)}")
        if (p.pool or 0) < policy.concurrency:
            why.append(f"the run had {p.pool} connections")
    ok = enough_requests and held
    return Check(
        "load profile", Category.LOAD_TEST, pass_fail(ok), round(p.held_fraction, 4),
        threshold,
        f"{text}." + ("" if ok else " Smaller than the policy's load test: "
                      + "; ".join(why) + "."), evidence)


# --------------------------------------------------------------------------- stored verdict


def policy_section(policy: LoadTestPolicy) -> dict[str, Any]:
    """The ``[load_test]`` section a verdict is given under, as stored with it."""
    return dataclasses.asdict(policy)


def judged(result: LoadTestResult, policy: LoadTestPolicy, evidence: Evidence) -> LoadTestResult:
    """``result`` with its verdict under ``policy``: what the worker stores."""
    checks = tuple(checks_from_result(result, policy, evidence))
    return dataclasses.replace(result, verdict=Verdict(policy_section(policy), checks))


@dataclass(frozen=True)
class RunVerdict:
    """A stored run's verdict as stored, and what it is under the current policy when that
    is not the policy it was judged under (``reevaluation``; None when the same)."""

    run_id: int
    passed: bool | None  # as stored
    checks: tuple[Check, ...]  # as stored; re-evaluated when the run stored none
    stored: bool  # ``checks`` are the stored ones
    reevaluation: Check | None

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]


def verdict_text(verdict: RunVerdict) -> str:
    """The stored verdict in one word: ``PASS``, ``FAIL`` (``PENDING`` if never given)."""
    return status_mark(Status.PENDING if verdict.passed is None else pass_fail(verdict.passed))


def _policy_changes(verdict: Verdict | None, policy: LoadTestPolicy) -> list[str] | None:
    """The verdict keys that changed since the run (None: the run stored no policy)."""
    if verdict is None or not verdict.policy:
        return None
    now = policy_section(policy)
    return [f"{key} {format_value(verdict.policy.get(key))} → {format_value(now[key])}"
            for key in VERDICT_KEYS if verdict.policy.get(key) != now[key]]


def _reevaluation(checks: list[Check], changes: list[str] | None,
                  evidence: Evidence) -> Check:
    ok = passed(checks)
    failing = "; ".join(f"{c.name} {format_value(c.value)}, target {c.threshold}"
                        for c in checks if not c.passed)
    why = (f"the policy changed since the run ({', '.join(changes)})" if changes is not None
           else "the run was stored without the policy it was judged under")
    status = pass_fail(ok)
    outcome = status_label(status) + ("" if ok else f" ({failing})")
    return Check(REEVALUATION, Category.LOAD_TEST, status, None,
                 "the [load_test] policy now",
                 f"Re-evaluated under the current policy, as {why}: {outcome}.", evidence)


def run_verdict(run: StoredRun, policy: LoadTestPolicy) -> RunVerdict | None:
    """The verdict of a completed run as stored (None for a run without a result)."""
    result = run.result
    if result is None:
        return None
    evidence = run.evidence()
    changes = _policy_changes(result.verdict, policy)
    now = None if changes == [] else checks_from_result(result, policy, evidence)
    stored = result.verdict.checks if result.verdict is not None else None
    checks = stored if stored is not None else tuple(now or ())
    return RunVerdict(run.id, run.passed, checks, stored is not None,
                      None if now is None else _reevaluation(now, changes, evidence))


# --------------------------------------------------------------------------- the score


def _placeholder(status: Status, message: str, policy: LoadTestPolicy,
                 evidence: Evidence | None) -> list[Check]:
    thresholds = {
        "P50 latency": f"< {policy.p50_ms:g} ms", "P95 latency": f"< {policy.p95_ms:g} ms",
        "P99 latency": f"< {policy.p99_ms:g} ms", "errors": f"<= {policy.max_errors}",
        "timeouts": f"<= {policy.max_timeouts}", "peak memory": f"< {policy.max_memory_mb:g} MB",
        "prediction consistency": f"|Δ| <= {policy.consistency_tolerance:g}",
        "load profile": profile_threshold(policy),
    }
    return [Check(name, Category.LOAD_TEST, status, None, thresholds[name], message, evidence)
            for name in CHECK_NAMES]


def loadtest_checks(ws: Any, version: str, package_sha256: str | None,
                    policy: Policy) -> list[Check]:
    """The score's load-test category for one package version.

    The newest *completed* run of this version and package hash is the evidence, judged
    under the current policy (the score is always today's). Without one: ``stale`` when
    a completed run exists for another version or hash (naming it), else ``pending``.
    """
    lp = policy.load_test
    if package_sha256 is None:
        return _placeholder(Status.PENDING, f"No load-test evidence: the package hash of "
                            f"{version} is unknown (the package does not verify).", lp, None)
    run = latest_completed(ws, version, package_sha256)
    if run is not None and run.result is not None:
        evidence = run.evidence(run_id=run.id, mode=run.mode, target=run.target,
                                samples_path=run.samples_path)
        return checks_from_result(run.result, lp, evidence)
    other = latest_completed(ws, None, None)
    if other is not None:
        evidence = other.evidence(run_id=other.id, version=other.version)
        what = (f"another package hash of {version} ({other.package_sha256[:12]})"
                if other.version == version else
                f"{other.version} ({other.package_sha256[:12]})")
        return _placeholder(
            Status.STALE,
            f"The newest load test (#{other.id}) was measured on {what}, not on {version} "
            f"({package_sha256[:12]}); run the load test on this package.", lp, evidence)
    return _placeholder(Status.PENDING, f"No load test of {version} yet: run it from the Load "
                        "Test page or with 'deployready loadtest'.", lp, None)
