"""Promotion gates of the staged rollout: would promoting a version be allowed?

A gate decision is read-only: :func:`decide` reads the rollout state
(:mod:`deployready.rollout.state`) and the stored daily checks
(:mod:`deployready.monitoring.daily_store`) through one read, so
:func:`deployready.rollout.events.promote` can take it and record it (allowed or
refused) in the same store transaction. :func:`deployready.rollout.events.evaluate_gate`
is the read-only entry point that also computes the readiness.

Every condition of a gate is a :class:`~deployready.checks.Check` of category ``gate``
(``pass`` or ``fail``); its evidence is serialized as the check's ``evidence`` object of
the gate JSON (``docs/gate.md``).

Rules
-----
- **Entering the first stage** needs the version's readiness to be READY; a refusal
  carries the score's blockers as evidence. The package hash the score was computed on
  becomes the rollout's hash. It is refused while another version is the canary.
- **Each later promotion** needs the daily checks of the current stage green
  (:func:`deployready.monitoring.daily_store.is_green`) for ``policy.rollout.bake_days``
  consecutive calendar days, for this version *and* the rollout's package hash. Only
  full days count: the days strictly after the day the stage was entered. A red day, a
  gap or a check on another package hash restarts the count. The package must also
  still hash to the rollout's hash.
- **Stages cannot be skipped**; asking for a stage at or below the current one is
  allowed (nothing to do).
- **Performance** (``policy.rollout.require_performance``): each later promotion also
  needs no realized performance failure (:mod:`deployready.performance.realized`, the
  labels joined to the predictions as they are now) on any prediction day of the
  current stage, from the day it was entered. Days still pending (too few labels) do
  not fail it; the check's evidence lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from deployready.checks import Category, Check, Evidence, Status, Value, pass_fail
from deployready.errors import InputError
from deployready.monitoring.daily_store import StoredDay, days_after
from deployready.policy import Policy
from deployready.rollout.state import RolloutState, VersionState, state_of
from deployready.store import Rows, utcnow
from deployready.workspace import Workspace

if TYPE_CHECKING:  # a type only: the gate does not import scipy for the rollout state
    from deployready.performance.realized import RealizedDay

#: The keys of a gate check in the gate JSON (``evidence`` is the check's detail).
GATE_KEYS = ("name", "status", "value", "threshold", "message")


class ReadinessLike(Protocol):
    """What the gate needs from :func:`deployready.score.compute_score`'s result."""

    @property
    def ready(self) -> bool: ...

    @property
    def package_sha256(self) -> str | None: ...

    def as_dict(self, *, categories: bool = True) -> dict[str, Any]: ...


def gate_check(
    name: str,
    passed: bool,
    value: Value,
    threshold: str,
    message: str,
    evidence: dict[str, Any] | None = None,
) -> Check:
    """One condition of a promotion gate."""
    return Check(
        name,
        Category.GATE,
        pass_fail(passed),
        value,
        threshold,
        message,
        Evidence("rollout gate", detail=evidence) if evidence else None,
    )


def gate_check_dict(check: Check) -> dict[str, Any]:
    """A gate check as in the gate JSON: its evidence is its detail object."""
    return {**check.as_dict(GATE_KEYS), "evidence": check.evidence.detail if check.evidence else {}}


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    version: str
    current_stage: int
    next_stage: int | None
    target_stage: int | None
    checks: list[Check]
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
            "checks": [gate_check_dict(c) for c in self.checks],
            "decided_at": self.decided_at,
            "errors": list(self.errors),
        }


def score_summary(readiness: ReadinessLike) -> dict[str, Any]:
    data = readiness.as_dict(categories=False)  # every check's evidence is not kept
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


def check_version(ws: Workspace, version: str) -> None:
    """An input error naming the packages when ``version`` is not one of them."""
    known = ws.versions()
    if version not in known:
        raise InputError(
            f"no package {version}",
            source=ws.models_dir,
            location="--version",
            expected=f"one of {', '.join(known) or 'none (export a package first)'}",
        )
def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


# --------------------------------------------------------------------------- bake time


