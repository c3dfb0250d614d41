"""Promotion gates of the staged rollout: would promoting a version be allowed?

A gate decision is read-only; :func:`deployready.rollout.promote` takes it and records
it (allowed or refused) in the same store transaction. The rollout state it decides on
is derived by :mod:`deployready.rollout`.

Rules
-----
- **Entering the first stage** needs the version's readiness to be READY; a refusal
  carries the score's blockers as evidence. The package hash the score was computed on
  becomes the rollout's hash. It is refused while another version is the canary.
- **Each later promotion** needs the daily checks of the current stage green for
  ``policy.rollout.bake_days`` consecutive calendar days, for this version *and* the
  rollout's package hash. Only full days count: the days strictly after the day the
  stage was entered. A red day, a gap or a check on another package hash restarts the
  count. The package must also still hash to the rollout's hash.
- **Stages cannot be skipped**; asking for a stage at or below the current one is
  allowed (nothing to do).

The readiness is computed by ``deployready.rollout.readiness_of``, looked up at call
time, so replacing that attribute replaces the score the gate sees.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from deployready.errors import DeployReadyError, InputError, read_file
from deployready.policy import Policy
from deployready.store import utcnow
from deployready.workspace import Workspace

if TYPE_CHECKING:
    from deployready.rollout import VersionState

#: Daily-check statuses that count as green: ``ok`` (as ``deployready.daily.DailyRecord.green``);
#: ``alert`` and ``no_data`` are red.
GREEN_STATUSES = frozenset({"ok"})

Rows = Callable[[str, tuple[Any, ...]], list[sqlite3.Row]]


class ReadinessLike(Protocol):
    """What the gate needs from :func:`deployready.score.compute_score`'s result."""

    @property
    def ready(self) -> bool: ...

    @property
    def package_sha256(self) -> str | None: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GateCheck:
    """One condition of a promotion gate."""

    name: str
    passed: bool
    value: Any
    threshold: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "pass" if self.passed else "fail",
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    version: str
    current_stage: int
    next_stage: int | None
    target_stage: int | None
    checks: list[GateCheck]
    score: dict[str, Any] | None = None
    package_sha256: str | None = None
    decided_at: str = field(default_factory=utcnow)
    #: evidence the decision needed but could not read (the readiness, which gates the
    #: first stage): the gate refuses, and the CLI exits 2 rather than 1
    errors: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        failed = [c.message for c in self.checks if not c.passed]
        if failed:
            return failed
        return [c.message for c in self.checks]

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "version": self.version,
            "current_stage": self.current_stage,
            "next_stage": self.next_stage,
            "target_stage": self.target_stage,
            "package_sha256": self.package_sha256,
            "reasons": self.reasons,
            "score": self.score,
            "checks": [c.as_dict() for c in self.checks],
            "decided_at": self.decided_at,
            "errors": list(self.errors),
        }


def _score_summary(readiness: ReadinessLike) -> dict[str, Any]:
    data = readiness.as_dict()
    return {
        "status": data.get("status"),
        "score": data.get("score"),
        "max_score": data.get("max_score"),
        "version": data.get("version"),
        "package_sha256": data.get("package_sha256"),
        "generated_at": data.get("generated_at"),
        "blockers": data.get("blockers", []),
        "errors": data.get("errors", []),
    }


def _package_sha(ws: Workspace, version: str) -> str | None:
    """The package hash: sha256 of the MANIFEST.json bytes (nothing is unpickled)."""
    try:
        data = read_file(ws.package_path(version) / "MANIFEST.json")
    except (OSError, DeployReadyError):
        return None
    return hashlib.sha256(data).hexdigest()


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


