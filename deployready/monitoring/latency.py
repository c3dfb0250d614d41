"""Latency monitoring: per-window percentiles, the baseline, drift and spikes.

Definitions (all numbers from ``policy.latency``):

- **Windows.** P50/P95/P99 (linear interpolation, numpy's default) per ``window``
  (default 1 h; it must divide a day) and per UTC day, each with its sample count.
  Percentiles are over successful requests (``error`` empty); errors are counted apart.
- **Baseline.** ``baseline = "loadtest"`` (default): the newest *completed and passed*
  load test of the same version and package hash (``loadtest_runs``). ``baseline =
  "window"``: the version's production percentiles between ``baseline_start`` and
  ``baseline_end``. The chosen baseline (kind, source, percentiles) is reported; when
  none exists, drift is ``pending``.
- **Drift.** The relative change of P95 and of P99 against the baseline,
  ``(current − baseline) / baseline``; drift is the larger of the two. Only a slowdown
  beyond ``max_drift`` (20 %) fails/alerts; a speed-up is reported, not alerted.
- **Spike.** A window whose P99 exceeds ``spike_ms`` (100 ms). P99 rather than max: one
  stalled request is not a spike, a window where 1 % of requests exceed the threshold
  is. Windows with few samples make P99 close to the max; the sample count is reported
  beside it.

:mod:`deployready.monitoring.latency_checks` turns these into the score's latency
category, from the version's production logs when there are any, else from its load test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import pandas as pd

from deployready.checks import Status, pass_fail
from deployready.loadtest.results import LoadTestResult
from deployready.loadtest.runs import StoredRun, completed_runs
from deployready.monitoring.logs import ProductionLogs, TimeLike, day_bounds, to_utc, window_delta
from deployready.monitoring.profiles.reader import latency_note
from deployready.package.manifest import package_sha256_or_none
from deployready.policy import LatencyPolicy, Policy
from deployready.workspace import Workspace

PERIOD_DAYS = 7
SourceKind = Literal["production", "load_test"]


# --------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class Baseline:
    kind: Literal["loadtest", "window", "none"]
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    count: int | None = None
    source: str = ""
    time: str | None = None
    message: str = ""

    @property
    def available(self) -> bool:
        return self.kind != "none" and self.p95 is not None and self.p99 is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_from_run(run: StoredRun, message: str) -> Baseline:
    """The percentiles of a stored load-test run (``none`` when it has no P95/P99)."""
    r = run.result or LoadTestResult()
    p95, p99 = r.percentile_ms("p95"), r.percentile_ms("p99")
    return Baseline(
        "loadtest" if p95 is not None and p99 is not None else "none",
        r.percentile_ms("p50"),
        p95,
        p99,
        r.count,
        source=run.source,
        time=run.finished_at or run.started_at,
        message=message
        if p95 is not None
        else f"load test #{run.id} has no P95/P99 in its result",
    )


def resolve_baseline(
    ws: Workspace, version: str, sha: str | None, policy: Policy, logs: ProductionLogs | None = None
) -> Baseline:
    """The baseline the policy asks for, or ``kind = "none"`` with the reason."""
    lp = policy.latency
    if lp.baseline == "window":
        logs = logs if logs is not None else ProductionLogs.for_workspace(ws)
        start, end = to_utc(lp.baseline_start), to_utc(lp.baseline_end)
        summary = logs.latency_summary(version, start, end) if logs else {"count": 0}
        where = f"production logs {lp.baseline_start} – {lp.baseline_end}"
        if not summary["count"]:
            return Baseline(
                "none",
                source=where,
                message=f"no successful requests of {version} in the baseline window",
            )
        return Baseline(
            "window",
            summary["p50"],
            summary["p95"],
            summary["p99"],
            summary["count"],
            source=where,
            time=lp.baseline_end,
            message=f"baseline window {lp.baseline_start} – {lp.baseline_end}",
        )
    if sha is None:
        return Baseline("none", message="the package hash is unknown")
    rows = completed_runs(ws, version, sha, passed_only=True)
    if not rows:
        return Baseline("none", message=f"no passing load test of {version} ({sha[:12]})")
    return baseline_from_run(rows[0], f"passing load test #{rows[0].id} of {version}")


# --------------------------------------------------------------------------- report


def relative_change(current: float | None, base: float | None) -> float | None:
    if current is None or base is None or base <= 0:
        return None
    return (current - base) / base


@dataclass(frozen=True)
class LatencyDrift:
    p95_change: float | None
    p99_change: float | None

    @property
    def value(self) -> float | None:
        values = [v for v in (self.p95_change, self.p99_change) if v is not None]
        return max(values) if values else None

    def status(self, max_drift: float) -> Status:
        """The drift decision: ``fail`` when slower than the baseline by more than
        ``max_drift`` (a speed-up never fails), ``pending`` without a baseline."""
        v = self.value
        return Status.PENDING if v is None else pass_fail(not v > max_drift)


def drift_of(stats: Mapping[str, Any], baseline: Baseline) -> LatencyDrift:
    if not baseline.available:
        return LatencyDrift(None, None)
    return LatencyDrift(
        relative_change(stats.get("p95"), baseline.p95),
        relative_change(stats.get("p99"), baseline.p99),
    )


def is_spike(p99: float | None, spike_ms: float) -> bool:
    """The spike decision: a window (or a whole load test) whose P99 is above ``spike_ms``;
    a window without a P99 (no successful request) is not a spike."""
    return p99 is not None and p99 == p99 and p99 > spike_ms


def spike_status(spikes: int | Sequence[object]) -> Status:
    """A latency-spike check fails when there is any spike (a count or the spikes)."""
    count = spikes if isinstance(spikes, int) else len(spikes)
    return pass_fail(count == 0)


def find_spikes(
    windows: pd.DataFrame, spike_ms: float, delta: pd.Timedelta
) -> list[dict[str, Any]]:
    """Windows whose P99 is above ``spike_ms``: start, end, p99, max, count."""
    if windows.empty:
        return []
    hit = windows[[is_spike(v, spike_ms) for v in windows["p99"].tolist()]]
    return [
        {
            "start": r.window_start.isoformat(),
            "end": (r.window_start + delta).isoformat(),
            "p99": float(r.p99),
            "max": float(r.max),
            "count": int(r.count),
        }
        for r in hit.itertuples(index=False)
    ]


@dataclass
class LatencyReport:
    version: str
    window: str
    start: str | None
    end: str | None
    summary: dict[str, Any]
    windows: pd.DataFrame
    days: pd.DataFrame
    baseline: Baseline
    drift: LatencyDrift
    spikes: list[dict[str, Any]] = field(default_factory=list)
    policy: LatencyPolicy = field(default_factory=LatencyPolicy)
    #: where the percentiles come from (profile histogram within 0.5 %, or raw rows)
    note: str = ""

    @property
    def has_data(self) -> bool:
        return bool(self.summary.get("count"))

    def day_drift(self) -> pd.DataFrame:
        """Per day: p95/p99 relative change against the baseline."""
        out = self.days[["window_start", "count", "p95", "p99"]].copy()
        out["p95_change"] = [
            relative_change(v, self.baseline.p95) if self.baseline.available else None
            for v in out["p95"]
        ]
        out["p99_change"] = [
            relative_change(v, self.baseline.p99) if self.baseline.available else None
            for v in out["p99"]
        ]
        return out

    def alerts(self) -> list[dict[str, Any]]:
        """What this report would alert on: spikes, drift, P99/P95 above target."""
        lp = self.policy
        out: list[dict[str, Any]] = []
        if spike_status(self.spikes) is Status.FAIL:
            times = ", ".join(
                f"{s['start']}–{s['end']} (P99 {s['p99']:.0f} ms)" for s in self.spikes[:10]
            )
            out.append(
                {
                    "kind": "latency_spike",
                    "severity": "critical",
                    "message": f"{len(self.spikes)} window(s) with P99 > {lp.spike_ms:g} ms: "
                    f"{times}",
                    "detail": {"spikes": self.spikes},
                }
            )
        if self.drift.status(lp.max_drift) is Status.FAIL:
            out.append(
                {
                    "kind": "latency_drift",
                    "severity": "warning",
                    "message": f"latency drift {self.drift.value:+.0%} vs baseline "
                    f"(> {lp.max_drift:.0%})",
                    "detail": {"drift": asdict(self.drift), "baseline": self.baseline.as_dict()},
                }
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            f = frame.copy()
            f["window_start"] = f["window_start"].map(lambda t: t.isoformat())
            return [
                {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                for r in f.to_dict("records")
            ]

        return {
            "version": self.version,
            "window": self.window,
            "note": self.note,
            "start": self.start,
            "end": self.end,
            "summary": self.summary,
            "baseline": self.baseline.as_dict(),
            "drift": {
                **asdict(self.drift),
                "value": self.drift.value,
                "max_drift": self.policy.max_drift,
            },
            "spikes": self.spikes,
            "alerts": self.alerts(),
            "windows": rows(self.windows),
            "days": rows(self.days),
        }


def latest_period(
    logs: ProductionLogs, version: str, days: int = PERIOD_DAYS
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The ``days`` UTC days ending with the last day that has logs of ``version``."""
    info = logs.versions().get(version) if logs else None
    if not info:
        return None
    last_day: date = pd.Timestamp(info["last"]).tz_convert("UTC").date()
    _, end = day_bounds(last_day)
    return end - pd.Timedelta(days=days), end