def _green_streak(days: Sequence[dict[str, Any]], rollout_sha: str | None) -> tuple[int, str]:
    """Consecutive green days ending with the newest, and what broke the streak."""
    streak = 0
    previous: date | None = None
    for day in reversed(days):
        current = date.fromisoformat(day["date"])
        if previous is not None and current != previous - timedelta(days=1):
            return streak, f"no daily check for {(previous - timedelta(days=1)).isoformat()}"
        if not day["same_package"]:
            return streak, (
                f"daily check {day['date']} was measured on package "
                f"{_short(day['package_sha256'])}, not the rollout's {_short(rollout_sha)}"
            )
        if not day["green"]:
            return streak, f"daily check {day['date']} is {day['status']}"
        streak += 1
        previous = current
    return streak, ""


def _day_evidence(day: StoredDay, rollout_sha: str | None) -> dict[str, Any]:
    same_hash = day.package_sha256 == (rollout_sha or "")
    return {
        "date": day.date,
        "status": day.status,
        "package_sha256": day.package_sha256,
        "green": day.green and same_hash,
        "same_package": same_hash,
    }


def bake_check(rows: Rows, version: str, st: VersionState, bake_days: int) -> Check:
    """Consecutive green daily checks, on the rollout's hash, since entering the stage."""
    entered = _parse_time(st.entered_at).date() if st.entered_at else date.min
    days = [_day_evidence(d, st.package_sha256) for d in days_after(rows, version, entered)]
    threshold = f">= {bake_days} consecutive green day(s) after {entered.isoformat()}"
    streak, problem = _green_streak(days, st.package_sha256)
    evidence: dict[str, Any] = {
        "source": "daily_checks",
        "stage_entered_at": st.entered_at,
        "package_sha256": st.package_sha256,
        "days": days,
        "green_streak": streak,
    }
    if streak >= bake_days:
        message = f"{streak} consecutive green daily check(s) at {st.pct} % (need {bake_days})"
        return gate_check("bake time", True, streak, threshold, message, evidence)
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
    return gate_check("bake time", False, streak, threshold, message, evidence)


def performance_check(days: Sequence[RealizedDay] | None, st: VersionState) -> Check:
    """No realized performance failure on a prediction day of the stage (see the rules)."""
    threshold = "no realized performance failure in the stage"
    if days is None:
        return gate_check("performance", False, None, threshold,
                          f"realized performance at {st.pct} % was not evaluated")
    failed = [d.day.isoformat() for d in days if d.status is Status.FAIL]
    pending = [d.day.isoformat() for d in days if d.status is Status.PENDING]
    evidence = {"source": "production log + data/labels", "stage_entered_at": st.entered_at,
                "failed_days": failed, "pending_days": pending,
                "judged_days": len(days) - len(pending)}
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5
                                         else "")
        message = (f"realized performance below a certification threshold at {st.pct} % "
                   f"on {len(failed)} day(s): {shown}")
    else:
        message = (f"no realized performance failure at {st.pct} % "
                   f"({len(days) - len(pending)} day(s) judged, {len(pending)} pending)")
    return gate_check("performance", not failed, len(failed), threshold, message, evidence)


# --------------------------------------------------------------------------- the gate


