"""The readiness score: every check of the four categories, weighted by the policy.

- A category's score is ``weight × passed / total`` of its checks.
- The verdict is READY only when every check of every category passes; a pending or
  stale check is not a pass.
- Blockers are the checks that did not pass, gate-first: certification, then
  artifacts, then load test, then latency, each in its own order.
- Evidence measured on another package hash never counts (each category's engine
  returns such checks as ``stale``).
- Evidence that cannot be read (a malformed history, log file or store: a
  :class:`~deployready.errors.DeployReadyError` from a category's engine) fails that
  category with one check naming the file, and is listed in ``Readiness.errors``: the
  verdict could not be fully evaluated (the CLI exits 2). A package's own broken files
  are not such errors: they are what the artifacts checks judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployready.checks import CATEGORY_LABELS, CATEGORY_ORDER, Category, Check, Status
from deployready.errors import DeployReadyError, PackageError
from deployready.package.manifest import package_sha256_or_none, read_metadata
from deployready.policy import Policy
from deployready.store import utcnow
from deployready.workspace import Workspace

READY = "READY"
NOT_READY = "NOT READY"


@dataclass(frozen=True)
class CategoryScore:
    name: Category
    label: str
    weight: float
    checks: list[Check]

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed)

    @property
    def total(self) -> int:
        return len(self.checks)

    @property
    def score(self) -> float:
        return self.weight * self.passed / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": str(self.name),
            "label": self.label,
            "weight": self.weight,
            "score": round(self.score, 4),
            "passed": self.passed,
            "total": self.total,
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class Readiness:
    version: str
    package_sha256: str | None
    categories: list[CategoryScore]
    generated_at: str = field(default_factory=utcnow)
    #: evidence that could not be read, one message (naming the file) per category
    errors: tuple[str, ...] = ()

    @property
    def checks(self) -> list[Check]:
        return [c for cat in self.categories for c in cat.checks]

    @property
    def score(self) -> float:
        return sum(cat.score for cat in self.categories)

    @property
    def max_score(self) -> float:
        return sum(cat.weight for cat in self.categories)

    @property
    def ready(self) -> bool:
        checks = self.checks
        return bool(checks) and all(c.passed for c in checks)

    @property
    def status(self) -> str:
        return READY if self.ready else NOT_READY

    @property
    def blockers(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def category(self, name: Category | str) -> CategoryScore:
        for cat in self.categories:
            if cat.name == name:
                return cat
        raise KeyError(name)

    def as_dict(self, *, categories: bool = True) -> dict[str, Any]:
        """The verdict as plain data; without ``categories``, the summary a gate keeps
        (every key but the categories' checks and their evidence)."""
        data: dict[str, Any] = {
            "status": self.status,
            "score": round(self.score, 4),
            "max_score": self.max_score,
            "version": self.version,
            "package_sha256": self.package_sha256,
            "generated_at": self.generated_at,
        }
        if categories:
            data["categories"] = [cat.as_dict() for cat in self.categories]
        data["blockers"] = [c.as_dict() for c in self.blockers]
        data["errors"] = list(self.errors)
        return data


CheckSource = Callable[[Workspace, str, str | None, Policy], list[Check]]


def _error_check(category: Category, what: str, exc: Exception) -> Check:
    return Check(
        name=what,
        category=category,
        status=Status.FAIL,
        value=None,
        threshold="evidence readable",
        message=str(exc),
    )


def _certification(ws: Workspace, version: str, sha: str | None, policy: Policy) -> list[Check]:
    from deployready.certification.checks import certification_checks

    try:
        metadata = read_metadata(ws.package_path(version))
    except PackageError as exc:
        return [_error_check(Category.CERTIFICATION, "package metadata readable", exc)]
    return certification_checks(ws, version, sha, metadata, policy)


def _artifacts(ws: Workspace, version: str, sha: str | None, policy: Policy) -> list[Check]:
    from deployready.package.checks import artifact_checks

    return artifact_checks(ws.package_path(version), policy, ws.root)


def _load_test(ws: Workspace, version: str, sha: str | None, policy: Policy) -> list[Check]:
    from deployready.loadtest.checks import loadtest_checks

    return loadtest_checks(ws, version, sha, policy)


def _latency(ws: Workspace, version: str, sha: str | None, policy: Policy) -> list[Check]:
    from deployready.monitoring.latency_checks import latency_checks

    return latency_checks(ws, version, sha, policy)


SOURCES: dict[Category, CheckSource] = {
    Category.CERTIFICATION: _certification,
    Category.ARTIFACTS: _artifacts,
    Category.LOAD_TEST: _load_test,
    Category.LATENCY: _latency,
}


def compute_score(
    ws: Workspace, version: str | None = None, policy: Policy | None = None
) -> Readiness:
    """Score one package version of a workspace (default: the newest)."""
    policy = policy or ws.policy()
    version = version or ws.latest_version()
    if version is None:
        raise DeployReadyError(f"{ws.models_dir}: no model packages to score")
    if version not in ws.versions():
        raise DeployReadyError(f"{ws.models_dir}: no package {version}")
    path = ws.package_path(version)
    sha = package_sha256_or_none(path)
    weights = policy.score.weights
    categories: list[CategoryScore] = []
    errors: list[str] = []
    for category in CATEGORY_ORDER:
        try:
            checks = SOURCES[category](ws, version, sha, policy)
        except DeployReadyError as exc:
            checks = [_error_check(category, f"{CATEGORY_LABELS[category]} evidence readable", exc)]
            errors.append(str(exc))
        categories.append(
            CategoryScore(
                name=category,
                label=CATEGORY_LABELS[category],
                weight=float(getattr(weights, str(category))),
                checks=checks,
            )
        )
    return Readiness(
        version=version, package_sha256=sha, categories=categories, errors=tuple(errors)
    )
