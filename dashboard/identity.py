"""Who is using the dashboard: a user signed in through Streamlit's OpenID Connect support
(``st.login`` / ``st.user``, the provider in ``.streamlit/secrets.toml``'s ``[auth]``),
or — with no ``[auth]`` configured — the explicit local mode (``local:<os user>``).

With sign-in configured nothing is shown before signing in, and the workspace is the
server's (``$DEPLOYREADY_WORKSPACE``, else the folder the server started in): no path
field. Whether an identity may act is decided by the engine
(:func:`deployready.access.may`); this module only finds the identity and shows it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from deployready.access import (
    AccessDecision,
    Identity,
    local_identity,
    may,
    require,
    signed_in_identity,
)
from deployready.errors import DeployReadyError
from deployready.policy import AccessPolicy, Policy
from deployready.workspace import Workspace, default_workspace_path


def auth_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (sign-in is on)."""
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError, OSError):
        return False
    return bool(section)


def signed_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def claims() -> dict[str, Any]:
    return {k: v for k, v in st.user.to_dict().items() if k != "tokens"}


def current(access: AccessPolicy | None = None) -> Identity:
    """The acting identity: the signed-in user, else (no sign-in configured) the local one.
    Only called after :func:`sign_in_gate` let the page run."""
    if not auth_configured():
        return local_identity()
    group_claim = access.group_claim if access is not None else "groups"
    return signed_in_identity(claims(), group_claim)


def sign_in_gate() -> None:
    """With sign-in configured and nobody signed in: the sign-in screen, and stop. A
    provider's token without a subject is shown as an error and stops the page."""
    if not auth_configured():
        return
    if signed_in():
        try:
            current()
        except DeployReadyError as exc:
            st.error(f"**Sign-in failed.** {exc}", icon="🔐")
            if st.button("Sign out", key="sign_out_bad"):
                st.logout()
            st.stop()
        return
    st.title("deployready")
    st.info("Sign in to see the release evidence. Acting (promotions, rollbacks, "
            "sign-offs, load tests, daily checks) needs a role in the policy.", icon="🔐")
    if st.button("Sign in", type="primary", key="sign_in"):
        st.login()
    st.stop()


def fixed_workspace() -> Workspace:
    """The server's workspace, shown but not editable (sign-in on)."""
    path = default_workspace_path()
    st.sidebar.caption(f"Workspace: `{path}` (set by the server: $DEPLOYREADY_WORKSPACE)")
    return Workspace.open(path)


def _mode(ws: Workspace) -> str:
    try:
        return ws.policy().access.mode
    except DeployReadyError:
        return "local"


def panel(ws: Workspace) -> None:
    """Who is signed in (and sign out), or the local-mode banner, in the sidebar."""
    if auth_configured():
        who = current()
        via = who.provider or who.issuer
        st.sidebar.markdown(f"Signed in as **{who.label}**" + (f" ({via})" if via else ""))
        if st.sidebar.button("Sign out", key="sign_out"):
            st.logout()
        return
    who = local_identity()
    st.sidebar.warning(f"**Local mode**: no sign-in is configured; actions are recorded "
                       f"as `{who.label}`.", icon="🔓")
    if _mode(ws) == "sign-in":
        st.error('The policy requires sign-in (`[access] mode = "sign-in"`) but no '
                 "provider is configured in `.streamlit/secrets.toml` (`[auth]`): this "
                 "dashboard shows the evidence and refuses every action.", icon="🔒")


def acting(policy: Policy, action: str) -> tuple[Identity, AccessDecision]:
    """Who would act, and whether they may ``action`` (shown before the action)."""
    who = current(policy.access)
    return who, may(who, action, policy.access)


def show_permission(decision: AccessDecision, where: Any = st) -> None:
    """The decision as a caption: acting as whom under which rule, or why it will be
    refused (the action stays available: a refused attempt is logged with who tried)."""
    who = decision.identity.label
    if decision.allowed:
        where.caption(f"Acting as **{who}** — {decision.rule}.")
    else:
        where.warning(f"{decision.reason}. Trying is refused and logged.", icon="🔒")


def require_action(ws: Workspace, action: str, target: str, policy: Policy) -> AccessDecision:
    """The dashboard identity may ``action`` (recorded in the access log); else the
    refusal is recorded and :class:`~deployready.errors.AccessDenied` raised."""
    return require(ws, current(policy.access), action, target, policy)
