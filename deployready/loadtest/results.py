"""The load-test result: one typed record, computed from raw samples and stored in one shape.

:class:`LoadTestResult` is what the worker writes (``loadtest_runs.result_json``, through
:mod:`~deployready.loadtest.runs`) and what every reader gets back: the jobs, the checks,
the latency baseline, the report, the CLI and the Load Test page. ``as_dict()`` is the
stored shape; ``from_dict()`` reads it, and reads rows stored by older versions too — a
part they lack reads as not measured (an empty :class:`InFlight`, no
:class:`Consistency`, no :class:`Verdict`), anything that is not a mapping as empty.

How the parts are computed from the raw samples is :mod:`~deployready.loadtest.summary`'s.

The pass/fail of a result is :mod:`deployready.loadtest.checks`'s; the checks the worker
decided, with the ``[load_test]`` policy it decided them under, are stored with the
result as its :class:`Verdict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployready.checks import Category, Check
from deployready.loadtest.behaviour import Behaviour
from deployready.loadtest.concurrency import is_measured
from deployready.loadtest.loadgen import LATE_US


def _obj(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _num(value: Any) -> Any:
    """A stored number as it was stored (int or float); anything else None."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any, default: int = 0) -> int:
    return int(value) if _num(value) is not None else default


@dataclass(frozen=True)
class Percentiles:
    """P50/P95/P99/P99.9/mean/max/min in ms (µs precision), the sample count and the
    samples above each percentile (the stored ``latency_ms``)."""

    count: int | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    mean: float | None = None
    max: float | None = None
    min: float | None = None
    above: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Percentiles:
        d = _obj(data)
        count = d.get("count")
        values = {f.name: _num(d.get(f.name)) for f in dataclasses.fields(cls)[1:-1]}
        return cls(count=count if isinstance(count, int) and not isinstance(count, bool)
                   else None, above={str(k): _int(v) for k, v in _obj(d.get("above")).items()},
                   **values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def get(self, name: str) -> float | None:
        """``p50`` … ``p99_9``, ``mean``, ``max`` or ``min`` in ms; None when not measured."""
        value = _num(getattr(self, name, None)) if name not in ("count", "above") else None
        return None if value is None else float(value)


@dataclass(frozen=True)
class Requests:
    """What happened to the planned requests: every one not ``ok`` is an error (timeouts
    and requests never sent included)."""

    planned: int = 0
    sent: int = 0
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    not_sent: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> Requests:
        d = _obj(data)
        planned, not_sent = _int(d.get("planned")), _int(d.get("not_sent"))
        return cls(planned, _int(d.get("sent"), planned - not_sent), _int(d.get("ok")),
                   _int(d.get("errors")), _int(d.get("timeouts")), not_sent)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class InFlight:
    """The requests in flight over the measured span (:mod:`~deployready.loadtest.
    concurrency`); ``measured`` is False for a run stored before it was recorded."""

    measured: bool = False
    requests: int = 0
    pool: int | None = None
    duration_s: float = 0.0
    duration_us: int = 0
    max: int = 0
    mean: float = 0.0
    max_outstanding: int = 0
    us_at_least: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any) -> InFlight:
        if not is_measured(data):
            return cls()
        d = dict(data)
        return cls(True, _int(d.get("requests")), _num(d.get("pool")),
                   _num(d.get("duration_s")) or 0.0, int(d["duration_us"]), _int(d.get("max")),
                   _num(d.get("mean")) or 0.0, _int(d.get("max_outstanding")),
                   [_int(v) for v in d["us_at_least"]])

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) if self.measured else {"measured": False}


@dataclass(frozen=True)
class OpenLoop:
    """How closely an open loop kept its schedule."""

    target_rate_rps: float | None = None
    achieved_rate_rps: float | None = None
    late_sends: int = 0
    late_threshold_ms: float = LATE_US / 1000.0
    max_send_lag_ms: float | None = None
    p99_send_lag_ms: float | None = None

    @classmethod
    def from_dict(cls, data: Any) -> OpenLoop | None:
        if not isinstance(data, Mapping):
            return None
        return cls(_num(data.get("target_rate_rps")), _num(data.get("achieved_rate_rps")),
                   _int(data.get("late_sends")), _num(data.get("late_threshold_ms")) or 0.0,
                   _num(data.get("max_send_lag_ms")), _num(data.get("p99_send_lag_ms")))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Consistency:
    """Holdout predictions against the expected ones, repeated rows against each other."""

    tolerance: float | None = None
    checked: int = 0
    distinct_rows: int = 0
    holdout_mismatches: int = 0
    max_abs_diff: float = 0.0
    repeated_rows: int = 0
    repeat_mismatches: int = 0
    max_repeat_spread: float = 0.0
    consistent: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> Consistency:
        d = _obj(data)
        return cls(_num(d.get("tolerance")), _int(d.get("checked")), _int(d.get("distinct_rows")),
                   _int(d.get("holdout_mismatches")), _num(d.get("max_abs_diff")) or 0.0,
                   _int(d.get("repeated_rows")), _int(d.get("repeat_mismatches")),
                   _num(d.get("max_repeat_spread")) or 0.0, d.get("consistent") is True)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def mismatches(self) -> int:
        return self.holdout_mismatches + self.repeat_mismatches


