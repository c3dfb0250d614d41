"""Load-test results: percentiles from raw samples, consistency, and pass/fail as checks.

Percentile rules:

- Percentiles (numpy's default linear interpolation) are over the requests that
  succeeded **and** the timeouts, each timeout entered at exactly the timeout value, so
  a server that stalls past the timeout cannot improve its P99. Other errors (HTTP
  5xx, refused connections) are excluded from the percentiles — a fast 500 is not a fast
  prediction — and counted as errors, which fail the run on their own.
- Every percentile is reported with the number of samples it was computed from and
  the number of samples above it (1000 requests leave 10 samples above P99).

Consistency (tolerance ``policy.load_test.consistency_tolerance``, stated in the result):

- *holdout*: each returned prediction against the package's expected prediction for
  that holdout row (``holdout_expected.json``);
- *repeats*: the same row sent several times must get the same prediction (max − min
  per row within the tolerance; batched and single predictions differ by ~1e-16).

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
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deployready.checks import Category, Check, Evidence, Status
from deployready.loadtest.concurrency import concurrency_profile, is_measured, time_at_least
from deployready.loadtest.loadgen import KINDS, LATE_US, NOT_SENT, OK, TIMEOUT, Samples
from deployready.policy import LoadTestPolicy, Policy

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9),
)
CHECK_NAMES: tuple[str, ...] = (
    "P50 latency", "P95 latency", "P99 latency", "errors", "timeouts", "peak memory",
    "prediction consistency", "load profile",
)


@dataclass(frozen=True)
class LoadTestResult:
    """One completed run's result, in the one shape the worker stores (``result_json``):
    the measured phase's ``latency_ms`` (P50/P95/P99/P99.9/mean/max/min in ms, ``count``,
    ``above``) and ``requests`` first, then the other parts in their stored order."""

    latency_ms: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> LoadTestResult:
        """A stored result; anything but a mapping (or missing sections) reads as empty."""
        if not isinstance(data, dict):
            return cls()
        lat, req = data.get("latency_ms"), data.get("requests")
        return cls(lat if isinstance(lat, dict) else {}, req if isinstance(req, dict) else {},
                   {k: v for k, v in data.items() if k not in ("latency_ms", "requests")})

    def as_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "requests": self.requests, **self.parts}

    def percentile_ms(self, name: str) -> float | None:
        """``p50``, ``p95``, ``p99`` or ``p99_9`` in ms; None when not measured."""
        value = self.latency_ms.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else None

    @property
    def count(self) -> int | None:
        """The samples the percentiles were computed from."""
        value = self.latency_ms.get("count")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def latency_summary(latency_us: np.ndarray) -> dict[str, Any]:
    """P50/P95/P99/P99.9/mean/max/min in ms (µs precision) with sample counts."""
    values = np.asarray(latency_us, dtype=np.float64)
    n = int(values.size)
    out: dict[str, Any] = {"count": n}
    if n == 0:
        out.update({name: None for name, _ in PERCENTILES})
        out.update({"mean": None, "max": None, "min": None, "above": {}})
        return out
    pcts = np.percentile(values, [q for _, q in PERCENTILES])
    above: dict[str, int] = {}
    for (name, _), value in zip(PERCENTILES, pcts, strict=True):
        out[name] = round(float(value) / 1000.0, 3)
        above[name] = int(np.count_nonzero(values > value))
    out["mean"] = round(float(values.mean()) / 1000.0, 3)
    out["max"] = round(float(values.max()) / 1000.0, 3)
    out["min"] = round(float(values.min()) / 1000.0, 3)
    out["above"] = above
    return out


def measured(samples: Samples) -> np.ndarray:
    """The latencies that enter the percentiles: successes and timeouts."""
    mask = (samples.kind == OK) | (samples.kind == TIMEOUT)
    kept: np.ndarray = samples.latency_us[mask]
    return kept


def phase_summary(samples: Samples, *, mode: str, rate: float | None,
                  pool: int | None = None) -> dict[str, Any]:
    """Counts, percentiles, duration and the requests in flight of one phase; ``pool``
    is the run's connection pool (closed loop: its clients)."""
    kinds = samples.kind
    counts = {name: int(np.count_nonzero(kinds == i)) for i, name in enumerate(KINDS)}
    sent = samples.planned - counts["not_sent"]
    ok = counts["ok"]
    errors_by_kind = {k: v for k, v in counts.items() if k != "ok" and v}
    lag = samples.lag_us[kinds != NOT_SENT]
    out: dict[str, Any] = {
        "latency_ms": latency_summary(measured(samples)),
        "requests": {"planned": samples.planned, "sent": sent, "ok": ok,
                     "errors": samples.planned - ok, "timeouts": counts["timeout"],
                     "not_sent": counts["not_sent"]},
        "errors_by_kind": errors_by_kind,
        "duration_s": round(samples.duration_s, 4),
        "throughput_rps": round(ok / samples.duration_s, 2) if samples.duration_s > 0 else None,
    }
    was_sent = kinds != NOT_SENT
    out["concurrency"] = concurrency_profile(samples.send_us[was_sent], samples.end_us[was_sent],
                                             pool=pool)
    if mode == "open":
        out["open_loop"] = {
            "target_rate_rps": rate,
            "achieved_rate_rps": round((sent - 1) / samples.dispatch_s, 2)
            if samples.dispatch_s > 0 and sent > 1 else None,
            "late_sends": int(np.count_nonzero(lag > LATE_US)),
            "late_threshold_ms": LATE_US / 1000.0,
            "max_send_lag_ms": round(float(lag.max()) / 1000.0, 3) if lag.size else None,
            "p99_send_lag_ms": round(float(np.percentile(lag, 99)) / 1000.0, 3)
            if lag.size else None,
        }
    return out


