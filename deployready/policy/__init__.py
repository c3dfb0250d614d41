"""The readiness policy: every number of the checklist, read from ``deployready.toml``.

Defaults equal the team's checklist (:mod:`~deployready.policy.sections`). Loading is
strict (:mod:`~deployready.policy.load`): an unknown key, a missing required value, a
wrong type or a value out of its key's range (:data:`deployready.policy.rules.RULES`) is
a :class:`~deployready.errors.PolicyError` naming ``deployready.toml: section.key`` and
what was expected — when the policy loads, whichever command reads it.
:mod:`~deployready.policy.write` writes a policy back as TOML.
"""

from __future__ import annotations

from deployready.policy.load import POLICY_FILE, load_policy, parse_policy
from deployready.policy.sections import (
    ACCESS_ACTIONS,
    AccessPolicy,
    AlertsPolicy,
    CertificationPolicy,
    CVPolicy,
    DailyPolicy,
    Direction,
    DriftPolicy,
    EntropyPolicy,
    ExpansionPolicy,
    LatencyPolicy,
    LoadTestPolicy,
    MetricRule,
    PerformancePolicy,
    Policy,
    ReviewsPolicy,
    RolePolicy,
    RolloutPolicy,
    ScorePolicy,
    ScoreWeights,
    SigningPolicy,
)
from deployready.policy.write import policy_to_toml, write_policy

__all__ = [
    "ACCESS_ACTIONS",
    "POLICY_FILE",
    "AccessPolicy",
    "AlertsPolicy",
    "CVPolicy",
    "CertificationPolicy",
    "DailyPolicy",
    "Direction",
    "DriftPolicy",
    "EntropyPolicy",
    "ExpansionPolicy",
    "LatencyPolicy",
    "LoadTestPolicy",
    "MetricRule",
    "PerformancePolicy",
    "Policy",
    "ReviewsPolicy",
    "RolePolicy",
    "RolloutPolicy",
    "ScorePolicy",
    "ScoreWeights",
    "SigningPolicy",
    "load_policy",
    "parse_policy",
    "policy_to_toml",
    "write_policy",
]
