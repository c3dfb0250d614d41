"""The rollout event log (table ``rollout_events``) and the state derived from it.

The only module that reads or writes ``rollout_events``. The log is append-only: every
promotion, refusal, rollback, supersession and restoration is one event with its actor,
reason and evidence. State is never stored: :func:`derive_state` folds the allowed
events, oldest first, into each version's stage. The gate
(:mod:`deployready.rollout.gate`) and the actions (:mod:`deployready.rollout.events`)
both build on this module; it imports neither.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployready.policy import Policy
from deployready.store import Rows, dumps
from deployready.workspace import Workspace

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
    #: who acted (:meth:`deployready.access.AccessDecision.record`); {} on rows written
    #: before identities were recorded (the actor as typed)
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        """Where the action came from (dashboard, local, cli, ci, api); "" when unrecorded."""
        return str(self.identity.get("channel") or "")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RolloutEvent:
        evidence = _json_dict(row["evidence_json"])
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
            evidence=evidence,
            identity=_json_dict(row["identity_json"]) if row["identity_json"] else {},
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
            "channel": self.channel,
            "identity": self.identity,
        }


def _json_dict(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"unreadable": text}
    return value if isinstance(value, dict) else {"value": value}


_EVENT_SQL = (
    "SELECT id, created_at, version, action, from_pct, to_pct, allowed, actor, reason, "
    "evidence_json, identity_json FROM rollout_events"
)


def read_events(rows: Rows, version: str | None = None) -> list[RolloutEvent]:
    """The event log (oldest first) through the read ``rows`` (a store's or a transaction's)."""
    if version is None:
        found = rows(f"{_EVENT_SQL} ORDER BY id", ())
    else:
        found = rows(f"{_EVENT_SQL} WHERE version = ? ORDER BY id", (version,))
    return [RolloutEvent.from_row(r) for r in found]


def load_events(ws: Workspace, version: str | None = None) -> list[RolloutEvent]:
    """The event log (oldest first), optionally of one version; refusals included."""
    return read_events(ws.store.query, version)


def append_event(
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
    identity: dict[str, Any] | None = None,
) -> RolloutEvent:
    """Append one event inside the caller's transaction; returns it as stored.
    ``identity``: who acted and the rule that allowed it (``AccessDecision.record()``)."""
    cur = conn.execute(
        "INSERT INTO rollout_events (created_at, version, action, from_pct, to_pct, allowed, "
        "actor, reason, evidence_json, identity_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            created_at,
            version,
            action,
            from_pct,
            to_pct,
            int(allowed),
            actor,
            reason,
            dumps(evidence),
            dumps(identity) if identity else None,
        ),
    )
    row = conn.execute(f"{_EVENT_SQL} WHERE id = ?", (cur.lastrowid,)).fetchone()
    return RolloutEvent.from_row(row)


def first_allowed_at(ws: Workspace) -> datetime | None:
    """When the first allowed event was recorded (the start of production), or None."""
    for row in ws.store.query("SELECT MIN(created_at) AS t FROM rollout_events WHERE allowed = 1"):
        if row["t"]:
            return datetime.fromisoformat(str(row["t"]))
    return None


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


def state_of(rows: Rows, stages: Sequence[int]) -> RolloutState:
    """The state derived from the event log read through ``rows``."""
    return derive_state(read_events(rows), stages)


def rollout_state(ws: Workspace, policy: Policy | None = None) -> RolloutState:
    policy = policy or ws.policy()
    return state_of(ws.store.query, policy.rollout.stages)


def default_version(ws: Workspace, policy: Policy | None = None) -> str | None:
    """The version in rollout, else the newest package."""
    state = rollout_state(ws, policy)
    return state.canary or ws.latest_version()
