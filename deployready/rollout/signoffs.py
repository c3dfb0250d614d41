"""Weekly and monthly sign-offs: the ``signoffs`` table (this module owns it).

A person signs a review period off with their identity (who, through which channel, the
role that allowed it — :mod:`deployready.access`), the time, a note and whether each
policy item was done; rows written before identities were recorded keep the typed name.
A period is signed once; an amendment (``amend=True``) is a new row that names the row it
amends, and the latest row is the period's sign-off.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from deployready.access import AccessDecision, Identity, as_identity, record_decision, require
from deployready.errors import InputError
from deployready.policy import Policy
from deployready.rollout.periods import period_bounds, period_of, review_kind
from deployready.store import dumps, utcnow
from deployready.workspace import Workspace


@dataclass(frozen=True)
class SignOff:
    id: int
    kind: str
    period: str
    version: str | None
    name: str
    signed_at: str
    note: str
    items: list[dict[str, Any]]
    amends: int | None = None  # id of the sign-off this one amends
    identity: dict[str, Any] | None = None  # who signed (None on rows before identities)

    @property
    def channel(self) -> str:
        """Where the sign-off came from (dashboard, local, cli, ci, api); "" when unrecorded."""
        return str((self.identity or {}).get("channel") or "")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SignOff:
        try:
            raw = json.loads(row["items_json"] or "[]")
        except json.JSONDecodeError:
            raw = []
        items: list[dict[str, Any]]
        amends: int | None = None
        if isinstance(raw, dict):
            items = list(raw.get("items", []))
            amends = raw.get("amends")
        else:
            items = list(raw)
        return cls(
            id=int(row["id"]), kind=str(row["kind"]), period=str(row["period"]),
            version=row["version"], name=str(row["name"]), signed_at=str(row["signed_at"]),
            note=str(row["note"]), items=items, amends=amends,
            identity=_identity(row["identity_json"]),
        )

    @property
    def complete(self) -> bool:
        return all(bool(i.get("done")) for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "period": self.period, "version": self.version,
            "name": self.name, "signed_at": self.signed_at, "note": self.note,
            "items": self.items, "amends": self.amends, "complete": self.complete,
            "channel": self.channel, "identity": self.identity,
        }


def _identity(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"unreadable": text}
    return value if isinstance(value, dict) else {"value": value}


_SIGNOFF_SQL = ("SELECT id, kind, period, version, name, signed_at, note, items_json, "
                "identity_json FROM signoffs")


def signoff_history(ws: Workspace, kind: str | None = None) -> list[SignOff]:
    """Every sign-off row, newest first (amendments included)."""
    if kind is None:
        rows = ws.store.query(f"{_SIGNOFF_SQL} ORDER BY id DESC")
    else:
        rows = ws.store.query(f"{_SIGNOFF_SQL} WHERE kind = ? ORDER BY id DESC",
                              (review_kind(kind),))
    return [SignOff.from_row(r) for r in rows]


def current_signoffs(ws: Workspace, kind: str) -> dict[str, SignOff]:
    """The effective sign-off of each signed period (the latest row of the period)."""
    out: dict[str, SignOff] = {}
    for s in signoff_history(ws, kind):
        out.setdefault(s.period, s)
    return out


def policy_items(policy: Policy, kind: str) -> list[str]:
    return list(policy.reviews.weekly if review_kind(kind) == "weekly" else policy.reviews.monthly)


def sign_off(
    ws: Workspace,
    kind: str,
    period: str,
    *,
    name: str | Identity,
    note: str = "",
    version: str | None = None,
    done: Mapping[str, bool] | None = None,
    amend: bool = False,
    today: date | None = None,
    policy: Policy | None = None,
) -> SignOff:
    """Sign a weekly or monthly review period off.

    ``name``: who signs (an :class:`~deployready.access.Identity`, or a name given to the
    Python API); they need a role allowing ``signoff-<kind>`` (else the refusal is logged
    and raised as :class:`~deployready.errors.AccessDenied`). ``done`` maps each policy
    item to whether it was done (default: all done); an item not done needs a ``note``.
    A future period cannot be signed; the current one can.
    """
    kind = review_kind(kind)
    policy = policy or ws.policy()
    if isinstance(name, str) and not name.strip():
        raise InputError("a name is required to sign off", location="--name",
                         expected="the reviewer's name")
    identity = as_identity(name)
    note = note.strip()
    start, _ = period_bounds(kind, period)
    today = today or datetime.now(UTC).date()
    if start > today:
        raise InputError(f"{kind} review {period} has not started yet", location="--period",
                         expected=f"{period_of(kind, today)} or earlier")
    recorded = _ticked(policy_items(policy, kind), kind, done, note)
    access = require(ws, identity, f"signoff-{kind}", period, policy, record_allowed=False)
    return _insert(ws, kind, period, amend, access,
                   (kind, period, version, identity.label, utcnow(), note), recorded)


def _ticked(items: list[str], kind: str, done: Mapping[str, bool] | None, note: str
            ) -> list[dict[str, Any]]:
    """Each policy item and whether it was done; InputError for an item not in the
    policy, or items not done without a note saying why."""
    done = dict(done) if done is not None else dict.fromkeys(items, True)
    unknown = [k for k in done if k not in items]
    if unknown:
        raise InputError(f"unknown {kind} review item {unknown[0]!r}", location="items",
                         expected="; ".join(items))
    recorded = [{"item": item, "done": bool(done.get(item, False))} for item in items]
    skipped = [r["item"] for r in recorded if not r["done"]]
    if skipped and not note:
        raise InputError(f"{len(skipped)} item(s) not done ({skipped[0]!r}…): say why in the note",
                         location="--note", expected="a note explaining the items not done")
    return recorded


def _insert(ws: Workspace, kind: str, period: str, amend: bool, access: AccessDecision,
            fields: tuple[str, str, str | None, str, str, str],
            recorded: list[dict[str, Any]]) -> SignOff:
    """Store a sign-off row (kind, period, version, name, signed_at, note) with its items,
    as an amendment of the period's latest row when ``amend``; InputError when the
    period is signed and this is not an amendment."""
    with ws.store.transaction() as conn:
        existing = conn.execute(
            f"{_SIGNOFF_SQL} WHERE kind = ? AND period = ? ORDER BY id DESC LIMIT 1",
            (kind, period),
        ).fetchone()
        if existing is not None and not amend:
            prev = SignOff.from_row(existing)
            raise InputError(
                f"{kind} review {period} was already signed off by {prev.name} at "
                f"{prev.signed_at}", location="--period",
                expected="another period, or --amend to amend this sign-off",
            )
        payload: Any = recorded
        if existing is not None:
            payload = {"items": recorded, "amends": int(existing["id"])}
        record_decision(conn, access, period)
        cur = conn.execute(
            "INSERT INTO signoffs (kind, period, version, name, signed_at, note, items_json, "
            "identity_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, dumps(payload), dumps(access.record())),
        )
        row = conn.execute(f"{_SIGNOFF_SQL} WHERE id = ?", (cur.lastrowid,)).fetchone()
    return SignOff.from_row(row)
