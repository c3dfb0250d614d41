"""Checks as data: every verdict deployready gives is a :class:`Check`.

One record for every kind of verdict: the boxes of the readiness checklist, the items
of a day's daily check, the items of the daily review and the conditions of a rollout
gate (``category`` says which). A check never decides anything after it is built: the
dashboard, the CLI and the report render ``status``, ``value``, ``threshold``,
``message`` (the one-sentence finding) and ``evidence`` as they are, through the one
formatting table below (:data:`STATUS_STYLES`: glyph, word and chart colour;
:func:`format_value`).

Statuses
--------
``pass`` and ``fail`` are verdicts on evidence; ``pending`` means there is no evidence
yet (it can still come); ``stale`` means evidence exists but for another version or
package hash. ``missing`` is for a stored record that does not carry a check it should:
a daily record written before that check existed has no evidence for it and never will,
which is neither "not yet" (pending) nor "another package" (stale). ``warn`` is for an
estimate that points to a problem without being a verdict on evidence (estimated
performance below its threshold before the labels arrive). Only ``pass`` passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"  # no evidence yet
    STALE = "stale"  # evidence exists, but for another version or package hash
    MISSING = "missing"  # a stored record lacks this check (written before it existed)
    WARN = "warn"  # an estimate below its threshold: a warning, not a verdict


class Category(StrEnum):
    CERTIFICATION = "certification"
    ARTIFACTS = "artifacts"
    LOAD_TEST = "load_test"
    LATENCY = "latency"
    DAILY = "daily"  # an item of one day's daily check (production monitoring)
    REVIEW = "review"  # an item of the daily review checklist
    GATE = "gate"  # a condition of a rollout promotion gate
    PERFORMANCE = "performance"  # production performance: realized, estimated, importance


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
    Category.DAILY: "Daily check",
    Category.REVIEW: "Daily review",
    Category.GATE: "Rollout gate",
    Category.PERFORMANCE: "Performance",
}


@dataclass(frozen=True)
class Evidence:
    """Where a check's value came from."""

    source: str  # a file (with row) or a store record, e.g. "data/deployready.db#loadtest_runs/7"
    time: str | None = None  # ISO 8601 time the evidence was produced
    package_sha256: str | None = None  # the package the evidence was measured on
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(
            source=str(data.get("source") or ""),
            time=data.get("time"),
            package_sha256=data.get("package_sha256"),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class _Boxed:
    value: Any


_ATOMS = (str, int, float, bool, type(None))


def _as_plain(value: Any) -> Any:
    """``dataclasses.asdict`` of a check: the same dicts, lists and copies, walked without
    its general machinery for the plain values evidence holds (a streak's detail names
    every run of a 10,000-run history); anything else goes through ``asdict`` itself."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {_as_plain(k): _as_plain(v) for k, v in value.items()}
    if kind is list:
        return [_as_plain(v) for v in value]
    if kind in (Check, Evidence):
        return {f.name: _as_plain(getattr(value, f.name)) for f in fields(value)}
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return asdict(_Boxed(value))["value"]


Value = float | int | str | bool | None


@dataclass(frozen=True)
class Check:
    """One verdict: a box of the checklist, a daily item, a review item or a gate condition."""

    name: str
    category: Category
    status: Status
    value: Value
    threshold: str  # human-readable rule, e.g. "<= 50 ms"
    message: str  # the finding, one sentence: what was found, or what evidence is missing
    evidence: Evidence | None = None

    def __post_init__(self) -> None:
        # a status or category given as its text (a stored record) becomes the enum;
        # an unknown one is a ValueError naming it
        if type(self.status) is not Status:
            object.__setattr__(self, "status", Status(self.status))
        if type(self.category) is not Category:
            object.__setattr__(self, "category", Category(self.category))

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def as_dict(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Every field (``category`` and ``status`` as text), or only ``keys`` in that order."""
        data = _as_plain(self)
        data["category"] = str(self.category)
        data["status"] = str(self.status)
        return data if keys is None else {k: data[k] for k in keys}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, category: Category | None = None) -> Check:
        """A check from its serialized form; ``category`` when the form does not carry one."""
        evidence = data.get("evidence")
        return cls(
            name=str(data["name"]),
            category=Category(data.get("category") or str(category)),
            status=Status(data["status"]),
            value=data.get("value"),
            threshold=str(data.get("threshold") or ""),
            message=str(data.get("message") or ""),
            evidence=Evidence.from_dict(evidence) if isinstance(evidence, Mapping) else None,
        )


# --------------------------------------------------------------------------- deciding


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


def pass_fail(ok: bool) -> Status:
    """``pass`` when ``ok``, else ``fail``: the one way a condition becomes a status."""
    return Status.PASS if ok else Status.FAIL


def verdict(value: float | None, op: str, threshold: float) -> Status:
    """``pending`` without a value, else ``pass`` when ``value op threshold`` holds."""
    if value is None:
        return Status.PENDING
    return pass_fail(compare(value, op, threshold))


# --------------------------------------------------------------------------- formatting


@dataclass(frozen=True)
class StatusStyle:
    """How a status is shown: a glyph (dashboard, Markdown report), a word and a colour
    (charts)."""

    glyph: str
    label: str  # plain text (HTML report, tables); in capitals it is the terminal's mark
    color: str = "#9ca3af"  # charts: markers, bars, heatmap cells


#: The one formatting table: every status → glyph, label and colour.
STATUS_STYLES: Mapping[Status, StatusStyle] = MappingProxyType(
    {
        Status.PASS: StatusStyle("✅", "pass", "#16a34a"),
        Status.FAIL: StatusStyle("❌", "fail", "#dc2626"),
        Status.PENDING: StatusStyle("⏳", "pending", "#9ca3af"),
        Status.STALE: StatusStyle("🕰️", "stale", "#d97706"),
        Status.MISSING: StatusStyle("⬜", "missing", "#e5e7eb"),
        Status.WARN: StatusStyle("⚠️", "warn", "#f59e0b"),
    }
)

#: How a value that is not there shows, everywhere.
MISSING_VALUE = "—"


def status_style(status: Status | str) -> StatusStyle:
    """The style of a status; text that is not a status shows as itself, without a glyph."""
    try:
        return STATUS_STYLES[Status(status)]
    except ValueError:
        return StatusStyle("", str(status))


def status_glyph(status: Status | str) -> str:
    return status_style(status).glyph


def status_label(status: Status | str) -> str:
    return status_style(status).label


def status_color(status: Status | str) -> str:
    """The chart colour of a status; text that is not a status is drawn as missing."""
    try:
        return STATUS_STYLES[Status(status)].color
    except ValueError:
        return STATUS_STYLES[Status.MISSING].color


def status_text(status: Status | str) -> str:
    """Glyph and word, e.g. ``✅ pass`` (Markdown)."""
    style = status_style(status)
    return f"{style.glyph} {style.label}".strip()


def status_mark(status: Status | str) -> str:
    """The terminal's mark, e.g. ``PASS``."""
    return status_label(status).upper()


def format_value(value: Any) -> str:
    """A value as people read it: floats to 4 significant digits, a missing value as —."""
    if value is None:
        return MISSING_VALUE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
