"""Staged rollout (5 % → 25 % → 100 % of traffic) governed by evidence.

State is never stored as a mutable field: it is derived from the append-only event log
(table ``rollout_events``, owned by :mod:`deployready.rollout.state`). Every promotion,
rollback and refusal is an event with the actor, the reason and the evidence the
decision was made on. This module is the rollout's public face: the actions, the gate
entry point and the names of :mod:`~deployready.rollout.state` and
:mod:`~deployready.rollout.gate`.

Rules
-----
- **Promotions are gated**: entering the first stage needs READY, each later stage a
  bake time of green daily checks on the rollout's package hash; the gate is defined in
  :mod:`deployready.rollout.gate`. The readiness it is given is computed by
  :func:`readiness_of`, looked up here at call time, so replacing that attribute
  replaces the score every gate and promotion sees.
- **One version in rollout at a time.** The version at 100 % is the *stable* version;
  a version between 0 and 100 % is the *canary*. Promoting a new version to the first
  stage while another is stable is the normal "next version" flow: the stable version
  keeps serving the rest of the traffic. When the canary reaches 100 %, the previous
  stable version is *superseded* (an event ``supersede``, 100 → 0 %, in the same
  transaction). Promoting a version to the first stage while another is the canary is
  refused.
- **Rollback is always allowed** (it is never gated, only recorded). It goes to 0 % by
  default (abort: the stable version takes all traffic back) or, with ``to_pct``, to
  any lower stage. Rolling back the stable version from 100 % *restores* the version it
  superseded (an event ``restore``, 0 → 100 %), so traffic always has somewhere to go.
- **Concurrency.** The gate decision and the insert of its event happen in one store
  transaction (``BEGIN IMMEDIATE``): two simultaneous promotions cannot both pass.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from deployready.access import AccessDecision, Identity, as_identity, record_decision, require
from deployready.errors import DeployReadyError, InputError
from deployready.monitoring.daily_store import GREEN_STATUSES
from deployready.package.manifest import package_sha256_or_none
from deployready.policy import Policy

if TYPE_CHECKING:
    from deployready.performance.realized import RealizedDay
from deployready.rollout.gate import (
    GateDecision,
    ReadinessLike,
    check_version,
    decide,
    gate_check,
)
from deployready.rollout.state import (
    ACTIONS,
    PROMOTE,
    RESTORE,
    ROLLBACK,
    SUPERSEDE,
    RolloutEvent,
    RolloutState,
    VersionState,
    append_event,
    default_version,
    derive_state,
    first_allowed_at,
    load_events,
    rollout_state,
    state_of,
)
from deployready.store import Rows, reader, utcnow
from deployready.workspace import Workspace

__all__ = [
    "ACTIONS",
    "GREEN_STATUSES",
    "PROMOTE",
    "RESTORE",
    "ROLLBACK",
    "SUPERSEDE",
    "ActionResult",
    "GateDecision",
    "ReadinessLike",
    "RolloutEvent",
    "RolloutState",
    "Rows",
    "VersionState",
    "append_event",
    "default_version",
    "derive_state",
    "evaluate_gate",
    "first_allowed_at",
    "gate_check",
    "load_events",
    "promote",
    "readiness_of",
    "rollback",
    "rollout_state",
]


# --------------------------------------------------------------------------- readiness


def readiness_of(ws: Workspace, version: str | None, policy: Policy) -> ReadinessLike:
    """The readiness of ``version`` (:func:`deployready.score.compute_score`).

    Looked up here at call time by :func:`evaluate_gate` and :func:`promote`, so
    replacing this attribute replaces the score every gate and promotion sees.
    """
    from deployready.score import compute_score

    return compute_score(ws, version, policy=policy)


def _readiness_for(
    ws: Workspace, version: str, policy: Policy
) -> tuple[ReadinessLike | None, str | None]:
    try:
        return readiness_of(ws, version, policy), None
    except DeployReadyError as exc:
        return None, str(exc)


def _unscored(decision: GateDecision, error: str) -> GateDecision:
    """The first-stage decision when the readiness could not be computed: refused."""
    checks = [c for c in decision.checks if c.name != "readiness"]
    checks.append(
        gate_check("readiness", False, None, "READY", f"readiness could not be computed: {error}")
    )
    return GateDecision(
        allowed=False, version=decision.version, current_stage=decision.current_stage,
        next_stage=decision.next_stage, target_stage=decision.target_stage, checks=checks,
        score=None, package_sha256=decision.package_sha256, errors=(error,),
    )


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
    policy = policy or ws.policy()
    version = version or default_version(ws, policy)
    if version is None:
        raise InputError("no model packages", source=ws.models_dir, expected="a package vX.Y")
    check_version(ws, version)
    error: str | None = None
    if readiness is None:
        readiness, error = _readiness_for(ws, version, policy)
    decision = decide(
        ws.store.query, version, policy, target=stage, readiness=readiness,
        current_sha=package_sha256_or_none(ws.package_path(version)),
        performance=stage_performance(ws, version, policy, rollout_state(ws, policy)),
    )
    if error is not None and decision.current_stage == 0:
        return _unscored(decision, error)
    return decision


def stage_performance(
    ws: Workspace, version: str, policy: Policy, state: RolloutState
) -> list[RealizedDay] | None:
    """Realized performance of ``version``'s days in its current stage, when the policy
    requires it for promotion (``rollout.require_performance``); else None."""
    st = state.versions.get(version)
    if not policy.rollout.require_performance or st is None or not st.pct or not st.entered_at:
        return None
    from deployready.performance.join import joined_predictions
    from deployready.performance.realized import realized_performance

    entered = pd.Timestamp(st.entered_at)
    entered = entered.tz_localize("UTC") if entered.tzinfo is None else entered
    joined = joined_predictions(ws, version, entered.normalize(), None)
    no_id = {d: int(n) for d, n in dict(joined.no_id).items() if int(n)}
    return realized_performance(joined.frame, policy.certification.metrics,
                                policy.performance, datetime.now(UTC), no_id)


# --------------------------------------------------------------------------- actions


def _require(value: str | None, what: str, flag: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} is required", location=flag, expected=f"a non-empty {what}")
    return text


@dataclass(frozen=True)
class ActionResult:
    """The event an action recorded, plus the events it caused (supersede/restore)."""

    event: RolloutEvent
    decision: GateDecision | None = None
    side_events: list[RolloutEvent] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.event.allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "event": self.event.as_dict(),
            "side_events": [e.as_dict() for e in self.side_events],
            "gate": self.decision.as_dict() if self.decision else None,
        }


def promote(
    ws: Workspace,
    version: str | None = None,
    *,
    actor: str | Identity,
    reason: str = "",
    policy: Policy | None = None,
) -> ActionResult:
    """Promote ``version`` (default: the version in rollout, else the newest) one stage.

    ``actor`` needs a role allowing it (else the refusal is logged and raised as
    :class:`~deployready.errors.AccessDenied`); the gate's decision, allowed or refused,
    is recorded with the actor's identity. The score is computed before the transaction
    (it reads files); the state, the daily checks, the decision and the insert happen
    inside one ``BEGIN IMMEDIATE`` transaction."""
    identity = as_identity(actor)
    policy = policy or ws.policy()
    version = version or default_version(ws, policy)
    if version is None:
        raise InputError("no model packages", source=ws.models_dir, expected="a package vX.Y")
    check_version(ws, version)
    access = require(ws, identity, PROMOTE, version, policy, record_allowed=False)
    pre_state = rollout_state(ws, policy)
    readiness: ReadinessLike | None = None
    score_error: str | None = None
    if pre_state.stage_of(version) == 0:
        readiness, score_error = _readiness_for(ws, version, policy)
    current_sha = package_sha256_or_none(ws.package_path(version))
    performance = stage_performance(ws, version, policy, pre_state)
    reason = reason.strip()
    with ws.store.transaction() as conn:
        rows = reader(conn)
        decision = decide(rows, version, policy, target=None, readiness=readiness,
                          current_sha=current_sha, performance=performance)
        if decision.current_stage == 0 and readiness is None and pre_state.stage_of(version) != 0:
            # rolled back to 0 % between the two reads: the score was not computed
            decision = GateDecision(
                allowed=False, version=version, current_stage=0,
                next_stage=decision.next_stage, target_stage=decision.next_stage,
                checks=[gate_check("state", False, None, "unchanged",
                                   "the rollout changed during the decision; try again")],
            )
        if score_error is not None and decision.current_stage == 0:
            decision = _unscored(decision, score_error)
        now = utcnow()
        evidence = decision.as_dict()
        if decision.package_sha256:
            evidence["package_sha256"] = decision.package_sha256
        text = reason or ("; ".join(decision.reasons) if not decision.allowed else
                          f"gate passed for {decision.next_stage} %")
        record_decision(conn, access, version)
        event = append_event(
            conn, version=version, action=PROMOTE, from_pct=decision.current_stage,
            to_pct=decision.next_stage, allowed=decision.allowed, actor=identity.label,
            reason=text, evidence=evidence, created_at=now, identity=access.record(),
        )
        side: list[RolloutEvent] = []
        if decision.allowed and decision.next_stage is not None and decision.next_stage >= 100:
            side = _supersede(conn, state_of(rows, policy.rollout.stages), event, access)
    return ActionResult(event=event, decision=decision, side_events=side)


def _supersede(
    conn: sqlite3.Connection, state: RolloutState, event: RolloutEvent, access: AccessDecision
) -> list[RolloutEvent]:
    """Record every other version at 100 % as superseded by the one ``event`` promoted."""
    version = event.version
    return [
        append_event(
            conn, version=other, action=SUPERSEDE, from_pct=st.pct, to_pct=0,
            allowed=True, actor=event.actor, reason=f"superseded by {version} at 100 %",
            evidence={"superseded_by": version, "by_event": event.id,
                      "package_sha256": st.package_sha256},
            created_at=event.created_at, identity=access.record(),
        )
        for other, st in state.versions.items()
        if other != version and st.pct >= 100
    ]


def rollback(
    ws: Workspace,
    version: str | None = None,
    *,
    actor: str | Identity,
    reason: str,
    to_pct: int = 0,
    policy: Policy | None = None,
) -> ActionResult:
    """Roll ``version`` (default: the version in rollout) back to 0 % or a lower stage.

    Never gated, but ``actor`` must be allowed to roll back (``[access]``, as
    :func:`promote`). Rolling back the stable version from 100 % restores the version it
    superseded, if any.
    """
    identity = as_identity(actor)
    reason = _require(reason, "reason", "--reason")
    policy = policy or ws.policy()
    stages = policy.rollout.stages
    access = require(ws, identity, ROLLBACK, version or "", policy, record_allowed=False)
    actor, who = identity.label, access.record()
    with ws.store.transaction() as conn:
        state = state_of(reader(conn), stages)
        if version is None:
            version = state.canary or state.stable
            if version is None:
                raise InputError("no version is in rollout: nothing to roll back",
                                 location="--version", expected="a version above 0 %")
        current = state.stage_of(version)
        if current == 0:
            live = state.canary or state.stable or "none"
            raise InputError(f"{version} is not in rollout (0 %): nothing to roll back",
                             location="--version", expected=f"a version above 0 % ({live})")
        _check_rollback_target(state, version, current, to_pct)
        restore = _superseded_by(state, version) if current >= 100 else None
        st = state.versions[version]
        now = utcnow()
        record_decision(conn, access, version)
        event = append_event(
            conn, version=version, action=ROLLBACK, from_pct=current, to_pct=to_pct,
            allowed=True, actor=actor, reason=reason,
            evidence={"package_sha256": st.package_sha256, "stage_entered_at": st.entered_at,
                      "restores": restore.version if restore else None},
            created_at=now, identity=who,
        )
        side: list[RolloutEvent] = []
        if restore is not None:
            side.append(append_event(
                conn, version=restore.version, action=RESTORE, from_pct=0, to_pct=100,
                allowed=True, actor=actor, reason=f"restored by the rollback of {version}",
                evidence={"rollback_event": event.id, "package_sha256": restore.package_sha256},
                created_at=now, identity=who,
            ))
    return ActionResult(event=event, side_events=side)


def _check_rollback_target(state: RolloutState, version: str, current: int, to_pct: int
                           ) -> None:
    """InputError unless ``to_pct`` is 0 or a lower stage that makes no second canary."""
    if to_pct != 0 and (to_pct not in state.stages or to_pct >= current):
        lower = [0, *[s for s in state.stages if s < current]]
        raise InputError(f"cannot roll {version} back from {current} % to {to_pct} %",
                         location="--to", expected=f"one of {lower}")
    if to_pct > 0 and current >= 100 and state.canary is not None:
        raise InputError(
            f"{state.canary} is in rollout at {state.stage_of(state.canary)} %: rolling "
            f"{version} back to {to_pct} % would make two canaries",
            location="--to", expected="0, or roll the other version back first")


def _superseded_by(state: RolloutState, version: str) -> VersionState | None:
    """The most recent version that ``version`` superseded and that is still at 0 %."""
    for ev in reversed(state.events):
        if ev.action == SUPERSEDE and ev.allowed and ev.evidence.get("superseded_by") == version:
            if state.stage_of(ev.version) == 0:
                return VersionState(ev.version, 0, ev.created_at,
                                    ev.evidence.get("package_sha256"))
            return None
    return None
