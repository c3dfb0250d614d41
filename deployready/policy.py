"""The readiness policy: every number of the checklist, read from ``deployready.toml``.

Defaults equal the team's checklist. Loading is strict: an unknown key, a missing
required value or a wrong type is a :class:`~deployready.errors.PolicyError` naming the
key and the expected type.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deployready.errors import LogError, PolicyError
from deployready.times import to_utc, window_delta

POLICY_FILE = "deployready.toml"

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricRule:
    """A certification metric: ``higher`` means value >= threshold passes."""

    direction: Direction
    threshold: float

    @property
    def op(self) -> str:
        return ">=" if self.direction == "higher" else "<="


def _default_metrics() -> dict[str, MetricRule]:
    return {
        "roc_auc": MetricRule("higher", 0.80),
        "average_precision": MetricRule("higher", 0.55),
        "brier": MetricRule("lower", 0.16),
        "ece": MetricRule("lower", 0.05),
        "ks": MetricRule("higher", 0.45),
    }


@dataclass(frozen=True)
class CVPolicy:
    metric: str = "roc_auc"
    min_folds: int = 5
    max_fold_std: float = 0.05
    min_fold_score: float = 0.75


@dataclass(frozen=True)
class EntropyPolicy:
    min_normalized: float = 0.05
    bins: int = 10


@dataclass(frozen=True)
class ExpansionPolicy:
    max_synthetic_ratio: float = 1.5
    max_noise: float = 0.02


@dataclass(frozen=True)
class CertificationPolicy:
    metrics: dict[str, MetricRule] = field(default_factory=_default_metrics)
    consecutive_green: int = 3
    cv: CVPolicy = field(default_factory=CVPolicy)
    entropy: EntropyPolicy = field(default_factory=EntropyPolicy)
    expansion: ExpansionPolicy = field(default_factory=ExpansionPolicy)


@dataclass(frozen=True)
class LoadTestPolicy:
    concurrency: int = 100
    requests: int = 1000
    p50_ms: float = 30.0
    p95_ms: float = 50.0
    p99_ms: float = 100.0
    max_errors: int = 0
    max_timeouts: int = 0
    max_memory_mb: float = 2048.0
    timeout_ms: float = 1000.0
    warmup_requests: int = 50
    consistency_tolerance: float = 1e-6
    max_seconds: float = 300.0  # hard bound on one run's wall time


@dataclass(frozen=True)
class LatencyPolicy:
    p99_ms: float = 50.0
    p95_ms: float = 35.0
    max_drift: float = 0.20  # relative to baseline
    spike_ms: float = 100.0
    window: str = "1h"  # pandas offset alias for per-window percentiles
    baseline: Literal["loadtest", "window"] = "loadtest"
    baseline_start: str = ""  # ISO date/time, with baseline = "window"
    baseline_end: str = ""


@dataclass(frozen=True)
class DriftPolicy:
    psi_warn: float = 0.10
    psi_alert: float = 0.25
    bins: int = 10
    epsilon: float = 1e-4


@dataclass(frozen=True)
class DailyPolicy:
    max_error_rate: float = 0.01  # absolute error rate that is a spike
    error_spike_factor: float = 3.0  # or this many times the trailing 7-day median rate
    prediction_psi_alert: float = 0.25


@dataclass(frozen=True)
class ScoreWeights:
    certification: float = 40.0
    artifacts: float = 20.0
    load_test: float = 20.0
    latency: float = 20.0


@dataclass(frozen=True)
class ScorePolicy:
    weights: ScoreWeights = field(default_factory=ScoreWeights)


@dataclass(frozen=True)
class RolloutPolicy:
    stages: list[int] = field(default_factory=lambda: [5, 25, 100])
    bake_days: int = 1  # consecutive green daily checks needed in a stage before promotion


@dataclass(frozen=True)
class AlertsPolicy:
    webhook_url: str = ""
    timeout_s: float = 5.0
    retries: int = 3


@dataclass(frozen=True)
class ReviewsPolicy:
    weekly: list[str] = field(
        default_factory=lambda: [
            "Review the week's latency trend against baseline",
            "Review feature drift (PSI) trend and investigate amber features",
            "Review error logs and alert history",
            "Check prediction distribution against business KPIs",
        ]
    )
    monthly: list[str] = field(
        default_factory=lambda: [
            "Evaluate model performance on fresh labelled data",
            "Decide whether a retrain is needed",
            "Review the feature schema and upstream data contracts",
            "Review infrastructure cost and capacity",
        ]
    )


@dataclass(frozen=True)
class Policy:
    certification: CertificationPolicy = field(default_factory=CertificationPolicy)
    load_test: LoadTestPolicy = field(default_factory=LoadTestPolicy)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    daily: DailyPolicy = field(default_factory=DailyPolicy)
    score: ScorePolicy = field(default_factory=ScorePolicy)
    rollout: RolloutPolicy = field(default_factory=RolloutPolicy)
    alerts: AlertsPolicy = field(default_factory=AlertsPolicy)
    reviews: ReviewsPolicy = field(default_factory=ReviewsPolicy)


# --------------------------------------------------------------------------- loading


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. A missing file gives the defaults."""
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    if not path.exists():
        return Policy()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", source=path) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError("not UTF-8 text", source=path) from exc
    return parse_policy(raw, source=path)


