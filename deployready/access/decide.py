"""The access decision: may this identity take this action? (:func:`may`, the only place
it is decided.)

Rules, from the policy's ``[access]``:

- ``mode = "local"`` (the default): the machine's own users — the dashboard without
  sign-in (``local:<user>``), the CLI (``cli:<user>``, ``ci:<name>``) and the Python API
  — may act; they can reach the workspace's files anyway. Signed-in users need a role.
- ``mode = "sign-in"``: nobody acts without a role, local and CLI users included
  (a role may list ``cli:*`` or ``ci:release-bot``).
- A role allows the actions in its ``may`` to its ``members``: an email pattern (the
  signed-in email, when the provider did not mark it unverified; ``*`` wildcards),
  ``group:NAME`` (a value of the ``group_claim`` claim), or ``<channel>:<name pattern>``.
  The first role, by name, that allows the action is the one recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from deployready.access.identity import Identity
from deployready.policy import ACCESS_ACTIONS, AccessPolicy

LOCAL_RULE = '[access] mode = "local"'


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    action: str
    identity: Identity
    rule: str  # what allowed it ("role NAME (member)", the local mode); "" when refused
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "action": self.action, "rule": self.rule,
                "reason": self.reason, "identity": self.identity.as_dict()}

    def record(self) -> dict[str, Any]:
        """What an action's own row keeps of the decision: the identity and the rule."""
        return {**self.identity.as_dict(), "rule": self.rule}


def matches(member: str, identity: Identity) -> bool:
    """Whether a role member (policy syntax) designates ``identity``."""
    prefix, colon, rest = member.partition(":")
    if colon:
        if prefix == "group":
            return identity.authenticated and rest in identity.groups
        return identity.channel == prefix and fnmatchcase(identity.subject, rest)
    if not (identity.authenticated and identity.email and identity.email_verified):
        return False
    return fnmatchcase(identity.email.lower(), member.lower())


def may(identity: Identity, action: str, access: AccessPolicy) -> AccessDecision:
    """Whether ``identity`` may take ``action``, and the rule that allowed it or why not."""
    if action not in ACCESS_ACTIONS:
        return AccessDecision(False, action, identity, "",
                              f"unknown action {action!r} (one of {', '.join(ACCESS_ACTIONS)})")
    if not identity.authenticated and access.mode == "local":
        return AccessDecision(True, action, identity, LOCAL_RULE,
                              f"{identity.label} acts in local mode ({LOCAL_RULE})")
    for name in sorted(access.roles):
        role = access.roles[name]
        if action not in role.may:
            continue
        member = next((m for m in role.members if matches(m, identity)), None)
        if member is not None:
            rule = f"role {name} ({member})"
            return AccessDecision(True, action, identity, rule,
                                  f"{identity.label} may {action}: {rule}")
    return AccessDecision(False, action, identity, "", _refusal(identity, action, access))


def _refusal(identity: Identity, action: str, access: AccessPolicy) -> str:
    holders = sorted(n for n, r in access.roles.items() if action in r.may)
    roles = (f"roles that may: {', '.join(holders)}" if holders
             else "no role in [access.roles] may")
    if not identity.authenticated:
        return (f'{identity.label} may not {action}: [access] mode = "sign-in" forbids '
                f"acting without signing in unless a role lists {identity.channel}:… "
                f"({roles})")
    return f"{identity.label} may not {action}: no role of theirs allows it ({roles})"
