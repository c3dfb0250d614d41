"""The policy file: defaults equal the checklist, strict validation names the key."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

from deployready.errors import PolicyError
from deployready.policy import (
    Policy,
    load_policy,
    parse_policy,
    policy_to_toml,
    write_policy,
)
from deployready.policy.rules import METRICS, RULES


def test_defaults_are_the_checklist() -> None:
    p = Policy()
    assert len(p.certification.metrics) == 5
    assert p.certification.consecutive_green == 3
    assert p.certification.expansion.max_synthetic_ratio == 1.5
    assert p.certification.expansion.max_noise == 0.02
    lt = p.load_test
    assert (lt.concurrency, lt.requests, lt.p50_ms, lt.p95_ms, lt.p99_ms) == (
        100,
        1000,
        30,
        50,
        100,
    )
    assert (lt.max_errors, lt.max_timeouts, lt.max_memory_mb) == (0, 0, 2048)
    la = p.latency
    assert (la.p99_ms, la.p95_ms, la.max_drift, la.spike_ms) == (50, 35, 0.20, 100)
    assert (p.drift.psi_warn, p.drift.psi_alert, p.drift.bins) == (0.10, 0.25, 10)
    w = p.score.weights
    assert (w.certification, w.artifacts, w.load_test, w.latency) == (40, 20, 20, 20)
    assert p.rollout.stages == [5, 25, 100]
    assert p.rollout.require_performance is False
    pf = p.performance
    assert (pf.min_labelled, pf.min_coverage, pf.label_window_days, pf.confidence) == (
        200, 0.10, 14, 0.95)
    assert (pf.importance_top_k, pf.min_rank_correlation, pf.min_top_k_overlap) == (5, 0.7, 0.6)


def test_round_trip(tmp_path: Path) -> None:
    path = write_policy(tmp_path)
    assert load_policy(path) == Policy()
    assert load_policy(tmp_path) == Policy()


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_policy(tmp_path / "nope.toml") == Policy()


def test_repo_policy_is_valid() -> None:
    repo = Path(__file__).resolve().parent.parent
    assert load_policy(repo / "deployready.toml") == Policy()


@pytest.mark.parametrize(
    ("toml", "location", "expected"),
    [
        ("[load_test]\nconcurency = 100\n", "load_test.concurency", "concurrency"),
        ("[load_test]\nconcurrency = '100'\n", "load_test.concurrency", "an integer"),
        ("[load_test]\nconcurrency = true\n", "load_test.concurrency", "an integer"),
        ("[latency]\np99_ms = 'fast'\n", "latency.p99_ms", "a number"),
        ("[latency]\np99_ms = nan\n", "latency.p99_ms", "a number"),
        ("[rollout]\nstages = [25, 5, 100]\n", "rollout.stages", "increasing"),
        ("[rollout]\nstages = [5, 25]\n", "rollout.stages", "100"),
        ("[rollout]\nstages = 5\n", "rollout.stages", "a list"),
        (
            "[certification.metrics.roc_auc]\ndirection = 'up'\nthreshold = 0.8\n",
            "certification.metrics.roc_auc.direction",
            "'higher'",
        ),
        (
            "[certification.metrics.roc_auc]\nthreshold = 0.8\n",
            "certification.metrics.roc_auc.direction",
            "missing",
        ),
        ("[score.weights]\nlatency = -1\n", "score.weights.latency", ">= 0"),
        ("[drift]\npsi_warn = 0.5\n", "drift.psi_warn", "psi_alert"),
        ("bogus = 1\n", "bogus", "certification"),
        ("load_test = 3\n", "load_test", "a table"),
        ("[latency]\nbaseline = 'window'\n", "latency.baseline_start", "ISO"),
    ],
)
def test_bad_policy_names_the_key(tmp_path: Path, toml: str, location: str, expected: str) -> None:
    path = tmp_path / "deployready.toml"
    path.write_text(toml)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    assert err.location == location
    assert str(path) in str(err)
    assert expected in str(err)


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "deployready.toml"
    path.write_text("[load_test\nconcurrency = 1")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "deployready.toml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PolicyError):
        load_policy(path)


def test_partial_policy_keeps_other_defaults() -> None:
    p = parse_policy(tomllib.loads("[load_test]\nconcurrency = 10\n"))
    assert p.load_test.concurrency == 10
    assert p.load_test.requests == 1000
    assert p.latency == Policy().latency


def test_toml_rendering_reads_back_changed_values() -> None:
    p = parse_policy(
        tomllib.loads(
            "[rollout]\nstages = [1, 10, 50, 100]\n[alerts]\nwebhook_url = 'http://127.0.0.1:9/x'\n"
        )
    )
    assert parse_policy(tomllib.loads(policy_to_toml(p))) == p


# --------------------------------------------------------------------------- ranges


def policy_fields(cls: Any = Policy, prefix: str = "") -> list[str]:
    """Every key of the policy, read from its dataclasses (not from the rules): a table
    keyed by name (``certification.metrics``) is a key itself, its entries' fields are
    ``<table>.*.<field>``."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys += policy_fields(tp, f"{key}.")
        elif typing.get_origin(tp) is dict:
            keys.append(key)
            keys += policy_fields(typing.get_args(tp)[1], f"{key}.*.")
        else:
            keys.append(key)
    return keys


#: A valid entry of each policy table keyed by name, for :func:`raw_with`.
TABLE_ENTRIES: dict[str, dict[str, Any]] = {
    "certification.metrics": {"direction": "higher", "threshold": 0.8},
    "access.roles": {"members": ["rm@example.com"], "may": ["promote"]},
}


