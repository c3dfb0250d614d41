"""The valid values of every policy key (:data:`RULES`) and the rules across keys,
checked when the policy loads.

Every key of the policy has a rule for its valid values (RULES, keyed like the file:
``section.key``; ``*`` stands for a metric's name). They are checked when the policy
loads, so a value out of range is an error naming ``deployready.toml: section.key``
whichever command reads it, not later, in the one command that uses it. Each rule
also lists values just outside its range, from which the tests build a bad policy
for every key: a key added without a rule fails them.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployready.errors import LogError, PolicyError
from deployready.policy.access_rules import claim_problem, may_problem, members_problem
from deployready.policy.sections import Direction, Policy


def _fail(source: str | Path, key: str, message: str, expected: str) -> None:
    raise PolicyError(message, source=source, location=key, expected=expected)


class Rule:
    """The valid values of one policy key."""

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        """(what is wrong, what was expected), or None when ``value`` is valid."""
        raise NotImplementedError

    def invalid(self, key: str) -> list[Any]:
        """Values of the right type just outside the valid ones."""
        raise NotImplementedError


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Range(Rule):
    """A number in an interval; ``integer`` for integer keys."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        lo, hi = self.low, self.high
        if lo is not None and (value <= lo if self.low_open else value < lo):
            return False
        return not (hi is not None and (value >= hi if self.high_open else value > hi))

    @property
    def expected(self) -> str:
        lo, hi = self.low, self.high
        if self.integer:
            if lo is not None and hi is not None:
                return f"an integer in {_show(lo)}..{_show(hi)}"
            return f"an integer >= {_show(lo)}" if lo is not None else f"an integer <= {hi}"
        if lo is not None and hi is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"a number in {left}{_show(lo)}, {_show(hi)}{right}"
        if lo is not None:
            return f"a number {'>' if self.low_open else '>='} {_show(lo)}"
        assert hi is not None
        return f"a number {'<' if self.high_open else '<='} {_show(hi)}"

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        if self.contains(value):
            return None
        return f"{_show(value)} is out of range", self.expected

    def invalid(self, key: str) -> list[Any]:
        out: list[Any] = []
        if self.low is not None:
            out.append(self.low if self.low_open else self.low - 1)
        if self.high is not None:
            out.append(self.high if self.high_open else self.high + 1)
        return [int(v) if self.integer else float(v) for v in out]


UNIT = Range(0, 1)
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)

#: The certification metrics a policy can name, which way is better and the values they
#: take — the registry of :mod:`deployready.certification.metrics`, which needs
#: scikit-learn to import.
METRICS: dict[str, tuple[Direction, Range]] = {
    "roc_auc": ("higher", UNIT),
    "average_precision": ("higher", UNIT),
    "brier": ("lower", UNIT),
    "log_loss": ("lower", NON_NEGATIVE),
    "accuracy": ("higher", UNIT),
    "f1": ("higher", UNIT),
    "precision": ("higher", UNIT),
    "recall": ("higher", UNIT),
    "ece": ("lower", UNIT),
    "ks": ("higher", UNIT),
}
_KNOWN_METRICS = "one of " + ", ".join(METRICS)


class MetricTable(Rule):
    """``certification.metrics``: at least one metric, each one the registry knows."""

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        if not value:
            return "no metrics", "at least one metric"
        return None

    def invalid(self, key: str) -> list[Any]:
        return [{}, {"rocauc": {"direction": "higher", "threshold": 0.8}}]


class KnownMetric(Rule):
    """``certification.cv.metric``: a metric of the registry."""

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        return None if value in METRICS else (f"unknown metric {value!r}", _KNOWN_METRICS)

    def invalid(self, key: str) -> list[Any]:
        return ["rocauc", ""]


class MetricDirection(Rule):
    """A metric's direction is the way it gets better: the other way passes worse models."""

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        name = key.split(".")[2]
        better = METRICS[name][0]
        if value == better:
            return None
        return f"a {better} {name} is better: {value!r} would pass worse models", repr(better)

    def invalid(self, key: str) -> list[Any]:
        return ["lower"]  # for roc_auc, which the tests use


class MetricValue(Rule):
    """A value of a metric: the metric's own range (probability metrics in [0, 1]).
    The metric is the one the key belongs to, or ``cv.metric`` for the CV fold score."""

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        parts = key.split(".")
        name = parts[2] if parts[1] == "metrics" else policy.certification.cv.metric
        if name not in METRICS:
            return None  # named by its own error
        valid = METRICS[name][1]
        if valid.contains(value):
            return None
        return f"{_show(value)} is out of range for {name}", valid.expected

    def invalid(self, key: str) -> list[Any]:
        return [-0.1, 1.5]  # roc_auc (the tests' metric, and cv.metric's default)


