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
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from deployready.checks import Category, Check, Evidence, Status
from deployready.loadtest.loadgen import KINDS, LATE_US, NOT_SENT, OK, TIMEOUT, Samples
from deployready.policy import LoadTestPolicy, Policy

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9),
)
CHECK_NAMES: tuple[str, ...] = (
    "P50 latency", "P95 latency", "P99 latency", "errors", "timeouts", "peak memory",
    "prediction consistency", "load profile",
)


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


def phase_summary(samples: Samples, *, mode: str, rate: float | None) -> dict[str, Any]:
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
    cfg = result.get("config") or {}
    planned = int(req.get("planned", 0))
    mode = cfg.get("mode", "closed")
    conc = int(cfg.get("concurrency", 0))
    ok = planned >= policy.requests and (mode == "open" or conc >= policy.concurrency)
    load = (f"open loop at {cfg.get('rate', 0):g} req/s" if mode == "open"
            else f"closed loop, {conc} concurrent")
    checks.append(Check(
        "load profile", Category.LOAD_TEST, _status(ok), planned,
        f">= {policy.requests} requests, >= {policy.concurrency} concurrent (closed loop)",
        f"{planned} requests, {load}." + ("" if ok else " Smaller than the policy's load test."),
        evidence))
    return checks


def passed(checks: list[Check]) -> bool:
    return all(c.status is Status.PASS for c in checks)


def _placeholder(status: Status, message: str, policy: LoadTestPolicy,
                 evidence: Evidence | None) -> list[Check]:
    thresholds = {
        "P50 latency": f"< {policy.p50_ms:g} ms", "P95 latency": f"< {policy.p95_ms:g} ms",
        "P99 latency": f"< {policy.p99_ms:g} ms", "errors": f"<= {policy.max_errors}",
        "timeouts": f"<= {policy.max_timeouts}", "peak memory": f"< {policy.max_memory_mb:g} MB",
        "prediction consistency": f"|Δ| <= {policy.consistency_tolerance:g}",
        "load profile": f">= {policy.requests} requests, >= {policy.concurrency} concurrent",
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