def consistency(samples: Samples, expected: np.ndarray, tolerance: float) -> dict[str, Any]:
    """Holdout predictions vs expected, and repeated rows vs each other."""
    ok = (samples.kind == OK) & np.isfinite(samples.prediction) & (samples.row >= 0)
    rows = samples.row[ok].astype(np.int64)
    preds = samples.prediction[ok]
    in_holdout = rows < len(expected)
    rows, preds = rows[in_holdout], preds[in_holdout]
    diff = np.abs(preds - expected[rows]) if rows.size else np.zeros(0)
    holdout_bad = int(np.count_nonzero(diff > tolerance))
    spread_max = 0.0
    repeat_bad = 0
    repeated_rows = 0
    if rows.size:
        order = np.argsort(rows, kind="stable")
        r, p = rows[order], preds[order]
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        lo = np.minimum.reduceat(p, starts)
        hi = np.maximum.reduceat(p, starts)
        counts = np.diff(np.r_[starts, r.size])
        spread = (hi - lo)[counts > 1]
        repeated_rows = int(spread.size)
        repeat_bad = int(np.count_nonzero(spread > tolerance))
        spread_max = float(spread.max()) if spread.size else 0.0
    checked = int(rows.size)
    return {
        "tolerance": tolerance,
        "checked": checked,
        "distinct_rows": int(np.unique(rows).size) if rows.size else 0,
        "holdout_mismatches": holdout_bad,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "repeated_rows": repeated_rows,
        "repeat_mismatches": repeat_bad,
        "max_repeat_spread": spread_max,
        "consistent": checked > 0 and holdout_bad == 0 and repeat_bad == 0,
    }


# --------------------------------------------------------------------------- checks


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} ms"


def _status(ok: bool) -> Status:
    return Status.PASS if ok else Status.FAIL