def _bake_check(
    rows: Rows, version: str, st: VersionState, bake_days: int
) -> GateCheck:
    """Consecutive green daily checks, on the rollout's hash, since entering the stage."""
    entered = _parse_time(st.entered_at).date() if st.entered_at else date.min
    found = rows(
        "SELECT date, package_sha256, status, created_at FROM daily_checks "
        "WHERE version = ? AND date > ? ORDER BY date",
        (version, entered.isoformat()),
    )
    threshold = f">= {bake_days} consecutive green day(s) after {entered.isoformat()}"
    days: list[dict[str, Any]] = []
    for r in found:
        same_hash = str(r["package_sha256"]) == (st.package_sha256 or "")
        days.append(
            {
                "date": str(r["date"]),
                "status": str(r["status"]),
                "package_sha256": str(r["package_sha256"]),
                "green": str(r["status"]).lower() in GREEN_STATUSES and same_hash,
                "same_package": same_hash,
            }
        )
    evidence: dict[str, Any] = {
        "source": "daily_checks",
        "stage_entered_at": st.entered_at,
        "package_sha256": st.package_sha256,
        "days": days,
    }
    streak = 0
    problem = ""
    previous: date | None = None
    for day in reversed(days):
        current = date.fromisoformat(day["date"])
        if previous is not None and current != previous - timedelta(days=1):
            problem = f"no daily check for {(previous - timedelta(days=1)).isoformat()}"
            break
        if not day["same_package"]:
            problem = (
                f"daily check {day['date']} was measured on package "
                f"{_short(day['package_sha256'])}, not the rollout's {_short(st.package_sha256)}"
            )
            break
        if not day["green"]:
            problem = f"daily check {day['date']} is {day['status']}"
            break
        streak += 1
        previous = current
    evidence["green_streak"] = streak
    if streak >= bake_days:
        return GateCheck(
            "bake time", True, streak, threshold,
            f"{streak} consecutive green daily check(s) at {st.pct} % (need {bake_days})",
            evidence,
        )
    if not days:
        message = (
            f"no daily checks for {version} since entering {st.pct} % on "
            f"{entered.isoformat()} (need {bake_days} green day(s))"
        )
    else:
        message = (
            f"bake time not met at {st.pct} %: {streak} of {bake_days} consecutive green "
            f"day(s)" + (f"; {problem}" if problem else "")
        )
    return GateCheck("bake time", False, streak, threshold, message, evidence)


def _decide(
    rows: Rows,
    version: str,
    policy: Policy,
    *,
    target: int | None,
    readiness: ReadinessLike | None,
    current_sha: str | None,
) -> GateDecision:
    """The gate for moving ``version`` to ``target`` (default: its next stage)."""
    # deferred: deployready.rollout imports this module
    from deployready.rollout import _events, derive_state

    stages = policy.rollout.stages
    state = derive_state(_events(rows), stages)
    current = state.stage_of(version)
    nxt = state.next_stage(version)
    score = _score_summary(readiness) if readiness is not None else None
    checks: list[GateCheck] = []
    errors: list[str] = []

    def decision(allowed: bool, sha: str | None = None) -> GateDecision:
        return GateDecision(
            allowed=allowed, version=version, current_stage=current, next_stage=nxt,
            target_stage=target if target is not None else nxt, checks=checks, score=score,
            package_sha256=sha, errors=tuple(errors),
        )

    if target is not None and target not in stages:
        raise InputError(
            f"unknown stage {target}", location="--stage",
            expected=f"one of {', '.join(str(s) for s in stages)} (policy rollout.stages)",
        )
    if target is not None and target <= current:
        checks.append(GateCheck("stage", True, current, f">= {target} %",
                                f"{version} is already at {current} %"))
        return decision(True, state.versions[version].package_sha256)
    if nxt is None:
        checks.append(GateCheck("stage", False, current, "< 100 %",
                                f"{version} is already at {current} %: nothing to promote"))
        return decision(False)
    if target is not None and target != nxt:
        checks.append(GateCheck(
            "stage", False, current, f"next stage {nxt} %",
            f"{version} is at {current} %: stages cannot be skipped (next is {nxt} %, "
            f"asked for {target} %)"))
        return decision(False)
    target = nxt

    if current == 0:
        canary = state.canary
        if canary is not None and canary != version:
            checks.append(GateCheck(
                "single rollout", False, canary, "no other version in rollout",
                f"{canary} is in rollout at {state.stage_of(canary)} %: promote it to 100 % "
                "or roll it back first",
                {"canary": canary, "stage": state.stage_of(canary)}))
        else:
            checks.append(GateCheck(
                "single rollout", True, None, "no other version in rollout",
                "no other version is in rollout"
                + (f" ({state.stable} is stable at 100 %)" if state.stable else "")))
        if readiness is None:
            checks.append(GateCheck("readiness", False, None, "READY",
                                    f"readiness of {version} could not be computed"))
            return decision(False)
        summary = score or {}
        errors.extend(str(e) for e in summary.get("errors") or [])
        blockers = summary.get("blockers", [])
        points = summary.get("score")
        points_text = f"{points:.1f}" if isinstance(points, int | float) else str(points)
        if readiness.ready:
            checks.append(GateCheck(
                "readiness", True, summary.get("status"), "READY",
                f"{version} is READY (score {points_text})",
                {"package_sha256": readiness.package_sha256, "score": summary.get("score")}))
        else:
            names = ", ".join(str(b.get("name")) for b in blockers[:5])
            more = f" and {len(blockers) - 5} more" if len(blockers) > 5 else ""
            checks.append(GateCheck(
                "readiness", False, summary.get("status"), "READY",
                f"{version} is {summary.get('status')} (score {points_text}): "
                f"{len(blockers)} blocker(s): {names}{more}",
                {"package_sha256": readiness.package_sha256, "blockers": blockers}))
        if readiness.package_sha256 is None:
            checks.append(GateCheck("package hash", False, None, "a verifiable package",
                                    f"{version} has no verifiable package hash (MANIFEST.json)"))
        return decision(all(c.passed for c in checks), readiness.package_sha256)

    st = state.versions[version]
    same = current_sha is not None and current_sha == st.package_sha256
    checks.append(GateCheck(
        "package hash", same, _short(current_sha), f"== {_short(st.package_sha256)}",
        f"package {version} hashes to {_short(current_sha)}"
        + (" as when the rollout started" if same
           else f", not the rollout's {_short(st.package_sha256)}"),
        {"current": current_sha, "rollout": st.package_sha256}))
    checks.append(_bake_check(rows, version, st, policy.rollout.bake_days))
    return decision(all(c.passed for c in checks), st.package_sha256)


