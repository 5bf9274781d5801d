"""Save rate: does saving work? First the randomized answer: churn of the High-risk customers
on the CS list (treated) against a control group kept off it, with its 95% interval and the
saves it implies; then, secondary, contacted against not contacted, which CS chooses."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.data import (
    load,
    pct,
    published_caption,
    require,
    settings,
    signed_money,
    tier_definition,
)
from dashboards.save_effect import monthly_table, readout, split_warning

GROUP_COLORS = alt.Scale(domain=["contacted", "not contacted"], range=["#2874a6", "#aab7b8"])

st.title("Save rate")
rates = require(
    "save_rate", "No High-risk customers scored yet: score some Mondays, rebuild, publish."
)
episodes = load("high_risk_episodes")
effect = load("save_effect")
cutoffs = load("risk_tier_cutoffs")
st.caption(published_caption())
horizon = settings().churn_horizon_days
if episodes is not None and not episodes.empty:
    span = pd.to_datetime(episodes["horizon_end_date"]) - pd.to_datetime(episodes["episode_start"])
    horizon = int(span.dt.days.max())
horizon_text = f"{horizon} days"

# ---------- the randomized result
st.subheader("Listed vs control group (randomized)")
share = (
    float(effect["expected_control_share"].iloc[0])
    if effect is not None and not effect.empty
    else None
)
st.markdown(
    "Every week, "
    + (f"a stable {share:.0%}" if share is not None else "a stable share")
    + " of the customers who newly enter **High** risk is drawn at random into a **control** "
    "group and kept off the CS list for that High episode; the rest are **listed** (treated). "
    "Because chance alone decides who is listed, the difference in churn within "
    f"{horizon_text} of entering High is what being on the list achieves."
)
if effect is None or episodes is None:
    st.info(
        "This snapshot has no control-group marts (save_effect, high_risk_episodes): rebuild "
        "the marts and publish to see the randomized result.",
        icon=":material/info:",
    )
else:
    result = readout(effect, episodes)
    warning = split_warning(result.row)
    if warning:
        st.warning(warning, icon=":material/warning:")
    if not result.enough:
        st.info(result.sentence, icon=":material/hourglass_empty:")
    else:
        row = result.row
        assert row is not None  # enough implies a cumulative row
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Churn, listed (treated)", pct(row["treated_churn_rate"], 1))
        c1.caption(
            f"{int(row['treated_churned']):,} of {int(row['treated_n']):,} customers churned "
            f"within {horizon_text}"
        )
        c2.metric("Churn, control", pct(row["control_churn_rate"], 1))
        c2.caption(
            f"{int(row['control_churned']):,} of {int(row['control_n']):,} customers churned "
            f"within {horizon_text}"
        )
        c3.metric(
            "Effect (control − listed)",
            f"{row['effect'] * 100:+.1f} pts",
            help="Above 0: listed customers churned less than the control group.",
        )
        c3.caption(f"95% interval [{row['ci_low'] * 100:.1f}, {row['ci_high'] * 100:.1f}] pts")
        c4.metric(
            "Saves implied (customers)",
            f"{row['saved_customers']:+.1f}",
            help="Effect × the listed customers; MRR: effect × their MRR when they entered High.",
        )
        c4.caption(f"{signed_money(row['saved_mrr'])} MRR")
        st.markdown(f"**{result.sentence}**")
        if result.caution:
            st.caption(result.caution)
        counts = result.counts
        st.caption(
            f"Counted: episodes whose {horizon_text} have passed. Still open: "
            f"{counts['treated'].open:,} listed and {counts['control'].open:,} control."
        )
    months = monthly_table(effect)
    if not months.empty:
        with st.expander("By month of entering High", expanded=True):
            st.dataframe(
                months,
                hide_index=True,
                width="stretch",
                column_config={
                    "Churn, listed (%)": st.column_config.NumberColumn(format="%.1f"),
                    "Churn, control (%)": st.column_config.NumberColumn(format="%.1f"),
                    "Effect (pts)": st.column_config.NumberColumn(format="%+.1f"),
                    "95% low": st.column_config.NumberColumn(format="%.1f"),
                    "95% high": st.column_config.NumberColumn(format="%.1f"),
                    "Saved customers": st.column_config.NumberColumn(format="%+.1f"),
                    "Saved MRR": st.column_config.NumberColumn(format="dollar"),
                },
            )
st.caption(tier_definition(cutoffs))

# ---------- secondary: contacted vs not, which CS chooses
st.divider()
st.subheader("Contacted vs not contacted — not randomized: CS chooses whom to call")
st.markdown(
    "A **case** is a listed customer who scored **High** in a month (from their first High "
    "week). **Contacted** means CS logged a contact or an offer soon after it; both groups are "
    "followed from the same day, so a customer gone before CS could call is in neither. The "
    f"**save rate** is the share still a customer when {horizon_text} had passed. CS chooses "
    "whom to call, so the gap mixes CS's choice with the call's effect: the randomized result "
    "above is the one to act on."
)

rates["scoring_month"] = pd.to_datetime(rates["scoring_month"])
done = rates[rates["compared_customers"] > 0]
open_cases = int(rates["open_customers"].sum())
if done.empty:
    st.info(
        f"No case has reached its horizon yet ({open_cases:,} open). The first save rates "
        f"appear {horizon_text} after the first High scores."
    )
    st.stop()

pooled = done.groupby("cs_group")[["still_active_customers", "compared_customers"]].sum()
pooled["rate"] = pooled["still_active_customers"] / pooled["compared_customers"]
m1, m2, m3 = st.columns(3)
for column, group in ((m1, "contacted"), (m2, "not contacted")):
    if group in pooled.index and pooled.loc[group, "compared_customers"] > 0:
        column.metric(
            f"Save rate, {group}",
            pct(pooled.loc[group, "rate"]),
            help=f"{int(pooled.loc[group, 'still_active_customers']):,} of "
            f"{int(pooled.loc[group, 'compared_customers']):,} cases still customers",
        )
        column.caption(
            f"{int(pooled.loc[group, 'still_active_customers']):,} of "
            f"{int(pooled.loc[group, 'compared_customers']):,} High-risk accounts"
        )
    else:
        column.metric(f"Save rate, {group}", "–")
if {"contacted", "not contacted"} <= set(pooled.index):
    gap = pooled.loc["contacted", "rate"] - pooled.loc["not contacted", "rate"]
    m3.metric("Difference", f"{gap * 100:+.0f} pts", help="contacted minus not contacted")
m3.caption(f"{open_cases:,} cases still within their horizon (not counted yet)")

chart_rows = done.assign(
    label=done.apply(
        lambda r: f"{int(r.still_active_customers)}/{int(r.compared_customers)}", axis=1
    )
)
base = alt.Chart(chart_rows).encode(
    x=alt.X("yearmonth(scoring_month):O", title="month of the High score"),
    xOffset=alt.XOffset("cs_group:N"),
    color=alt.Color("cs_group:N", scale=GROUP_COLORS, title=None),
)
bars = base.mark_bar().encode(
    y=alt.Y(
        "save_rate:Q",
        title="still a customer after the horizon",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    ),
    tooltip=[
        alt.Tooltip("yearmonth(scoring_month):O", title="month"),
        "cs_group",
        alt.Tooltip("save_rate:Q", format=".0%"),
        alt.Tooltip("still_active_customers:Q", title="still customers"),
        alt.Tooltip("compared_customers:Q", title="cases"),
    ],
)
labels = base.mark_text(dy=-8, fontSize=11).encode(y="save_rate:Q", text="label:N")
st.altair_chart((bars + labels).properties(height=320), width="stretch")
st.caption(
    "Labels: still customers / cases. CS chooses whom to call, so the two groups can differ "
    "for reasons other than the call itself: read the gap as evidence, not proof."
)

table = rates.pivot_table(
    index="scoring_month",
    columns="cs_group",
    values=[
        "high_risk_customers",
        "compared_customers",
        "still_active_customers",
        "save_rate",
        "open_customers",
    ],
    aggfunc="sum",
)
table.columns = [f"{group}: {metric.replace('_', ' ')}" for metric, group in table.columns]
table.index = table.index.strftime("%Y-%m")
with st.expander("Contacted vs not, per month"):
    st.dataframe(table, width="stretch")