def parse_policy(raw: dict[str, Any], *, source: str | Path = POLICY_FILE) -> Policy:
    policy: Policy = _build(Policy, raw, "", source)
    _check_semantics(policy, source)
    return policy


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _convert(tp: Any, value: Any, key: str, source: str | Path) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise PolicyError("wrong type", source=source, location=key, expected="a table")
        return _build(tp, value, key, source)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise PolicyError(
                f"invalid value {value!r}", source=source, location=key, expected=_type_name(tp)
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise PolicyError("wrong type", source=source, location=key, expected=_type_name(tp))
        (item_tp,) = typing.get_args(tp)
        return [_convert(item_tp, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise PolicyError("wrong type", source=source, location=key, expected="a table")
        _, val_tp = typing.get_args(tp)
        return {k: _convert(val_tp, v, f"{key}.{k}", source) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise PolicyError("wrong type", source=source, location=key, expected="true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError("wrong type", source=source, location=key, expected="an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError("wrong type", source=source, location=key, expected="a number")
        if not math.isfinite(value):
            raise PolicyError("not finite", source=source, location=key, expected="a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise PolicyError("wrong type", source=source, location=key, expected="a string")
        return value
    raise TypeError(f"unsupported policy type {tp!r}")  # pragma: no cover


def _build(cls: Any, raw: dict[str, Any], prefix: str, source: str | Path) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            allowed = ", ".join(sorted(names))
            raise PolicyError("unknown key", source=source, location=where, expected=allowed)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                where = f"{prefix}.{f.name}" if prefix else f.name
                raise PolicyError(
                    "missing key", source=source, location=where, expected=_type_name(hints[f.name])
                )
            continue
        where = f"{prefix}.{f.name}" if prefix else f.name
        kwargs[f.name] = _convert(hints[f.name], raw[f.name], where, source)
    return cls(**kwargs)


def _fail(source: str | Path, key: str, message: str, expected: str) -> None:
    raise PolicyError(message, source=source, location=key, expected=expected)


def _check_semantics(p: Policy, source: str | Path) -> None:
    if not p.certification.metrics:
        _fail(source, "certification.metrics", "no metrics", "at least one metric")
    if p.certification.consecutive_green < 1:
        _fail(source, "certification.consecutive_green", "must be >= 1", "an integer >= 1")
    if p.certification.cv.min_folds < 2:
        _fail(source, "certification.cv.min_folds", "must be >= 2", "an integer >= 2")
    if p.certification.entropy.bins < 2:
        _fail(source, "certification.entropy.bins", "must be >= 2", "an integer >= 2")
    if p.load_test.concurrency < 1 or p.load_test.requests < 1:
        _fail(source, "load_test.concurrency", "must be >= 1", "positive integers")
    if p.drift.bins < 2:
        _fail(source, "drift.bins", "must be >= 2", "an integer >= 2")
    if not 0 < p.drift.epsilon < 0.01:
        _fail(source, "drift.epsilon", "out of range", "a number between 0 and 0.01")
    if p.drift.psi_warn > p.drift.psi_alert:
        _fail(source, "drift.psi_warn", "greater than drift.psi_alert", "psi_warn <= psi_alert")
    weights = dataclasses.asdict(p.score.weights)
    for name, value in weights.items():
        if value < 0:
            _fail(source, f"score.weights.{name}", "negative weight", "a number >= 0")
    if sum(weights.values()) <= 0:
        _fail(source, "score.weights", "weights sum to zero", "a positive total")
    stages = p.rollout.stages
    if not stages or any(not 0 < s <= 100 for s in stages) or stages != sorted(set(stages)):
        _fail(
            source,
            "rollout.stages",
            f"invalid stages {stages}",
            "strictly increasing percentages in (0, 100]",
        )
    if stages and stages[-1] != 100:
        _fail(source, "rollout.stages", "last stage is not 100", "a final stage of 100")
    if p.latency.baseline == "window" and not (p.latency.baseline_start and p.latency.baseline_end):
        _fail(
            source,
            "latency.baseline_start",
            "baseline = 'window' needs baseline_start and baseline_end",
            "ISO dates",
        )
    _check_times(p.latency, source)


def _check_times(lp: LatencyPolicy, source: str | Path) -> None:
    """The latency window and baseline bounds, checked here so errors name this file."""
    try:
        window_delta(lp.window)
    except LogError as exc:
        _fail(source, "latency.window", exc.message, exc.expected or "e.g. '1h'")
    bounds: list[Any] = []
    for key in ("baseline_start", "baseline_end"):
        text = getattr(lp, key)
        try:
            bounds.append(to_utc(text))
        except (ValueError, TypeError, OverflowError):
            _fail(source, f"latency.{key}", f"not a time: {text!r}", "an ISO 8601 date or time")
    start, end = bounds
    if start is not None and end is not None and not start < end:
        _fail(source, "latency.baseline_end", "not after baseline_start", "a later time")


# --------------------------------------------------------------------------- writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover


def _emit(obj: Any, prefix: str, lines: list[str]) -> None:
    scalars: list[tuple[str, Any]] = []
    tables: list[tuple[str, Any]] = []
    items = obj.items() if isinstance(obj, dict) else dataclasses.asdict(obj).items()
    for key, value in items:
        (tables if isinstance(value, dict) else scalars).append((key, value))
    if scalars or not tables:
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars)
        lines.append("")
    for key, value in tables:
        _emit(value, f"{prefix}.{key}" if prefix else key, lines)


def policy_to_toml(policy: Policy) -> str:
    """Render a policy as TOML that :func:`load_policy` reads back unchanged."""
    lines = ["# deployready readiness policy: every number of the deployability checklist.", ""]
    _emit(policy, "", lines)
    return "\n".join(lines).rstrip() + "\n"


def write_policy(path: str | Path, policy: Policy | None = None) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(policy_to_toml(policy or Policy()), encoding="utf-8")
    tmp.replace(path)
    return path


# Allow `X | None` unions in future fields without surprising the converter.
_ = types.UnionType
