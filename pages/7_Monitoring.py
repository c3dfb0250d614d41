"""Monitoring: daily (automated), weekly and monthly review checklists with sign-offs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import identity, ui
from deployready.access import channel_label
from deployready.charts.rollout import daily_grid
from deployready.checks import status_glyph
from deployready.report.render import OVERDUE_HEADER, daily_table, overdue_rows
from deployready.rollout.reviews import (
    Checklists,
    PeriodReview,
    checklists,
    sign_off,
)

ui.setup_page("Monitoring", "🗓️")
ws, version = ui.sidebar(deployed=True)
st.title("🗓️ Monitoring reviews")

policy = ui.policy_or_stop(ws)

only_selected = st.sidebar.checkbox("Daily checks of the selected version only", value=False,
                                    key="monitoring_only_version")
days = st.sidebar.slider("Days of daily checks", 7, 60, 14, key="monitoring_days")
lists = ui.guarded(
    lambda: checklists(ws, version if only_selected else None, days=days, policy=policy),
    "Reading the review checklists",
)
if lists is None:
    st.stop()

_FLASH = "monitoring_flash"
flash = st.session_state.pop(_FLASH, None)
if flash:
    st.success(flash)

# --------------------------------------------------------------------------- overdue

st.subheader("Overdue reviews")
if lists.overdue:
    st.warning(f"{len(lists.overdue)} review period(s) ended without a sign-off.", icon="⚠️")
    st.dataframe(
        pd.DataFrame(overdue_rows([o.as_dict() for o in lists.overdue]), columns=OVERDUE_HEADER),
        hide_index=True, width="stretch",
    )
else:
    st.success("No overdue reviews.")

# --------------------------------------------------------------------------- daily

st.subheader("Daily checks (automated)")
if not lists.daily:
    st.info("No daily checks stored yet. Run `deployready daily` (cron) or the button on the "
            "Drift page.")
else:
    daily = [d.as_dict() for d in lists.daily]
    ui.chart(daily_grid(daily, by_version=True), key="daily_grid")
    header, rows = daily_table(daily, status=status_glyph)
    st.dataframe(pd.DataFrame(rows, columns=header), hide_index=True, width="stretch")

# --------------------------------------------------------------------------- periods


def period_form(review: PeriodReview, lists: Checklists) -> None:
    kind = review.kind
    st.subheader(f"{kind.capitalize()} review")
    choices = [review.period, *[o.period for o in lists.overdue if o.kind == kind]]
    period = st.selectbox("Period", choices, key=f"{kind}_period",
                          help="The current period, then the overdue ones")
    signed = next((s for s in lists.history if s.kind == kind and s.period == period), None)
    if signed is not None:
        st.success(f"{period} signed off by **{signed.name}** at {signed.signed_at}"
                   + (f": {signed.note}" if signed.note else ""))
    else:
        st.info(f"{period} is not signed off yet.")
    with st.form(f"{kind}_form"):
        done = {item: st.checkbox(item, value=signed is None or any(
                    i["item"] == item and i["done"] for i in signed.items),
                    key=f"{kind}_item_{n}")
                for n, item in enumerate(review.items)}
        who, decision = identity.acting(policy, f"signoff-{kind}")
        identity.show_permission(decision)
        note = st.text_area("Note", key=f"{kind}_note",
                            placeholder="What you looked at; why an item was not done")
        amend = st.checkbox("Amend the existing sign-off", value=False, key=f"{kind}_amend",
                            disabled=signed is None)
        submitted = st.form_submit_button(f"Sign off {period}", type="primary")
    if submitted:
        result = ui.guarded(
            lambda: sign_off(ws, kind, period, name=who, note=note, version=version,
                             done=done, amend=amend, policy=policy),
            "Sign-off",
        )
        if result is not None:
            what = "Amended" if result.amends else "Signed off"
            st.session_state[_FLASH] = f"{what} the {kind} review {period} as {result.name}."
            st.rerun()


left, right = st.columns(2)
with left:
    period_form(lists.weekly, lists)
with right:
    period_form(lists.monthly, lists)

# --------------------------------------------------------------------------- history

st.subheader("Sign-off history")
if not lists.history:
    st.info("No sign-offs yet.")
else:
    st.dataframe(
        pd.DataFrame([{"kind": s.kind, "period": s.period, "name": s.name,
                       "channel": channel_label(s.channel), "signed at": s.signed_at,
                       "version": s.version or "",
                       "items done": f"{sum(1 for i in s.items if i.get('done'))}/{len(s.items)}",
                       "amendment": "yes" if s.amends else "", "note": s.note}
                      for s in lists.history]),
        hide_index=True, width="stretch",
    )
