"""Staged rollout (5 % → 25 % → 100 % of traffic) governed by evidence.

State is never stored as a mutable field: it is derived from the append-only event log
(table ``rollout_events``). Every promotion, rollback and refusal is an event with the
actor, the reason and the evidence the decision was made on.

Rules
-----
- **Promotions are gated**: entering the first stage needs READY, each later stage a
  bake time of green daily checks on the rollout's package hash; the gate is defined in
  :mod:`deployready.gate` (its names are re-exported here).
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

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deployready.errors import InputError
from deployready.gate import (
    GREEN_STATUSES,
    GateCheck,
    GateDecision,
    ReadinessLike,
    Rows,
    _check_version,
    _decide,
    _package_sha,
    _readiness_for,
    evaluate_gate,
)
from deployready.policy import Policy
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace

__all__ = [
    "ACTIONS",
    "GREEN_STATUSES",
    "PROMOTE",
    "RESTORE",
    "ROLLBACK",
    "SUPERSEDE",
    "ActionResult",
    "GateCheck",
    "GateDecision",
    "ReadinessLike",
    "RolloutEvent",
    "RolloutState",
    "Rows",
    "VersionState",
    "default_version",
    "derive_state",
    "evaluate_gate",
    "load_events",
    "promote",
    "readiness_of",
    "rollback",
    "rollout_state",
]

PROMOTE = "promote"
ROLLBACK = "rollback"
SUPERSEDE = "supersede"
RESTORE = "restore"
ACTIONS = (PROMOTE, ROLLBACK, SUPERSEDE, RESTORE)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class RolloutEvent:
    id: int
    created_at: str
    version: str
    action: str
    from_pct: int | None
    to_pct: int | None
    allowed: bool
    actor: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RolloutEvent:
        try:
            evidence = json.loads(row["evidence_json"] or "{}")
        except json.JSONDecodeError:
            evidence = {"unreadable": row["evidence_json"]}
        return cls(
            id=int(row["id"]),
            created_at=str(row["created_at"]),
            version=str(row["version"]),
            action=str(row["action"]),
            from_pct=None if row["from_pct"] is None else int(row["from_pct"]),
            to_pct=None if row["to_pct"] is None else int(row["to_pct"]),
            allowed=bool(row["allowed"]),
            actor=str(row["actor"]),
            reason=str(row["reason"]),
            evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "version": self.version,
            "action": self.action,
            "from_pct": self.from_pct,
            "to_pct": self.to_pct,
            "allowed": self.allowed,
            "actor": self.actor,
            "reason": self.reason,
            "evidence": self.evidence,
        }


_EVENT_SQL = (
    "SELECT id, created_at, version, action, from_pct, to_pct, allowed, actor, reason, "
    "evidence_json FROM rollout_events"
)


def _events(rows: Rows, version: str | None = None) -> list[RolloutEvent]:
    if version is None:
        found = rows(f"{_EVENT_SQL} ORDER BY id", ())
    else:
        found = rows(f"{_EVENT_SQL} WHERE version = ? ORDER BY id", (version,))
    return [RolloutEvent.from_row(r) for r in found]


def load_events(ws: Workspace, version: str | None = None) -> list[RolloutEvent]:
    """The event log (oldest first), optionally of one version; refusals included."""
    return _events(ws.store.query, version)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class VersionState:
    """Where one version stands, derived from its allowed events."""

    version: str
    pct: int
    entered_at: str | None  # when the current stage was entered
    package_sha256: str | None  # the rollout's hash, fixed when entering the first stage
    superseded_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "pct": self.pct,
            "entered_at": self.entered_at,
            "package_sha256": self.package_sha256,
            "superseded_by": self.superseded_by,
        }


@dataclass(frozen=True)
class RolloutState:
    stages: list[int]
    versions: dict[str, VersionState]
    events: list[RolloutEvent]

    def stage_of(self, version: str) -> int:
        state = self.versions.get(version)
        return state.pct if state else 0

    @property
    def canary(self) -> str | None:
        """The version in rollout (between 0 and 100 %), if any."""
        for name, st in self.versions.items():
            if 0 < st.pct < 100:
                return name
        return None

    @property
    def stable(self) -> str | None:
        """The version serving at 100 % (the rest of the traffic during a rollout)."""
        for name, st in self.versions.items():
            if st.pct >= 100:
                return name
        return None

    def next_stage(self, version: str) -> int | None:
        current = self.stage_of(version)
        return next((s for s in self.stages if s > current), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            "canary": self.canary,
            "stable": self.stable,
            "versions": {k: v.as_dict() for k, v in self.versions.items()},
        }


def derive_state(events: Sequence[RolloutEvent], stages: Sequence[int]) -> RolloutState:
    """Fold the allowed events (oldest first) into each version's stage."""
    versions: dict[str, VersionState] = {}
    for ev in events:
        if not ev.allowed or ev.to_pct is None:
            continue
        prev = versions.get(ev.version)
        sha = prev.package_sha256 if prev else None
        if ev.action in (PROMOTE, RESTORE) and (ev.from_pct or 0) == 0:
            sha = ev.evidence.get("package_sha256") or sha
        superseded_by = ev.evidence.get("superseded_by") if ev.action == SUPERSEDE else None
        versions[ev.version] = VersionState(
            version=ev.version,
            pct=int(ev.to_pct),
            entered_at=ev.created_at,
            package_sha256=sha if ev.to_pct > 0 else None,
            superseded_by=superseded_by,
        )
    live = {k: v for k, v in versions.items() if v.pct > 0}
    return RolloutState(stages=list(stages), versions=live, events=list(events))