def latency_report(
    ws: Workspace,
    version: str,
    *,
    start: TimeLike = None,
    end: TimeLike = None,
    window: str | None = None,
    policy: Policy | None = None,
    logs: ProductionLogs | None = None,
    sha: str | None = None,
    baseline: Baseline | None = None,
) -> LatencyReport:
    """Percentiles per window and per day, baseline, drift and spikes of a version."""
    policy = policy or ws.policy()
    lp = policy.latency
    window = window or lp.window
    delta = window_delta(window)
    logs = logs if logs is not None else ProductionLogs.for_workspace(ws)
    if sha is None:
        sha = package_sha256_or_none(ws.package_path(version))
    if baseline is None:
        baseline = resolve_baseline(ws, version, sha, policy, logs)
    windows = logs.latency_windows(version, window, start, end)
    days = logs.latency_windows(version, "1D", start, end)
    summary = logs.latency_summary(version, start, end)
    lo, hi = to_utc(start), to_utc(end)
    return LatencyReport(
        version=version,
        window=window,
        start=lo.isoformat() if lo is not None else None,
        end=hi.isoformat() if hi is not None else None,
        summary=summary,
        windows=windows,
        days=days,
        baseline=baseline,
        drift=drift_of(summary, baseline),
        spikes=find_spikes(windows, lp.spike_ms, delta),
        policy=lp,
        note=latency_note(logs.profiles is not None, delta, lo, hi),
    )