def _check_version(ws: Workspace, version: str) -> None:
    known = ws.versions()
    if version not in known:
        raise InputError(
            f"no package {version}", source=ws.models_dir, location="--version",
            expected=f"one of {', '.join(known) or 'none (export a package first)'}",
        )


def _readiness_for(
    ws: Workspace, version: str, policy: Policy
) -> tuple[ReadinessLike | None, str | None]:
    # looked up at call time: deployready.rollout.readiness_of may be replaced
    from deployready.rollout import readiness_of

    try:
        return readiness_of(ws, version, policy), None
    except DeployReadyError as exc:
        return None, str(exc)


def evaluate_gate(
    ws: Workspace,
    version: str | None = None,
    stage: int | None = None,
    *,
    policy: Policy | None = None,
    readiness: ReadinessLike | None = None,
) -> GateDecision:
    """Would promoting ``version`` to ``stage`` (default: its next stage) be allowed?

    Read-only: nothing is recorded. The score (computed unless given) is reported at
    every stage, but only gates entry into the first stage.
    """
    from deployready.rollout import default_version  # deferred: rollout imports this module

    policy = policy or ws.policy()
    version = version or default_version(ws, policy)
    if version is None:
        raise InputError("no model packages", source=ws.models_dir, expected="a package vX.Y")
    _check_version(ws, version)
    error: str | None = None
    if readiness is None:
        readiness, error = _readiness_for(ws, version, policy)
    decision = _decide(
        ws.store.query, version, policy, target=stage, readiness=readiness,
        current_sha=_package_sha(ws, version),
    )
    if error is not None and decision.current_stage == 0:
        checks = [c if c.name != "readiness" else GateCheck(
            "readiness", False, None, "READY", f"readiness could not be computed: {error}")
            for c in decision.checks]
        return GateDecision(
            allowed=False, version=decision.version, current_stage=decision.current_stage,
            next_stage=decision.next_stage, target_stage=decision.target_stage, checks=checks,
            score=None, package_sha256=decision.package_sha256, errors=(error,),
        )
    return decision