@dataclass(frozen=True)
class PhaseSummary:
    """One phase (measured or no-op): percentiles, requests, errors by kind, duration,
    throughput, the requests in flight and, for an open loop, its schedule."""

    latency_ms: Percentiles = field(default_factory=Percentiles)
    requests: Requests = field(default_factory=Requests)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    throughput_rps: float | None = None
    concurrency: InFlight = field(default_factory=InFlight)
    open_loop: OpenLoop | None = None

    @staticmethod
    def _phase_parts(d: Mapping[str, Any]) -> dict[str, Any]:
        return {"latency_ms": Percentiles.from_dict(d.get("latency_ms")),
                "requests": Requests.from_dict(d.get("requests")),
                "errors_by_kind": {str(k): _int(v) for k, v in
                                   _obj(d.get("errors_by_kind")).items()},
                "duration_s": _num(d.get("duration_s")) or 0.0,
                "throughput_rps": _num(d.get("throughput_rps")),
                "concurrency": InFlight.from_dict(d.get("concurrency")),
                "open_loop": OpenLoop.from_dict(d.get("open_loop"))}

    @classmethod
    def from_dict(cls, data: Any) -> PhaseSummary:
        return cls(**cls._phase_parts(_obj(data)))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "latency_ms": self.latency_ms.as_dict(), "requests": self.requests.as_dict(),
            "errors_by_kind": dict(self.errors_by_kind), "duration_s": self.duration_s,
            "throughput_rps": self.throughput_rps, "concurrency": self.concurrency.as_dict(),
        }
        if self.open_loop is not None:
            out["open_loop"] = self.open_loop.as_dict()
        return out


@dataclass(frozen=True)
class Verdict:
    """The checks the worker decided for a run and the ``[load_test]`` policy section it
    decided them under (runs stored before the verdict was kept have none)."""

    policy: dict[str, Any]
    checks: tuple[Check, ...]

    @classmethod
    def from_dict(cls, data: Any) -> Verdict | None:
        d = _obj(data)
        raw = d.get("checks")
        if not isinstance(raw, list) or not raw:
            return None
        try:
            checks = tuple(Check.from_dict(c, category=Category.LOAD_TEST) for c in raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a hand-edited verdict is no verdict: the run is re-evaluated
        return cls(_obj(d.get("policy")), checks)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": dict(self.policy), "checks": [c.as_dict() for c in self.checks]}


@dataclass(frozen=True)
class LoadTestResult(PhaseSummary):
    """One completed run: its measured phase's summary, the consistency of its
    predictions, peak memory, the no-op phase (the harness's noise floor), where and
    against what it ran, and the verdict it was given."""

    consistency: Consistency | None = None
    peak_rss_mb: float | None = None
    noise: PhaseSummary | None = None
    noise_skipped: str = "not measured"  # why there is no no-op phase
    warmup: dict[str, Any] = field(default_factory=lambda: {"requests": 0})
    environment: dict[str, Any] = field(default_factory=dict)
    package: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    server_stats: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    prediction_log: str | None = None
    verdict: Verdict | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)  # the holdout sent first

    @classmethod
    def from_dict(cls, data: Any) -> LoadTestResult:
        """A stored result; anything but a mapping (or missing parts) reads as empty."""
        d = _obj(data)
        noise = _obj(d.get("noise"))
        log = d.get("prediction_log")
        return cls(
            **cls._phase_parts(d),
            consistency=Consistency.from_dict(d["consistency"])
            if isinstance(d.get("consistency"), Mapping) else None,
            peak_rss_mb=_num(d.get("peak_rss_mb")),
            noise=PhaseSummary.from_dict(noise) if "latency_ms" in noise else None,
            noise_skipped=str(noise.get("skipped") or "not measured"),
            warmup=_obj(d.get("warmup")) or {"requests": 0},
            environment=_obj(d.get("environment")), package=_obj(d.get("package")),
            target=_obj(d.get("target")), server_stats=d.get("server_stats"),
            config=_obj(d.get("config")), prediction_log=log if isinstance(log, str) else None,
            verdict=Verdict.from_dict(d.get("verdict")),
            behaviour=Behaviour.from_dict(d.get("behaviour")),
        )

    def as_dict(self) -> dict[str, Any]:
        """The stored shape: the measured phase first, then the other parts in order."""
        out = super().as_dict()
        out.update({
            "consistency": (self.consistency or Consistency()).as_dict(),
            "peak_rss_mb": self.peak_rss_mb,
            "noise": self.noise.as_dict() if self.noise is not None
            else {"skipped": self.noise_skipped},
            "warmup": dict(self.warmup), "environment": dict(self.environment),
            "package": dict(self.package), "target": dict(self.target),
            "server_stats": self.server_stats, "config": dict(self.config),
        })
        if self.prediction_log is not None:
            out["prediction_log"] = self.prediction_log
        if self.behaviour.checked:
            out["behaviour"] = self.behaviour.as_dict()
        if self.verdict is not None:
            out["verdict"] = self.verdict.as_dict()
        return out

    def percentile_ms(self, name: str) -> float | None:
        """``p50``, ``p95``, ``p99`` or ``p99_9`` in ms; None when not measured."""
        return self.latency_ms.get(name)

    @property
    def count(self) -> int | None:
        """The samples the percentiles were computed from."""
        return self.latency_ms.count

    @property
    def mode(self) -> str:
        return str(self.config.get("mode") or "closed")

    @property
    def timeout_ms(self) -> float | None:
        value = _num(self.config.get("timeout_ms"))
        return None if value is None else float(value)


def run_result(main: PhaseSummary, **parts: Any) -> LoadTestResult:
    """The result of a run whose measured phase is ``main``, with its other parts."""
    phase = {f.name: getattr(main, f.name) for f in dataclasses.fields(PhaseSummary)}
    return LoadTestResult(**phase, **parts)
