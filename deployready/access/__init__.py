"""Who is acting, and whether they may: identities, the access decision, the access log.

- :mod:`~deployready.access.identity` — :class:`Identity`: a signed-in user (subject,
  email, issuer, provider, groups) or an unauthenticated channel (``local:<user>``,
  ``cli:<user>``, ``ci:<name>``, a name given to the Python API).
- :mod:`~deployready.access.decide` — :func:`may`, the one decision "may this identity
  take this action" under the policy's ``[access]``, as an :class:`AccessDecision`.
- :mod:`~deployready.access.log` — the ``access_log`` table (this unit owns it): every
  decision taken for an action, allowed or refused, with who and why.
"""

from __future__ import annotations

from deployready.access.decide import AccessDecision, may
from deployready.access.identity import (
    CHANNELS,
    Identity,
    as_identity,
    channel_label,
    cli_identity,
    local_identity,
    os_user,
    signed_in_identity,
)
from deployready.access.log import AccessEntry, access_log, authorize, record_decision, require

__all__ = [
    "CHANNELS",
    "AccessDecision",
    "AccessEntry",
    "Identity",
    "access_log",
    "as_identity",
    "authorize",
    "channel_label",
    "cli_identity",
    "local_identity",
    "may",
    "os_user",
    "record_decision",
    "require",
    "signed_in_identity",
]
