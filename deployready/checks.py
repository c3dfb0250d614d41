"""Checks as data: every box of the readiness checklist is a :class:`Check`.

A check never decides anything after it is built: the dashboard, the CLI and the
report render ``status``, ``value``, ``threshold``, ``message`` and ``evidence`` as
they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"  # no evidence yet
    STALE = "stale"  # evidence exists, but for another version or package hash


class Category(StrEnum):
    CERTIFICATION = "certification"
    ARTIFACTS = "artifacts"
    LOAD_TEST = "load_test"
    LATENCY = "latency"


#: Order in which blockers are listed: certification gates everything else.
CATEGORY_ORDER: tuple[Category, ...] = (
    Category.CERTIFICATION,
    Category.ARTIFACTS,
    Category.LOAD_TEST,
    Category.LATENCY,
)

CATEGORY_LABELS: dict[Category, str] = {
    Category.CERTIFICATION: "Certification",
    Category.ARTIFACTS: "Artifacts",
    Category.LOAD_TEST: "Load test",
    Category.LATENCY: "Latency",
}


@dataclass(frozen=True)
class Evidence:
    """Where a check's value came from."""

    source: str  # a file (with row) or a store record, e.g. "data/deployready.db#loadtest_runs/7"
    time: str | None = None  # ISO 8601 time the evidence was produced
    package_sha256: str | None = None  # the package the evidence was measured on
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One box of the checklist."""

    name: str
    category: Category
    status: Status
    value: float | int | str | bool | None
    threshold: str  # human-readable rule, e.g. "<= 50 ms"
    message: str  # one sentence: what was found, or what evidence is missing
    evidence: Evidence | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["category"] = str(self.category)
        data["status"] = str(self.status)
        return data


def compare(value: float, op: str, threshold: float) -> bool:
    """Apply a policy comparison; ``op`` is one of ``<``, ``<=``, ``>``, ``>=``."""
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    raise ValueError(f"unknown comparison {op!r}")


def format_value(value: float | int | str | bool | None) -> str:
    """A check value as people read it: floats to 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