def raw_with(key: str, value: Any) -> dict[str, Any]:
    """A policy table setting ``key`` to ``value`` (a ``*`` is an entry named roc_auc —
    the metric, or a role — whose other fields are valid)."""
    parts = key.split(".")
    if "*" in parts:
        i = parts.index("*")
        entry = TABLE_ENTRIES[".".join(parts[:i])]
        parts, value = [*parts[:i], "roc_auc"], {**entry, parts[i + 1]: value}
    raw: dict[str, Any] = {}
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return raw


KEYS = policy_fields()


def test_every_policy_key_has_a_range_rule() -> None:
    """A key added to the policy without a rule for its valid values fails here."""
    assert [k for k in KEYS if k not in RULES] == []
    assert sorted(set(RULES) - set(KEYS)) == []  # and no rule for a key that is gone


@pytest.mark.parametrize("key", KEYS)
def test_every_key_refuses_out_of_range_values_naming_it(key: str, tmp_path: Path) -> None:
    source = tmp_path / "deployready.toml"
    examples = RULES[key].invalid(key)
    assert examples, f"{key}: its rule gives no out-of-range example"
    for value in examples:
        with pytest.raises(PolicyError) as info:
            parse_policy(raw_with(key, value), source=source)
        err = info.value
        assert err.location is not None
        assert err.location == key.replace("*", "roc_auc") or err.location.startswith(
            (f"{key}.", f"{key}[")), (value, str(err))
        assert f"deployready.toml: {err.location}: " in str(err), str(err)
        assert err.expected, str(err)


def test_defaults_and_range_edges_are_valid() -> None:
    assert parse_policy({}) == Policy()
    edges = {
        "drift": {"psi_warn": 0.25, "psi_alert": 0.25, "epsilon": 1e-9},
        "rollout": {"bake_days": 0, "stages": [100]},
        "load_test": {"max_errors": 0, "warmup_requests": 0, "timeout_ms": 1,
                      "max_seconds": 86400, "concurrency": 10000},
        "certification": {"cv": {"metric": "log_loss", "min_fold_score": 3.0},
                          "metrics": {"log_loss": {"direction": "lower", "threshold": 2.5}}},
        "daily": {"max_error_rate": 1.0, "error_spike_factor": 1.0},
        "alerts": {"webhook_url": "https://hooks.example.com/x?k=1", "retries": 0},
        "reviews": {"weekly": []},
        "performance": {"min_coverage": 0.0, "label_window_days": 0, "confidence": 0.5,
                        "min_rank_correlation": -1.0, "retrain_min_new_labels": 0},
    }
    p = parse_policy(edges)
    assert p.rollout.bake_days == 0 and p.drift.psi_warn == p.drift.psi_alert


@pytest.mark.parametrize(
    ("toml", "location", "expected"),
    [
        ("[latency]\np99_ms = -50\n", "latency.p99_ms", "a number > 0"),
        ("[latency]\nspike_ms = 0\n", "latency.spike_ms", "a number > 0"),
        ("[load_test]\np95_ms = -1.0\n", "load_test.p95_ms", "a number > 0"),
        ("[drift]\npsi_warn = -0.1\n", "drift.psi_warn", "a number > 0"),
        ("[drift]\npsi_warn = 0.3\n", "drift.psi_warn", "<= drift.psi_alert"),
        ("[certification.metrics.roc_auc]\ndirection = 'higher'\nthreshold = 1.5\n",
         "certification.metrics.roc_auc.threshold", "a number in [0, 1]"),
        ("[certification.metrics.gini]\ndirection = 'higher'\nthreshold = 0.5\n",
         "certification.metrics.gini", "one of roc_auc"),
        ("[certification.metrics.brier]\ndirection = 'higher'\nthreshold = 0.1\n",
         "certification.metrics.brier.direction", "'lower'"),
        ("[certification.cv]\nmetric = 'gini'\n", "certification.cv.metric", "one of roc_auc"),
        ("[certification.cv]\nmin_fold_score = 1.2\n", "certification.cv.min_fold_score",
         "[0, 1]"),
        ("[load_test]\ntimeout_ms = 0\n", "load_test.timeout_ms", "a number in [1, 600000]"),
        ("[load_test]\nmax_seconds = -1\n", "load_test.max_seconds", "(0, 86400]"),
        ("[load_test]\nrequests = 0\n", "load_test.requests", "an integer in 1..1000000"),
        ("[alerts]\nwebhook_url = 'hooks.example.com/x'\n", "alerts.webhook_url", "http"),
        ("[reviews]\nweekly = ['Check drift', '']\n", "reviews.weekly", "non-empty"),
        ("[performance]\nconfidence = 1.0\n", "performance.confidence", "[0.5, 1)"),
        ("[performance]\nmin_coverage = 1.5\n", "performance.min_coverage", "[0, 1]"),
        ("[rollout]\nrequire_performance = 'yes'\n", "rollout.require_performance",
         "true or false"),
    ],
)
def test_out_of_range_names_file_section_and_key(
    tmp_path: Path, toml: str, location: str, expected: str
) -> None:
    """The tracker's examples: each is refused when the policy loads, by every command."""
    path = tmp_path / "deployready.toml"
    path.write_text(toml)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.location == location
    assert str(info.value).startswith(f"{path}: {location}: "), str(info.value)
    assert expected in str(info.value)


def test_metric_table_matches_the_registry() -> None:
    """The policy knows the metrics without importing scikit-learn; the registry is the truth."""
    from deployready.certification.metrics import REGISTRY

    assert {name: direction for name, (direction, _) in METRICS.items()} == {
        name: spec.direction for name, spec in REGISTRY.items()
    }
