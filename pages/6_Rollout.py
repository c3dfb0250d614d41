"""Rollout: stage, gate for the next promotion, promote / rollback, the event log."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import identity, ui
from deployready.access import access_log, channel_label
from deployready.charts.rollout import rollout_timeline, stage_steps
from deployready.checks import format_value, status_text
from deployready.rollout import events as rollout
from deployready.rollout.events import (
    evaluate_gate,
    load_events,
    promote,
    rollback,
    rollout_state,
)
from deployready.workspace import Workspace

ui.setup_page("Rollout", "🚦")
ws, version = ui.sidebar()
st.title("🚦 Rollout")
ui.require_versions(ws)
assert version is not None

policy = ui.policy_or_stop(ws)
state = ui.guarded(lambda: rollout_state(ws, policy), "Reading the rollout log")
if state is None:
    st.stop()

_FLASH = "rollout_flash"
flash = st.session_state.pop(_FLASH, None)
if flash:
    kind, text = flash
    (st.success if kind == "ok" else st.error)(text)

stages = policy.rollout.stages
current = state.stage_of(version)
c1, c2, c3 = st.columns(3)
c1.metric("Stable (100 %)", state.stable or "none")
c2.metric("In rollout", f"{state.canary} at {state.stage_of(state.canary)} %"
          if state.canary else "none")
c3.metric(f"{version}", f"{current} % of traffic")
ui.chart(stage_steps(stages, current, version=version))
st.caption(
    f"Stages {' → '.join(f'{s} %' for s in [0, *stages])}. Entering {stages[0]} % needs READY; "
    f"each later stage needs {policy.rollout.bake_days} consecutive green daily check(s) at "
    "the current stage, on the same package hash. Rollback is always allowed."
)

# --------------------------------------------------------------------------- gate

st.subheader("Gate for the next promotion")


@st.cache_data(show_spinner=False, max_entries=16)
def _readiness(root: str, version: str, key: str) -> Any:
    """The gate's readiness (``rollout.readiness_of``), cached until any evidence changes."""
    workspace = Workspace.open(root)
    return rollout.readiness_of(workspace, version, workspace.policy())


selected: str = version
selected_key = ui.evidence_key(ws, selected)
gate = ui.guarded(
    lambda: evaluate_gate(
        ws, version, policy=policy,
        readiness=_readiness(str(ws.root), selected, selected_key),
    ),
    "Evaluating the gate",
)
if gate is not None:
    if gate.next_stage is None:
        st.info(f"{version} is at {gate.current_stage} %: there is no further stage.")
    elif gate.allowed:
        st.success(f"**ALLOWED**: {version} may go from {gate.current_stage} % to "
                   f"{gate.next_stage} %.")
    else:
        st.error(f"**REFUSED**: {version} cannot go from {gate.current_stage} % to "
                 f"{gate.next_stage} % yet.")
    for reason in gate.reasons:
        st.markdown(f"- {reason}")
    st.dataframe(
        pd.DataFrame([{"check": c.name, "status": status_text(c.status),
                       "value": format_value(c.value),
                       "threshold": c.threshold, "finding": c.message} for c in gate.checks]),
        hide_index=True, width="stretch",
    )

# --------------------------------------------------------------------------- actions

who, may_promote = identity.acting(policy, "promote")
_, may_roll_back = identity.acting(policy, "rollback")
left, right = st.columns(2)
with left, st.form("promote_form"):
    st.markdown("**Promote**")
    target = gate.next_stage if gate is not None else None
    identity.show_permission(may_promote)
    reason = st.text_input("Reason", key="promote_reason",
                           placeholder="e.g. bake period green, ticket REL-123")
    submitted = st.form_submit_button(
        f"Promote {version} to {target} %" if target is not None else "Promote",
        disabled=target is None, type="primary",
    )
if submitted:
    result = ui.guarded(lambda: promote(ws, version, actor=who, reason=reason, policy=policy),
                        "Promotion")
    if result is not None:
        ev = result.event
        if result.allowed:
            extra = "".join(f" {s.version} {s.action}d." for s in result.side_events)
            st.session_state[_FLASH] = (
                "ok", f"Promoted {ev.version} from {ev.from_pct} % to {ev.to_pct} % "
                      f"(event #{ev.id}).{extra}")
        else:
            reasons = "; ".join(result.decision.reasons) if result.decision else ev.reason
            st.session_state[_FLASH] = (
                "refused", f"Promotion refused and logged as event #{ev.id}: {reasons}")
        st.rerun()

with right, st.form("rollback_form"):
    st.markdown("**Roll back**")
    lower = [0, *[s for s in stages if s < current]]
    to_pct = st.selectbox("To", lower, index=0, format_func=lambda p: f"{p} %",
                          key="rollback_to")
    identity.show_permission(may_roll_back)
    rb_reason = st.text_input("Reason (required)", key="rollback_reason",
                              placeholder="e.g. P99 regression, incident INC-42")
    rolled = st.form_submit_button(f"Roll back {version}", disabled=current == 0)
if current == 0:
    right.caption(f"{version} is not in rollout: nothing to roll back.")
if rolled:
    back = ui.guarded(lambda: rollback(ws, version, actor=who, reason=rb_reason,
                                       to_pct=int(to_pct), policy=policy), "Rollback")
    if back is not None:
        ev = back.event
        extra = "".join(f" {s.version} restored to {s.to_pct} %." for s in back.side_events)
        st.session_state[_FLASH] = (
            "ok", f"Rolled back {ev.version} from {ev.from_pct} % to {ev.to_pct} % "
                  f"(event #{ev.id}).{extra}")
        st.rerun()

# --------------------------------------------------------------------------- log

st.subheader("Event log")
events = ui.guarded(lambda: load_events(ws), "Reading the rollout log") or []
if not events:
    st.info("No rollout events yet.")
else:
    ui.chart(rollout_timeline([e.as_dict() for e in events]))
    log = pd.DataFrame([
        {"#": e.id, "time": e.created_at, "version": e.version, "action": e.action,
         "from %": e.from_pct, "to %": e.to_pct,
         "decision": "allowed" if e.allowed else "REFUSED", "actor": e.actor,
         "channel": channel_label(e.channel), "reason": e.reason}
        for e in reversed(events)
    ])

    def _highlight(row: pd.Series) -> list[str]:
        style = "background-color: #fee2e2" if row["decision"] == "REFUSED" else ""
        return [style] * len(row)

    st.dataframe(log.style.apply(_highlight, axis=1), hide_index=True, width="stretch")
    refused = [e for e in events if not e.allowed]
    if refused:
        with st.expander(f"Evidence of the {len(refused)} refusal(s)"):
            for e in reversed(refused):
                st.markdown(f"**#{e.id}** {e.created_at} — {e.version} by {e.actor}")
                st.json(e.evidence, expanded=False)

st.subheader("Refused by access")
denied = ui.guarded(lambda: access_log(ws, ("promote", "rollback"), refused_only=True),
                    "Reading the access log") or []
if not denied:
    st.caption("No promotion or rollback was refused for want of a role.")
else:
    st.dataframe(pd.DataFrame([
        {"time": a.created_at, "action": a.action, "version": a.target, "who": a.actor,
         "channel": a.channel, "subject": a.identity.get("subject", ""),
         "issuer": a.identity.get("issuer", ""), "why": a.reason} for a in denied
    ]), hide_index=True, width="stretch")
