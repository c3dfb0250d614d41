"""The access log (table ``access_log``; this module owns it): every decision taken for
an action — allowed or refused — with who, through which channel, the rule that allowed
it or why it was refused, and what it was about (a version, a review period).

:func:`authorize` decides (:func:`deployready.access.decide.may`) and records in one
step; :func:`require` also raises :class:`~deployready.errors.AccessDenied` on a refusal,
after the refusal is stored. An action with its own table (a rollout event, a sign-off)
records the allowed decision inside its own transaction (:func:`record_decision`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from deployready.access.decide import AccessDecision, may
from deployready.access.identity import Identity
from deployready.errors import AccessDenied
from deployready.policy import Policy
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace


@dataclass(frozen=True)
class AccessEntry:
    id: int
    created_at: str
    action: str
    target: str
    allowed: bool
    actor: str
    channel: str
    rule: str
    reason: str
    identity: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AccessEntry:
        try:
            identity = json.loads(row["identity_json"] or "{}")
        except json.JSONDecodeError:
            identity = {"unreadable": row["identity_json"]}
        return cls(
            id=int(row["id"]), created_at=str(row["created_at"]), action=str(row["action"]),
            target=str(row["target"]), allowed=bool(row["allowed"]), actor=str(row["actor"]),
            channel=str(row["channel"]), rule=str(row["rule"]), reason=str(row["reason"]),
            identity=identity if isinstance(identity, dict) else {"value": identity},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "created_at": self.created_at, "action": self.action,
            "target": self.target, "allowed": self.allowed, "actor": self.actor,
            "channel": self.channel, "rule": self.rule, "reason": self.reason,
            "identity": self.identity,
        }


_SQL = ("SELECT id, created_at, action, target, allowed, actor, channel, rule, reason, "
        "identity_json FROM access_log")


def record_decision(conn: sqlite3.Connection, decision: AccessDecision, target: str = ""
                    ) -> AccessEntry:
    """Store ``decision`` inside the caller's transaction; returns it as stored."""
    who = decision.identity
    cur = conn.execute(
        "INSERT INTO access_log (created_at, action, target, allowed, actor, channel, rule, "
        "reason, identity_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (utcnow(), decision.action, target, int(decision.allowed), who.label, who.channel,
         decision.rule, decision.reason, dumps(who.as_dict())),
    )
    return AccessEntry.from_row(conn.execute(f"{_SQL} WHERE id = ?", (cur.lastrowid,)).fetchone())


def authorize(ws: Workspace, identity: Identity, action: str, target: str = "",
              policy: Policy | None = None) -> AccessDecision:
    """Decide whether ``identity`` may take ``action`` and record the decision."""
    policy = policy or ws.policy()
    decision = may(identity, action, policy.access)
    with ws.store.transaction() as conn:
        record_decision(conn, decision, target)
    return decision


def require(ws: Workspace, identity: Identity, action: str, target: str = "",
            policy: Policy | None = None, *, record_allowed: bool = True) -> AccessDecision:
    """The allowed decision; a refusal is recorded, then raised as
    :class:`~deployready.errors.AccessDenied`. With ``record_allowed=False`` an allowed
    decision is left for the caller to record in its own transaction."""
    policy = policy or ws.policy()
    decision = may(identity, action, policy.access)
    if decision.allowed and not record_allowed:
        return decision
    with ws.store.transaction() as conn:
        record_decision(conn, decision, target)
    if not decision.allowed:
        raise AccessDenied(f"refused and logged: {decision.reason}", decision)
    return decision


def access_log(ws: Workspace, actions: tuple[str, ...] | None = None, *,
               refused_only: bool = False, limit: int = 200) -> list[AccessEntry]:
    """The newest ``limit`` entries (newest first), optionally of some actions only."""
    where: list[str] = []
    params: list[Any] = []
    if actions:
        where.append(f"action IN ({', '.join('?' for _ in actions)})")
        params.extend(actions)
    if refused_only:
        where.append("allowed = 0")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = ws.store.query(f"{_SQL}{clause} ORDER BY id DESC LIMIT ?", (*params, int(limit)))
    return [AccessEntry.from_row(r) for r in rows]