@dataclass(frozen=True)
class Check(Rule):
    """A rule given as a function: the problem with a value, or None."""

    check: Any  # Callable[[Any, Policy], tuple[str, str] | None]
    examples: tuple[Any, ...]

    def problem(self, value: Any, key: str, policy: Policy) -> tuple[str, str] | None:
        result: tuple[str, str] | None = self.check(value, policy)
        return result

    def invalid(self, key: str) -> list[Any]:
        return list(self.examples)


def _one_of(*choices: str) -> Check:
    expected = " or ".join(repr(c) for c in choices)
    return Check(lambda v, p: None if v in choices else (f"invalid value {v!r}", expected),
                 ("something else",))


def _psi_warn(value: float, policy: Policy) -> tuple[str, str] | None:
    if not POSITIVE.contains(value):
        return f"{_show(value)} is out of range", POSITIVE.expected
    alert = policy.drift.psi_alert
    if POSITIVE.contains(alert) and value > alert:  # an invalid alert level is its own error
        return (f"{_show(value)} is above drift.psi_alert ({_show(alert)})",
                "a number > 0 and <= drift.psi_alert")
    return None


def _stages(stages: list[int], policy: Policy) -> tuple[str, str] | None:
    if not stages or any(not 0 < s <= 100 for s in stages) or stages != sorted(set(stages)):
        return f"invalid stages {stages}", "strictly increasing percentages in (0, 100]"
    if stages[-1] != 100:
        return "last stage is not 100", "a final stage of 100"
    return None


def _window(window: str, policy: Policy) -> tuple[str, str] | None:
    from deployready.times import window_delta

    try:
        window_delta(window)
    except LogError as exc:
        return exc.message, exc.expected or "e.g. '1h'"
    return None


def _time(text: str, policy: Policy) -> tuple[str, str] | None:
    from deployready.times import to_utc

    try:
        to_utc(text)
    except (ValueError, TypeError, OverflowError):
        return f"not a time: {text!r}", "an ISO 8601 date or time, or \"\""
    return None


def _webhook(url: str, policy: Policy) -> tuple[str, str] | None:
    from urllib.parse import urlsplit

    if url == "":
        return None
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    return None if ok else (f"not an HTTP URL: {url!r}",
                            "an http:// or https:// URL, or \"\" for no webhook")


def _items(items: list[str], policy: Policy) -> tuple[str, str] | None:
    if any(not item.strip() for item in items):
        return "an empty review item", "non-empty, distinct review items"
    if len(set(items)) != len(items):
        return "a review item listed twice", "non-empty, distinct review items"
    return None


def _key_files(paths: list[str], policy: Policy) -> tuple[str, str] | None:
    expected = "distinct PEM public key files, each with its own name (the file's stem)"
    if any(not p.strip() for p in paths):
        return "an empty key path", expected
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        return "two keys with one name", expected
    return None


def _int(low: int | None = None, high: int | None = None) -> Range:
    return Range(low, high, integer=True)


