"""The policy file: defaults equal the checklist, strict validation names the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deployready.errors import PolicyError
from deployready.policy import Policy, load_policy, parse_policy, policy_to_toml, write_policy


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