def checks_from_result(result: dict[str, Any], policy: LoadTestPolicy,
                       evidence: Evidence) -> list[Check]:
    """Pass/fail of one completed run against ``policy.load_test``."""
    lat = result.get("latency_ms") or {}
    req = result.get("requests") or {}
    count = lat.get("count", 0)
    above = lat.get("above") or {}
    checks: list[Check] = []
    for name, key, limit in (("P50 latency", "p50", policy.p50_ms),
                             ("P95 latency", "p95", policy.p95_ms),
                             ("P99 latency", "p99", policy.p99_ms)):
        value = lat.get(key)
        ok = value is not None and value < limit
        checks.append(Check(
            name, Category.LOAD_TEST, _status(ok), value, f"< {limit:g} ms",
            f"{key.upper()} {_fmt_ms(value)} over {count} samples "
            f"({above.get(key, 0)} above it).", evidence))
    errors = int(req.get("errors", 0))  # every request that did not succeed, timeouts included
    by_kind = result.get("errors_by_kind") or {}
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or "none"
    checks.append(Check(
        "errors", Category.LOAD_TEST, _status(errors <= policy.max_errors), errors,
        f"<= {policy.max_errors}",
        f"{errors} of {req.get('planned', 0)} requests failed: {kinds}.", evidence))
    timeouts = int(req.get("timeouts", 0))
    timeout_ms = (result.get("config") or {}).get("timeout_ms")
    checks.append(Check(
        "timeouts", Category.LOAD_TEST, _status(timeouts <= policy.max_timeouts), timeouts,
        f"<= {policy.max_timeouts}",
        f"{timeouts} requests exceeded the {timeout_ms:g} ms timeout." if timeout_ms
        else f"{timeouts} requests timed out.", evidence))
    rss = result.get("peak_rss_mb")
    if rss is None:
        checks.append(Check(
            "peak memory", Category.LOAD_TEST, Status.PENDING, None,
            f"< {policy.max_memory_mb:g} MB",
            "The serving process's memory could not be measured (an external endpoint).",
            evidence))
    else:
        checks.append(Check(
            "peak memory", Category.LOAD_TEST, _status(rss < policy.max_memory_mb), rss,
            f"< {policy.max_memory_mb:g} MB",
            f"Peak RSS of the serving process: {rss:.1f} MB.", evidence))
    cons = result.get("consistency") or {}
    ok = bool(cons.get("consistent"))
    checks.append(Check(
        "prediction consistency", Category.LOAD_TEST, _status(ok),
        cons.get("holdout_mismatches", 0) + cons.get("repeat_mismatches", 0),
        f"|Δ| <= {cons.get('tolerance', policy.consistency_tolerance):g}",
        f"{cons.get('checked', 0)} predictions of {cons.get('distinct_rows', 0)} holdout rows: "
        f"{cons.get('holdout_mismatches', 0)} differ from the expected predictions "
        f"(max |Δ| {cons.get('max_abs_diff', 0.0):.3g}); {cons.get('repeat_mismatches', 0)} of "
        f"{cons.get('repeated_rows', 0)} repeated rows disagree "
        f"(max spread {cons.get('max_repeat_spread', 0.0):.3g}).", evidence))
    checks.append(load_profile_check(result, policy, evidence))
    return checks


def profile_threshold(policy: LoadTestPolicy) -> str:
    return (f">= {policy.requests} requests, >= {policy.concurrency} in flight for "
            f">= {share_text(policy.min_time_at_concurrency)} of the run")


