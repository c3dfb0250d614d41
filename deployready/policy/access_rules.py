"""The valid values of ``[access]``'s keys (used by :data:`deployready.policy.rules.RULES`):
role members in the policy's member syntax, role actions, the group claim's name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployready.policy.sections import ACCESS_ACTIONS

if TYPE_CHECKING:
    from deployready.policy.sections import Policy

MEMBER_PREFIXES = ("group", "local", "cli", "ci", "api")


def _member_problem(member: str) -> str | None:
    prefix, colon, rest = member.partition(":")
    if colon:
        if prefix not in MEMBER_PREFIXES:
            return f"unknown member kind {prefix!r}"
        return None if rest.strip() else f"{member!r} names nobody"
    return None if member == "*" or "@" in member else f"{member!r} is not an email"


def members_problem(members: list[str], policy: Policy) -> tuple[str, str] | None:
    for member in members:
        found = _member_problem(member)
        if found is not None:
            return found, ("emails (*@example.com), group:NAME, or local:/cli:/ci:/api: "
                           "followed by a name")
    return None if members else ("a role without members", "at least one member")


def may_problem(actions: list[str], policy: Policy) -> tuple[str, str] | None:
    unknown = [a for a in actions if a not in ACCESS_ACTIONS]
    if unknown or not actions:
        what = f"unknown action {unknown[0]!r}" if unknown else "a role that may do nothing"
        return what, "actions among " + ", ".join(ACCESS_ACTIONS)
    return None


def claim_problem(name: str, policy: Policy) -> tuple[str, str] | None:
    return None if name.strip() else ("an empty claim name", "a claim name, e.g. 'groups'")