def rollout_state(ws: Workspace, policy: Policy | None = None) -> RolloutState:
    policy = policy or ws.policy()
    return derive_state(load_events(ws), policy.rollout.stages)


def default_version(ws: Workspace, policy: Policy | None = None) -> str | None:
    """The version in rollout, else the newest package."""
    state = rollout_state(ws, policy)
    return state.canary or ws.latest_version()


# --------------------------------------------------------------------------- readiness


def readiness_of(ws: Workspace, version: str | None, policy: Policy) -> ReadinessLike:
    """The readiness of ``version`` (:func:`deployready.score.compute_score`).

    :mod:`deployready.gate` looks this name up here at call time, so replacing it
    replaces the score every gate and promotion sees.
    """
    from deployready.score import compute_score

    return compute_score(ws, version, policy=policy)


# --------------------------------------------------------------------------- actions


def _require(value: str | None, what: str, flag: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} is required", location=flag, expected=f"a non-empty {what}")
    return text


def _insert(
    conn: sqlite3.Connection,
    *,
    version: str,
    action: str,
    from_pct: int | None,
    to_pct: int | None,
    allowed: bool,
    actor: str,
    reason: str,
    evidence: dict[str, Any],
    created_at: str,
) -> RolloutEvent:
    cur = conn.execute(
        "INSERT INTO rollout_events (created_at, version, action, from_pct, to_pct, allowed, "
        "actor, reason, evidence_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (created_at, version, action, from_pct, to_pct, int(allowed), actor, reason,
         dumps(evidence)),
    )
    row = conn.execute(f"{_EVENT_SQL} WHERE id = ?", (cur.lastrowid,)).fetchone()
    return RolloutEvent.from_row(row)


