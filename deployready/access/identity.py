"""Who is acting: :class:`Identity`, and where it comes from.

The dashboard with sign-in gives a signed-in identity (channel ``dashboard``: the
provider's subject, email, issuer and groups). Without sign-in the dashboard acts as
``local:<os user>``; the CLI as ``cli:<os user>``, or ``ci:<name>`` when ``--actor``
names someone (a name asserted, not authenticated); a name given to the Python API is
channel ``api``. A typed name is never a signed-in identity.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployready.errors import InputError

#: Where an action came from. Only ``dashboard`` is authenticated.
CHANNELS = ("dashboard", "local", "cli", "ci", "api")


@dataclass(frozen=True)
class Identity:
    channel: str
    subject: str  # the provider's ``sub``; the OS user or the asserted name otherwise
    email: str = ""
    issuer: str = ""
    provider: str = ""
    groups: tuple[str, ...] = ()
    email_verified: bool = True

    @property
    def authenticated(self) -> bool:
        return self.channel == "dashboard"

    @property
    def label(self) -> str:
        """How the identity is shown and recorded as the actor."""
        if self.authenticated:
            return self.email or self.subject
        if self.channel == "api":
            return self.subject
        return f"{self.channel}:{self.subject}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel, "subject": self.subject, "email": self.email,
            "issuer": self.issuer, "provider": self.provider, "groups": list(self.groups),
            "authenticated": self.authenticated, "label": self.label,
        }


def channel_label(channel: str | None) -> str:
    """How a recorded channel is shown: itself, or ``unrecorded`` on rows written before
    identities were recorded."""
    return channel or "unrecorded"


def os_user() -> str:
    """The operating-system user: ``$USER``, else the login name, else ``unknown``."""
    user = os.environ.get("USER", "")
    if user:
        return user
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):
        return "unknown"


def local_identity() -> Identity:
    """The dashboard without sign-in: the user the server runs as."""
    return Identity(channel="local", subject=os_user())


def cli_identity(actor: str | None = None) -> Identity:
    """``cli:<os user>``; with ``actor`` (``--actor`` in CI) ``ci:<actor>``, asserted."""
    if actor is None:
        return Identity(channel="cli", subject=os_user())
    return Identity(channel="ci", subject=_name(actor, "--actor"))


def as_identity(actor: str | Identity) -> Identity:
    """An identity as given, or a name given to the Python API (channel ``api``)."""
    if isinstance(actor, Identity):
        return actor
    return Identity(channel="api", subject=_name(actor, "--actor"))


def _name(text: str, flag: str) -> str:
    name = (text or "").strip()
    if not name:
        raise InputError("actor is required", location=flag, expected="a non-empty actor")
    return name


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def signed_in_identity(claims: Mapping[str, Any], group_claim: str = "groups") -> Identity:
    """The identity in a provider's ID-token claims (``st.user``): ``sub``, ``email``
    (trusted for email rules unless ``email_verified`` is false), ``iss``, the
    provider's name in the secrets and the groups in ``group_claim``."""
    subject = str(claims.get("sub") or "").strip()
    if not subject:
        raise InputError("the identity token has no subject", location="sub",
                         expected="an OpenID Connect ID token with a 'sub' claim")
    return Identity(
        channel="dashboard", subject=subject, email=str(claims.get("email") or ""),
        issuer=str(claims.get("iss") or ""), provider=str(claims.get("provider") or ""),
        groups=_groups(claims.get(group_claim)),
        email_verified=claims.get("email_verified") is not False,
    )