RULES: dict[str, Rule] = {
    "certification.metrics": MetricTable(),
    "certification.metrics.*.direction": MetricDirection(),
    "certification.metrics.*.threshold": MetricValue(),
    "certification.consecutive_green": _int(1, 1000),
    "certification.cv.metric": KnownMetric(),
    "certification.cv.min_folds": _int(2, 100),
    "certification.cv.max_fold_std": NON_NEGATIVE,
    "certification.cv.min_fold_score": MetricValue(),
    "certification.entropy.min_normalized": UNIT,
    "certification.entropy.bins": _int(2, 1000),
    "certification.expansion.max_synthetic_ratio": Range(1),
    "certification.expansion.max_noise": NON_NEGATIVE,
    # the bounds of a load-test run (deployready.loadtest.config.LoadTestConfig.check)
    "load_test.concurrency": _int(1, 10_000),
    "load_test.requests": _int(1, 1_000_000),
    "load_test.p50_ms": POSITIVE,
    "load_test.p95_ms": POSITIVE,
    "load_test.p99_ms": POSITIVE,
    "load_test.max_errors": _int(0),
    "load_test.max_timeouts": _int(0),
    "load_test.max_memory_mb": POSITIVE,
    "load_test.timeout_ms": Range(1, 600_000),
    "load_test.warmup_requests": _int(0, 1_000_000),
    "load_test.consistency_tolerance": Range(0, 1, high_open=True),
    "load_test.max_seconds": Range(0, 86_400, low_open=True),
    "load_test.min_time_at_concurrency": Range(0, 1, low_open=True),
    "latency.p99_ms": POSITIVE,
    "latency.p95_ms": POSITIVE,
    "latency.max_drift": NON_NEGATIVE,
    "latency.spike_ms": POSITIVE,
    "latency.window": Check(_window, ("7min", "0h", "soon")),
    "latency.baseline": _one_of("loadtest", "window"),
    "latency.baseline_start": Check(_time, ("soon",)),
    "latency.baseline_end": Check(_time, ("2026-13-45",)),
    "drift.psi_warn": Check(_psi_warn, (0.0, -0.1, 0.3)),
    "drift.psi_alert": POSITIVE,
    "drift.bins": _int(2, 1000),
    "drift.epsilon": Range(0, 0.01, low_open=True, high_open=True),
    "daily.max_error_rate": UNIT,
    "daily.error_spike_factor": Range(1),
    "daily.prediction_psi_alert": POSITIVE,
    "score.weights.certification": NON_NEGATIVE,
    "score.weights.artifacts": NON_NEGATIVE,
    "score.weights.load_test": NON_NEGATIVE,
    "score.weights.latency": NON_NEGATIVE,
    "rollout.stages": Check(_stages, ([25, 5, 100], [5, 25], [0, 100], [5, 5, 100], [5, 150], [])),
    "rollout.bake_days": _int(0, 365),
    "rollout.require_performance": Check(lambda v, p: None, ("yes", 1)),  # type by the loader
    "performance.min_labelled": _int(1, 10_000_000),
    "performance.min_coverage": UNIT,
    "performance.label_window_days": _int(0, 365),
    "performance.confidence": Range(0.5, 1, high_open=True),
    "performance.bootstrap_resamples": _int(20, 10_000),
    "performance.max_calibration_error": UNIT,
    "performance.min_calibration_rows": _int(20, 10_000_000),
    "performance.importance_sample_rows": _int(10, 100_000),
    "performance.importance_top_k": _int(1, 1000),
    "performance.min_rank_correlation": Range(-1, 1),
    "performance.min_top_k_overlap": UNIT,
    "performance.retrain_fail_days": _int(1, 366),
    "performance.retrain_min_new_labels": _int(0),
    "alerts.webhook_url": Check(_webhook, ("hooks.example.com/x", "ftp://example.com/x",
                                           "http://")),
    "alerts.timeout_s": Range(0, 300, low_open=True),
    "alerts.retries": _int(0, 20),
    "reviews.weekly": Check(_items, ([""], ["Check drift", "Check drift"], ["  "])),
    "reviews.monthly": Check(_items, ([""], ["Retrain?", "Retrain?"])),
    "signing.required": Check(lambda v, p: None, ("yes", 1)),  # type by the loader
    "signing.trusted_keys": Check(_key_files, ([""], ["keys/a.pub", "keys/a.pub"],
                                               ["keys/a.pub", "other/a.pub"])),
    "access.mode": _one_of("local", "sign-in"),
    "access.group_claim": Check(claim_problem, ("", "  ")),
    "access.roles": Check(lambda v, p: None, ("release-manager",)),  # type by the loader
    "access.roles.*.members": Check(members_problem, ([], ["alice"], ["team:x"], ["group:"])),
    "access.roles.*.may": Check(may_problem, ([], ["deploy"])),
}


def _leaves(obj: Any, prefix: str, pattern: str) -> typing.Iterator[tuple[str, str, Any]]:
    """(key in the file, key in RULES, value) of every value of a policy, in file order."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key, rule_key = f"{prefix}{f.name}", f"{pattern}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{key}.", f"{rule_key}.")
            continue
        yield key, rule_key, value
        if isinstance(value, dict):
            for name, item in value.items():
                yield from _leaves(item, f"{key}.{name}.", f"{rule_key}.*.")


def _check_ranges(p: Policy, source: str | Path) -> None:
    for name in p.certification.metrics:
        if name not in METRICS:
            _fail(source, f"certification.metrics.{name}", f"unknown metric {name!r}",
                  _KNOWN_METRICS)
    for key, rule_key, value in _leaves(p, "", ""):
        rule = RULES.get(rule_key)
        found = rule.problem(value, key, p) if rule is not None else None
        if found is not None:
            _fail(source, key, *found)


def check_semantics(p: Policy, source: str | Path) -> None:
    """Rules across keys (each key's own range is in RULES)."""
    _check_ranges(p, source)
    weights = dataclasses.asdict(p.score.weights)
    if sum(weights.values()) <= 0:
        _fail(source, "score.weights", "weights sum to zero", "a positive total")
    lp = p.latency
    if lp.baseline == "window" and not (lp.baseline_start and lp.baseline_end):
        _fail(
            source,
            "latency.baseline_start",
            "baseline = 'window' needs baseline_start and baseline_end",
            "ISO dates",
        )
    from deployready.times import to_utc

    start, end = to_utc(lp.baseline_start), to_utc(lp.baseline_end)
    if start is not None and end is not None and not start < end:
        _fail(source, "latency.baseline_end", "not after baseline_start", "a later time")


# --------------------------------------------------------------------------- writing
