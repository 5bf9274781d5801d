"""At-risk customers: this week's list with filters, counts in context, since when High
accounts have been High, a customer view, CSV export and the form that logs a CS action.

An account owner sees their own accounts first (the owner filter preset to them), and only
those unless the settings let owners see all; a signed-in user's actions carry their identity.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.access import viewer
from dashboards.at_risk import (
    SORTS,
    Filters,
    actions_table,
    filter_customers,
    headline,
    list_table,
    list_totals,
    mrr_at_risk_help,
    sort_customers,
    top_drivers,
    unpublished_actions,
)
from dashboards.audit_log import AuditEvent, record_event
from dashboards.cs_actions_store import (
    ACTION_TYPES,
    OUTCOMES,
    ActionInvalid,
    CsAction,
    list_actions,
    new_action_id,
    now,
    record_action,
    today,
)
from dashboards.data import (
    TIER_COLORS,
    TIERS,
    load,
    md,
    money,
    pct,
    published_caption,
    require,
    settings,
    tier_definition,
)
from dashboards.sign_in import Role

st.title("At-risk customers")
customers = require(
    "at_risk_customers",
    "No predictions yet: the marts are built but nothing has been scored. Train a model, "
    "score a Monday, rebuild the marts and publish.",
)
cutoffs = load("risk_tier_cutoffs")
as_of = pd.Timestamp(customers["as_of_date"].max())
me = viewer()
if not me.sees_every_account:
    customers = customers[customers["account_owner"] == me.owner_name]
    if customers.empty:
        st.info(
            f"No account on this week's list is owned by {md(me.owner_name or me.identity)}. "
            "If that is not your name as the CRM writes it, ask an admin to map your email to "
            "it (CHURN_APP_OWNER_NAME_BY_EMAIL).",
            icon=":material/info:",
        )
        st.stop()
st.caption(
    f"Scores of Monday {as_of:%Y-%m-%d} · model v{md(customers['model_version'].iloc[0])} · "
    + published_caption()
)
st.caption(tier_definition(cutoffs, as_of))

# ---------- headline: this week against the previous scored week
# the week-on-week change compares with every account's count: only for those who see them all
numbers = headline(customers, cutoffs if me.sees_every_account else None)
cols = st.columns(4)
cols[0].metric(
    "High-risk accounts",
    f"{numbers.high_accounts:,}",
    delta=None if numbers.high_change is None else f"{numbers.high_change:+,} vs last week",
    delta_color="inverse",
    help="Accounts in High that are still customers; the tier definition counts every account "
    "scored that week, including any that have cancelled since.",
)
cols[1].metric("MRR of High-risk accounts", money(numbers.high_mrr))
cols[2].metric(
    "Expected MRR at risk (all accounts)",
    money(numbers.expected_mrr_at_risk),
    help=mrr_at_risk_help(settings().churn_horizon_days),
)
cols[3].metric("Newly High this week", f"{numbers.newly_high_accounts:,}")

# ---------- filters
with st.container(border=True):
    f1, f2, f3, f4 = st.columns(4)
    tiers = f1.pills(
        "Tier",
        TIERS,
        selection_mode="multi",
        key="tier_filter",
        help="None selected = every tier",
    )
    owner_names = sorted(customers["account_owner"].dropna().unique())
    if (
        me.role == Role.OWNER
        and me.owner_name in owner_names
        and "owner_filter" not in st.session_state
    ):
        st.session_state["owner_filter"] = [me.owner_name]  # own accounts first
    owners = f2.multiselect("Account owner", owner_names, key="owner_filter")
    plans = f3.multiselect("Plan", sorted(customers["plan"].dropna().unique()), key="plan_filter")
    segments = f4.multiselect(
        "Segment (industry)", sorted(customers["industry"].dropna().unique()), key="segment_filter"
    )
    s1, s2 = st.columns([2, 1])
    search = s1.text_input(
        "Search by company name or customer id", key="search", placeholder="e.g. Acme or C0000042"
    )
    sort_label = s2.selectbox("Sort by", list(SORTS), key="sort")

filters = Filters(
    tiers=tiers or (), owners=owners, plans=plans, segments=segments, search=search or ""
)
shown = sort_customers(filter_customers(customers, filters), sort_label)

totals = list_totals(shown)
st.markdown(
    f"**{totals.accounts:,} of {len(customers):,} accounts**, {money(totals.mrr)} MRR, "
    f"{money(totals.mrr_at_risk)} expected MRR at risk"
)

table = list_table(shown)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    height=min(420, 38 + 35 * max(len(table), 1)),
    column_config={
        "Churn risk": st.column_config.ProgressColumn(
            "Churn risk", format="%.1f%%", min_value=0, max_value=100
        ),
        "Change (pts)": st.column_config.NumberColumn(
            "Change (pts)", format="%+.1f", help="Change of churn risk since the previous week"
        ),
        "MRR": st.column_config.NumberColumn("MRR", format="$%.0f"),
        "MRR at risk": st.column_config.NumberColumn(
            "MRR at risk", format="$%.0f", help="MRR × churn risk"
        ),
        "Why": st.column_config.TextColumn("Why (top drivers)", width="large"),
        "High since": st.column_config.DateColumn(
            "High since",
            format="YYYY-MM-DD",
            help="First week of the account's current run of High weeks (High only)",
        ),
    },
)
st.download_button(
    "Download these accounts (CSV)",
    shown.to_csv(index=False).encode(),
    file_name=f"at_risk_customers_{as_of:%Y-%m-%d}.csv",
    mime="text/csv",
    disabled=shown.empty,
)

# ---------- one customer
st.divider()
if shown.empty:
    st.info("No account matches these filters.")
    st.stop()
labels = {
    row.customer_id: f"{row.company_name} ({row.customer_id}) · {row.risk_tier} "
    f"{pct(row.churn_probability, 1)}"
    for row in shown.itertuples()
}
chosen = st.selectbox("Customer", list(labels), format_func=labels.__getitem__, key="customer_pick")
row = customers[customers["customer_id"] == chosen].iloc[0]
# names and labels from the CRM are data, not Markdown: md() shows them literally
st.subheader(f"{md(row['company_name'])} · {md(row['customer_id'])}")
st.caption(
    f"Owner {md(row['account_owner'])} · {md(row['plan'])} plan · {md(row['industry'])} · "
    f"{md(row['contract_type'])} contract · renews in {row['days_to_renewal']:.0f} days"
    if pd.notna(row.get("days_to_renewal"))
    else f"Owner {md(row['account_owner'])} · {md(row['plan'])} plan · {md(row['industry'])}"
)
m1, m2, m3, m4 = st.columns(4)
m1.metric(
    "Churn risk",
    pct(row["churn_probability"], 1),
    delta=None
    if pd.isna(row["probability_change"])
    else f"{row['probability_change'] * 100:+.1f} pts vs last week",
    delta_color="inverse",
)
since = row.get("high_since")
was = None if pd.isna(row["previous_tier"]) else f"was {row['previous_tier']} last week"
m2.metric(
    "Tier",
    str(row["risk_tier"]),
    # a High account: since when (a case weeks old is not a new one); else last week's tier
    delta=was if since is None or pd.isna(since) else f"since {pd.Timestamp(since):%Y-%m-%d}",
    delta_color="off",
    delta_arrow="off",
    help=was,
)
m3.metric(
    "MRR",
    money(row["mrr"]),
    delta=f"{money(row['mrr_at_risk'])} expected at risk",
    delta_color="off",
    delta_arrow="off",
)
m4.metric(
    "Last CS contact",
    "never"
    if pd.isna(row["last_cs_contact_at"])
    else f"{pd.Timestamp(row['last_cs_contact_at']):%Y-%m-%d}",
    delta=None
    if pd.isna(row["last_cs_action_type"])
    else str(row["last_cs_action_type"]).replace("_", " "),
    delta_color="off",
    delta_arrow="off",
)

left, right = st.columns([3, 2])
with right:
    st.markdown("**Why this score**")
    drivers = top_drivers(row)
    st.markdown(
        "\n".join(f"{i}. {md(d)}" for i, d in enumerate(drivers, 1)) or "No drivers recorded."
    )

history = load("customer_risk_history")
history = (
    history[history["customer_id"] == chosen].sort_values("as_of_date")
    if history is not None
    else pd.DataFrame()
)
with left:
    st.markdown("**Churn risk, week by week**")
    if history.empty:
        st.caption("No score history.")
    else:
        points = history.assign(risk=history["churn_probability"])
        line = (
            alt.Chart(points)
            .mark_line(point=True, color="#34495e")
            .encode(
                x=alt.X("as_of_date:T", title=None),
                y=alt.Y("risk:Q", title="churn risk", axis=alt.Axis(format="%")),
                tooltip=[
                    alt.Tooltip("as_of_date:T", title="week"),
                    alt.Tooltip("risk:Q", format=".1%"),
                    "risk_tier",
                ],
            )
        )
        layers = [line]
        if cutoffs is not None and not cutoffs.empty:
            latest_cut = cutoffs.sort_values("as_of_date").iloc[-1]
            for tier in ("High", "Medium"):
                value = latest_cut[f"{tier.lower()}_min_probability"]
                if pd.notna(value):
                    layers.append(
                        alt.Chart(pd.DataFrame({"y": [value], "tier": [f"{tier} from"]}))
                        .mark_rule(strokeDash=[4, 4], color=TIER_COLORS[tier])
                        .encode(y="y:Q", tooltip=["tier", alt.Tooltip("y:Q", format=".1%")])
                    )
        st.altair_chart(alt.layer(*layers).properties(height=220), width="stretch")
        st.caption("Dashed lines: where High (red) and Medium (orange) began this week.")

st.markdown("**Recent activity**")
if not history.empty:
    activity = history.tail(8).sort_values("as_of_date", ascending=False)
    st.dataframe(
        pd.DataFrame(
            {
                "Week": pd.to_datetime(activity["as_of_date"]).dt.date,
                "Risk": activity["churn_probability"] * 100,
                "Logins (7d)": activity["logins_7d"],
                "Logins (30d)": activity["logins_30d"],
                "Active users (30d)": activity["active_users_30d"],
                "Open tickets": activity["open_tickets"],
                "Tickets (90d)": activity["tickets_90d"],
                "Failed payments (90d)": activity["failed_payments_90d"],
                "CS contacts (90d)": activity["cs_contacts_90d"],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={"Risk": st.column_config.NumberColumn("Risk", format="%.1f%%")},
    )
actions = load("customer_recent_actions")
actions = actions[actions["customer_id"] == chosen] if actions is not None else pd.DataFrame()
pending = unpublished_actions(list_actions(settings(), customer_id=chosen), actions)

st.markdown("**CS actions**")
if actions.empty and pending.empty:
    st.caption("No CS actions recorded for this customer.")
if not pending.empty:
    st.caption("Logged in this app; they reach the scores after the next pipeline run:")
    st.dataframe(actions_table(pending), hide_index=True, width="stretch")
if not actions.empty:
    st.dataframe(actions_table(actions), hide_index=True, width="stretch")

# ---------- log a CS action
# the form's fields live in session_state: a refused submission keeps what was typed, a saved
# one starts a fresh action, and another customer starts afresh too
NO_OUTCOME = "(none yet)"
default_day = min(as_of.date(), today())


def reset_action_form(customer_id: str, owner: str) -> None:
    """Fresh fields for a new action on `customer_id` (its owner as performer, dated the
    list's week) and a new action id."""
    st.session_state.update(
        action_for=customer_id,
        action_id=new_action_id(),
        action_type=ACTION_TYPES[0],
        action_outcome=NO_OUTCOME,
        action_by=owner,
        action_note="",
        action_date=default_day,
    )


def save_action(known: set[str], company: str, owner: str) -> None:
    """Submit callback: it runs before the page, so it may reset the form's fields."""
    state = st.session_state
    if me.signed_in:
        state["action_by"] = me.identity  # signed, never typed
    if state["action_date"] is None:
        state["action_result"] = ("error", "Not saved: choose the day of the action\\.")
        return
    outcome = state["action_outcome"]
    action = CsAction(
        customer_id=state["action_for"],
        action_type=state["action_type"],
        performed_by=state["action_by"],
        outcome=None if outcome == NO_OUTCOME else outcome,
        note=state["action_note"] or None,
        action_id=state["action_id"],
        action_date=state["action_date"],
    )
    try:
        saved = record_action(action, settings(), known_customers=known)
    except ActionInvalid as exc:
        state["action_result"] = ("error", "Not saved: " + md(" ".join(exc.problems)))
        return
    record_event(
        AuditEvent(
            event_type="action_logged",
            identity=me.identity,
            key=saved,
            event_at=now(),
            role=me.role.label if me.role else None,
            customer_id=action.customer_id,
            action_id=saved,
            detail=None if me.signed_in else f"local mode, performed by {action.performed_by}",
        ),
        settings(),
    )
    state["action_result"] = (
        "success",
        f"Saved {action.action_type.replace('_', ' ')} of {action.action_date:%Y-%m-%d} for "
        f"{md(company)} ({md(saved)}). It reaches the features and the save rate after the "
        "next ingest and dbt build.",
    )
    reset_action_form(action.customer_id, owner)


owner = str(row["account_owner"] or "")
if st.session_state.get("action_for") != chosen:
    reset_action_form(chosen, owner)
st.markdown("**Log a CS action**")
with st.form("log_action"):
    a1, a2, a3, a4 = st.columns([3, 2, 2, 2])
    a1.radio(
        "Action",
        ACTION_TYPES,
        format_func=lambda a: a.replace("_", " ").capitalize(),
        horizontal=True,
        key="action_type",
    )
    a2.selectbox("Outcome", [NO_OUTCOME, *OUTCOMES], key="action_outcome", help="What came of it")
    if me.signed_in:
        a3.text_input(
            "Performed by",
            value=me.identity,
            disabled=True,
            key="action_by_signed",
            help="Your signed-in identity: every action is signed with it.",
        )
    else:
        a3.text_input("Performed by (local mode)", key="action_by", help="No sign-in: say who.")
    a4.date_input(
        "Date",
        key="action_date",
        format="YYYY-MM-DD",
        help="The day it happened: the list's week by default; not after today.",
    )
    st.text_area("Note", key="action_note", max_chars=None, height=80)
    st.form_submit_button(
        "Save action",
        type="primary",
        on_click=save_action,
        args=(set(customers["customer_id"]), str(row["company_name"]), owner),
    )
result = st.session_state.pop("action_result", None)
if result is not None:
    kind, message = result
    (st.success if kind == "success" else st.error)(message)