def _conn_rows(conn: sqlite3.Connection) -> Rows:
    def rows(sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        return list(conn.execute(sql, params).fetchall())

    return rows


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
    actor: str,
    reason: str = "",
    policy: Policy | None = None,
) -> ActionResult:
    """Promote ``version`` (default: the version in rollout, else the newest) one stage.

    Allowed or refused, the decision is recorded. The score is computed before the
    transaction (it reads files, not the rollout state); the state, the daily checks, the
    decision and the insert happen inside one ``BEGIN IMMEDIATE`` transaction.
    """
    actor = _require(actor, "actor", "--actor")
    policy = policy or ws.policy()
    version = version or default_version(ws, policy)
    if version is None:
        raise InputError("no model packages", source=ws.models_dir, expected="a package vX.Y")
    _check_version(ws, version)
    pre_state = rollout_state(ws, policy)
    readiness: ReadinessLike | None = None
    score_error: str | None = None
    if pre_state.stage_of(version) == 0:
        readiness, score_error = _readiness_for(ws, version, policy)
    current_sha = _package_sha(ws, version)
    reason = reason.strip()
    with ws.store.transaction() as conn:
        rows = _conn_rows(conn)
        decision = _decide(rows, version, policy, target=None, readiness=readiness,
                           current_sha=current_sha)
        if decision.current_stage == 0 and readiness is None and pre_state.stage_of(version) != 0:
            # rolled back to 0 % between the two reads: the score was not computed
            decision = GateDecision(
                allowed=False, version=version, current_stage=0,
                next_stage=decision.next_stage, target_stage=decision.next_stage,
                checks=[GateCheck("state", False, None, "unchanged",
                                  "the rollout changed during the decision; try again")],
            )
        if score_error is not None and decision.current_stage == 0:
            decision = GateDecision(
                allowed=False, version=version, current_stage=0,
                next_stage=decision.next_stage, target_stage=decision.next_stage,
                checks=[*[c for c in decision.checks if c.name != "readiness"],
                        GateCheck("readiness", False, None, "READY",
                                  f"readiness could not be computed: {score_error}")],
                errors=(score_error,),
            )
        now = utcnow()
        evidence = decision.as_dict()
        if decision.package_sha256:
            evidence["package_sha256"] = decision.package_sha256
        text = reason or ("; ".join(decision.reasons) if not decision.allowed else
                          f"gate passed for {decision.next_stage} %")
        event = _insert(
            conn, version=version, action=PROMOTE, from_pct=decision.current_stage,
            to_pct=decision.next_stage, allowed=decision.allowed, actor=actor, reason=text,
            evidence=evidence, created_at=now,
        )
        side: list[RolloutEvent] = []
        if decision.allowed and decision.next_stage is not None and decision.next_stage >= 100:
            state = derive_state(_events(rows), policy.rollout.stages)
            for other, st in state.versions.items():
                if other != version and st.pct >= 100:
                    side.append(_insert(
                        conn, version=other, action=SUPERSEDE, from_pct=st.pct, to_pct=0,
                        allowed=True, actor=actor,
                        reason=f"superseded by {version} at 100 %",
                        evidence={"superseded_by": version, "by_event": event.id,
                                  "package_sha256": st.package_sha256},
                        created_at=now,
                    ))
    return ActionResult(event=event, decision=decision, side_events=side)


def rollback(
    ws: Workspace,
    version: str | None = None,
    *,
    actor: str,
    reason: str,
    to_pct: int = 0,
    policy: Policy | None = None,
) -> ActionResult:
    """Roll ``version`` (default: the version in rollout) back to 0 % or a lower stage.

    Never gated. Rolling back the stable version from 100 % restores the version it
    superseded, if any.
    """
    actor = _require(actor, "actor", "--actor")
    reason = _require(reason, "reason", "--reason")
    policy = policy or ws.policy()
    stages = policy.rollout.stages
    with ws.store.transaction() as conn:
        rows = _conn_rows(conn)
        state = derive_state(_events(rows), stages)
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
        if to_pct != 0 and (to_pct not in stages or to_pct >= current):
            lower = [0, *[s for s in stages if s < current]]
            raise InputError(f"cannot roll {version} back from {current} % to {to_pct} %",
                             location="--to", expected=f"one of {lower}")
        restore: VersionState | None = None
        if current >= 100:
            restore = _superseded_by(state, version)
        if to_pct > 0 and current >= 100 and state.canary is not None:
            raise InputError(
                f"{state.canary} is in rollout at {state.stage_of(state.canary)} %: rolling "
                f"{version} back to {to_pct} % would make two canaries",
                location="--to", expected="0, or roll the other version back first")
        st = state.versions[version]
        now = utcnow()
        event = _insert(
            conn, version=version, action=ROLLBACK, from_pct=current, to_pct=to_pct,
            allowed=True, actor=actor, reason=reason,
            evidence={"package_sha256": st.package_sha256, "stage_entered_at": st.entered_at,
                      "restores": restore.version if restore else None},
            created_at=now,
        )
        side: list[RolloutEvent] = []
        if restore is not None:
            side.append(_insert(
                conn, version=restore.version, action=RESTORE, from_pct=0, to_pct=100,
                allowed=True, actor=actor, reason=f"restored by the rollback of {version}",
                evidence={"rollback_event": event.id, "package_sha256": restore.package_sha256},
                created_at=now,
            ))
    return ActionResult(event=event, side_events=side)


def _superseded_by(state: RolloutState, version: str) -> VersionState | None:
    """The most recent version that ``version`` superseded and that is still at 0 %."""
    for ev in reversed(state.events):
        if ev.action == SUPERSEDE and ev.allowed and ev.evidence.get("superseded_by") == version:
            if state.stage_of(ev.version) == 0:
                return VersionState(ev.version, 0, ev.created_at,
                                    ev.evidence.get("package_sha256"))
            return None
    return None
