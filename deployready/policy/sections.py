"""The policy's sections: one frozen dataclass per table of ``deployready.toml``, whose
defaults equal the team's checklist, and :class:`Policy`, the whole file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
    # load profile: share of the measured span with >= concurrency requests in flight
    min_time_at_concurrency: float = 0.5


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
    require_performance: bool = False  # the gate also needs no performance failure in the stage


@dataclass(frozen=True)
class PerformancePolicy:
    """Production performance from delayed labels (realized) and before them (estimated).

    The metrics and their thresholds are the certification metrics'."""

    min_labelled: int = 200  # labelled predictions a day needs before it is judged
    min_coverage: float = 0.10  # and labelled / predictions that day
    label_window_days: int = 14  # a day's figures are provisional until then
    confidence: float = 0.95  # of every confidence interval
    bootstrap_resamples: int = 200  # draws for the ECE, KS and confusion-metric intervals
    max_calibration_error: float = 0.05  # cross-fitted ECE of the calibrator on the holdout
    min_calibration_rows: int = 200  # labelled holdout rows the estimate needs
    importance_sample_rows: int = 500  # production rows explained per week (seeded sample)
    importance_top_k: int = 5
    min_rank_correlation: float = 0.70  # Spearman, production vs package importances
    min_top_k_overlap: float = 0.60  # shared share of the top-k features
    retrain_fail_days: int = 3  # days of realized failure that call for a retrain
    retrain_min_new_labels: int = 1000  # labelled rows since the training cut-off to retrain on


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


#: The actions ``[access]`` roles grant (``may``).
ACCESS_ACTIONS = (
    "promote", "rollback", "signoff-weekly", "signoff-monthly", "loadtest", "daily", "build-demo"
)


@dataclass(frozen=True)
class RolePolicy:
    """One role: who holds it (``members``) and what it may do (``may``).

    A member is an email (``*`` wildcards: ``*@example.com``; ``*`` alone is anyone
    signed in), ``group:NAME`` (a value of the group claim), or ``local:USER``,
    ``cli:USER``, ``ci:NAME``, ``api:NAME`` for the unauthenticated channels."""

    members: list[str] = field(default_factory=list)
    may: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccessPolicy:
    """Who may act (``deployready.access.may`` decides). ``mode = "local"`` lets the
    machine's own users act without signing in (the dashboard without sign-in, the
    CLI); ``mode = "sign-in"`` forbids that: only role members act."""

    mode: str = "local"
    group_claim: str = "groups"
    roles: dict[str, RolePolicy] = field(default_factory=dict)


@dataclass(frozen=True)
class SigningPolicy:
    """Signed packages (:mod:`deployready.package.signing`): whether the artifact check
    "signed by a trusted key" is required, and the public keys (PEM files, relative to the
    workspace) whose signatures count."""

    required: bool = False
    trusted_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    certification: CertificationPolicy = field(default_factory=CertificationPolicy)
    load_test: LoadTestPolicy = field(default_factory=LoadTestPolicy)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    daily: DailyPolicy = field(default_factory=DailyPolicy)
    score: ScorePolicy = field(default_factory=ScorePolicy)
    rollout: RolloutPolicy = field(default_factory=RolloutPolicy)
    performance: PerformancePolicy = field(default_factory=PerformancePolicy)
    alerts: AlertsPolicy = field(default_factory=AlertsPolicy)
    reviews: ReviewsPolicy = field(default_factory=ReviewsPolicy)
    signing: SigningPolicy = field(default_factory=SigningPolicy)
    access: AccessPolicy = field(default_factory=AccessPolicy)