def run_profile(result: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """What load a run applied: mode, requests sent, duration, rate achieved and the
    concurrency it held (``held_fraction``: share of the measured span with at least
    ``concurrency`` requests in flight; None when the run did not measure it)."""
    cfg = result.get("config") or {}
    req = result.get("requests") or {}
    planned = int(req.get("planned", 0) or 0)
    sent = int(req.get("sent", planned - int(req.get("not_sent", 0) or 0)) or 0)
    raw = result.get("concurrency")
    measured = is_measured(raw)
    conc: dict[str, Any] = raw if measured and isinstance(raw, dict) else {}
    if measured:
        duration = float(conc["duration_us"]) / 1e6
        held_s, held = time_at_least(conc, concurrency)
    else:
        duration = float(result.get("duration_s") or 0.0)
        held_s, held = None, None
    return {
        "mode": str(cfg.get("mode") or "closed"),
        "pool": int(cfg.get("concurrency") or 0) or None,
        "requests": sent,
        "duration_s": round(duration, 4),
        "rate_rps": round(sent / duration, 1) if duration > 0 else None,
        "target_rate_rps": cfg.get("rate") if cfg.get("mode") == "open" else None,
        "measured": measured,
        "concurrency": concurrency,
        "in_flight_max": conc["max"] if measured else None,
        "in_flight_mean": conc["mean"] if measured else None,
        "held_s": held_s,
        "held_fraction": held,  # exact: the decision uses it; round only to show it
    }


def share_text(fraction: float) -> str:
    """A share as a percentage rounded *down* to 0.1 %, so a share just under a
    threshold never reads as the threshold."""
    return f"{math.floor(fraction * 1000 + 1e-9) / 10:g}%"


def profile_text(result: dict[str, Any], concurrency: int) -> str:
    """One line: ``closed loop · 1000 req in 1.23 s (812 req/s) · in flight max 100, mean
    97.1, >= 100 for 91 % of the run``."""
    p = run_profile(result, concurrency)
    loop = "open loop" if p["mode"] == "open" else "closed loop"
    if p["mode"] == "open" and p["target_rate_rps"]:
        loop += f" at {p['target_rate_rps']:g} req/s"
    rate = f"{p['rate_rps']:.0f} req/s" if p["rate_rps"] is not None else "— req/s"
    head = f"{loop} · {p['requests']} req in {p['duration_s']:.3g} s ({rate})"
    if not p["measured"]:
        return f"{head} · concurrency not measured"
    return (f"{head} · in flight max {p['in_flight_max']}, mean {p['in_flight_mean']:.1f}, "
            f">= {concurrency} for {share_text(p['held_fraction'])} of the run")


def load_profile_check(result: dict[str, Any], policy: LoadTestPolicy,
                       evidence: Evidence | None) -> Check:
    """The load-profile decision (see the module's docstring): the only place it is made."""
    p = run_profile(result, policy.concurrency)
    threshold = profile_threshold(policy)
    text = profile_text(result, policy.concurrency)
    if not p["measured"]:
        return Check(
            "load profile", Category.LOAD_TEST, Status.PENDING, None, threshold,
            f"{text}. This run did not record the requests in flight (it predates that "
            "measurement): re-run the load test to prove the load profile.", evidence)
    enough_requests = p["requests"] >= policy.requests
    held = p["held_fraction"] >= policy.min_time_at_concurrency
    why = []
    if not enough_requests:
        why.append(f"only {p['requests']} requests sent, the policy asks for {policy.requests}")
    if not held:
        why.append(f"{policy.concurrency} requests in flight for {share_text(p['held_fraction'])} "
                   f"of the run, the policy asks for {share_text(policy.min_time_at_concurrency)}")
        if (p["pool"] or 0) < policy.concurrency:
            why.append(f"the run had {p['pool']} connections")
    ok = enough_requests and held
    return Check(
        "load profile", Category.LOAD_TEST, _status(ok), round(p["held_fraction"], 4),
        threshold,
        f"{text}." + ("" if ok else " Smaller than the policy's load test: "
                      + "; ".join(why) + "."), evidence)


def passed(checks: list[Check]) -> bool:
    return all(c.status is Status.PASS for c in checks)


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

    The newest *completed* run of this version and package hash is the evidence. Without
    one: ``stale`` when a completed run exists for another version or hash (naming it),
    else ``pending``.
    """
    from deployready.loadtest.runs import RUN_SOURCE, latest_completed

    lp = policy.load_test
    if package_sha256 is None:
        return _placeholder(Status.PENDING, f"No load-test evidence: the package hash of "
                            f"{version} is unknown (the package does not verify).", lp, None)
    row = latest_completed(ws, version, package_sha256)
    if row is not None:
        result = json.loads(row["result_json"] or "{}")
        evidence = Evidence(
            source=RUN_SOURCE.format(id=row["id"]), time=row["finished_at"],
            package_sha256=row["package_sha256"],
            detail={"run_id": row["id"], "mode": row["mode"], "target": row["target"],
                    "samples_path": row["samples_path"]},
        )
        return checks_from_result(result, lp, evidence)
    other = latest_completed(ws, None, None)
    if other is not None:
        evidence = Evidence(source=RUN_SOURCE.format(id=other["id"]), time=other["finished_at"],
                            package_sha256=other["package_sha256"],
                            detail={"run_id": other["id"], "version": other["version"]})
        same_version = other["version"] == version
        what = (f"another package hash of {version} ({str(other['package_sha256'])[:12]})"
                if same_version else
                f"{other['version']} ({str(other['package_sha256'])[:12]})")
        return _placeholder(
            Status.STALE,
            f"The newest load test (#{other['id']}) was measured on {what}, not on {version} "
            f"({package_sha256[:12]}); run the load test on this package.", lp, evidence)
    return _placeholder(Status.PENDING, f"No load test of {version} yet: run it from the Load "
                        "Test page or with 'deployready loadtest'.", lp, None)