def _entry_checks(
    version: str, state: RolloutState, readiness: ReadinessLike | None,
    score: dict[str, Any] | None,
) -> list[Check]:
    """Entering the first stage: no other canary, READY, a verifiable package hash."""
    checks: list[Check] = []
    canary = state.canary
    if canary is not None and canary != version:
        checks.append(gate_check(
            "single rollout", False, canary, "no other version in rollout",
            f"{canary} is in rollout at {state.stage_of(canary)} %: promote it to 100 % "
            "or roll it back first",
            {"canary": canary, "stage": state.stage_of(canary)}))
    else:
        checks.append(gate_check(
            "single rollout", True, None, "no other version in rollout",
            "no other version is in rollout"
            + (f" ({state.stable} is stable at 100 %)" if state.stable else "")))
    if readiness is None:
        checks.append(gate_check("readiness", False, None, "READY",
                                 f"readiness of {version} could not be computed"))
        return checks
    summary = score or {}
    blockers = summary.get("blockers", [])
    points = summary.get("score")
    points_text = f"{points:.1f}" if isinstance(points, int | float) else str(points)
    if readiness.ready:
        checks.append(gate_check(
            "readiness", True, summary.get("status"), "READY",
            f"{version} is READY (score {points_text})",
            {"package_sha256": readiness.package_sha256, "score": summary.get("score")}))
    else:
        names = ", ".join(str(b.get("name")) for b in blockers[:5])
        more = f" and {len(blockers) - 5} more" if len(blockers) > 5 else ""
        checks.append(gate_check(
            "readiness", False, summary.get("status"), "READY",
            f"{version} is {summary.get('status')} (score {points_text}): "
            f"{len(blockers)} blocker(s): {names}{more}",
            {"package_sha256": readiness.package_sha256, "blockers": blockers}))
    if readiness.package_sha256 is None:
        checks.append(gate_check("package hash", False, None, "a verifiable package",
                                 f"{version} has no verifiable package hash (MANIFEST.json)"))
    return checks


def _stage_check(
    version: str, current: int, nxt: int | None, target: int | None
) -> Check | None:
    """The requested stage against the current one; None when it is the next stage."""
    if target is not None and target <= current:
        return gate_check("stage", True, current, f">= {target} %",
                          f"{version} is already at {current} %")
    if nxt is None:
        return gate_check("stage", False, current, "< 100 %",
                          f"{version} is already at {current} %: nothing to promote")
    if target is not None and target != nxt:
        return gate_check(
            "stage", False, current, f"next stage {nxt} %",
            f"{version} is at {current} %: stages cannot be skipped (next is {nxt} %, "
            f"asked for {target} %)")
    return None


def decide(
    rows: Rows,
    version: str,
    policy: Policy,
    *,
    target: int | None,
    readiness: ReadinessLike | None,
    current_sha: str | None,
    performance: Sequence[RealizedDay] | None = None,
) -> GateDecision:
    """The gate for moving ``version`` to ``target`` (default: its next stage);
    ``performance``: the stage's realized days, read when the policy requires them."""
    stages = policy.rollout.stages
    state = state_of(rows, stages)
    current = state.stage_of(version)
    nxt = state.next_stage(version)
    score = score_summary(readiness) if readiness is not None else None

    def decision(checks: list[Check], sha: str | None = None,
                 errors: tuple[str, ...] = ()) -> GateDecision:
        return GateDecision(
            allowed=all(c.passed for c in checks), version=version, current_stage=current,
            next_stage=nxt, target_stage=target if target is not None else nxt,
            checks=checks, score=score, package_sha256=sha, errors=errors,
        )

    if target is not None and target not in stages:
        raise InputError(
            f"unknown stage {target}", location="--stage",
            expected=f"one of {', '.join(str(s) for s in stages)} (policy rollout.stages)",
        )
    stage = _stage_check(version, current, nxt, target)
    if stage is not None:
        sha = state.versions[version].package_sha256 if stage.passed else None
        return decision([stage], sha)
    if current == 0:
        checks = _entry_checks(version, state, readiness, score)
        unreadable = tuple(str(e) for e in (score or {}).get("errors") or [])
        return decision(checks, readiness.package_sha256 if readiness is not None else None,
                        unreadable)
    st = state.versions[version]
    same = current_sha is not None and current_sha == st.package_sha256
    hash_check = gate_check(
        "package hash", same, _short(current_sha), f"== {_short(st.package_sha256)}",
        f"package {version} hashes to {_short(current_sha)}"
        + (" as when the rollout started" if same
           else f", not the rollout's {_short(st.package_sha256)}"),
        {"current": current_sha, "rollout": st.package_sha256})
    checks = [hash_check, bake_check(rows, version, st, policy.rollout.bake_days)]
    if policy.rollout.require_performance:
        checks.append(performance_check(performance, st))
    return decision(checks, st.package_sha256)
