"""Save rate: of the High-risk customers CS contacted, how many were still customers when the
churn horizon passed, beside those CS did not contact."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.data import load, pct, published_caption, require, tier_definition

GROUP_COLORS = alt.Scale(domain=["contacted", "not contacted"], range=["#2874a6", "#aab7b8"])

st.title("Save rate")
rates = require(
    "save_rate", "No High-risk customers scored yet: score some Mondays, rebuild, publish."
)
cases = load("high_risk_cases")
cutoffs = load("risk_tier_cutoffs")
st.caption(published_caption())
horizon = None
if cases is not None and not cases.empty:
    span = pd.to_datetime(cases["horizon_end_date"]) - pd.to_datetime(cases["flagged_date"])
    horizon = int(span.dt.days.max())
horizon_text = f"{horizon} days" if horizon else "the churn horizon"
st.markdown(
    f"A **case** is a customer who scored **High** in a month (from their first High week). "
    f"**Contacted** means CS logged a contact or an offer within {horizon_text} after it. "
    f"The **save rate** is the share still a customer when those {horizon_text} had passed."
)
st.caption(tier_definition(cutoffs))

rates["scoring_month"] = pd.to_datetime(rates["scoring_month"])
done = rates[rates["horizon_passed_customers"] > 0]
open_cases = int(rates["open_customers"].sum())
if done.empty:
    st.info(
        f"No case has reached its horizon yet ({open_cases:,} open). The first save rates "
        f"appear {horizon_text} after the first High scores."
    )
    st.stop()

pooled = done.groupby("cs_group")[["still_active_customers", "horizon_passed_customers"]].sum()
pooled["rate"] = pooled["still_active_customers"] / pooled["horizon_passed_customers"]
m1, m2, m3 = st.columns(3)
for column, group in ((m1, "contacted"), (m2, "not contacted")):
    if group in pooled.index and pooled.loc[group, "horizon_passed_customers"] > 0:
        column.metric(
            f"Save rate, {group}",
            pct(pooled.loc[group, "rate"]),
            help=f"{int(pooled.loc[group, 'still_active_customers']):,} of "
            f"{int(pooled.loc[group, 'horizon_passed_customers']):,} cases still customers",
        )
        column.caption(
            f"{int(pooled.loc[group, 'still_active_customers']):,} of "
            f"{int(pooled.loc[group, 'horizon_passed_customers']):,} High-risk accounts"
        )
    else:
        column.metric(f"Save rate, {group}", "–")
if {"contacted", "not contacted"} <= set(pooled.index):
    gap = pooled.loc["contacted", "rate"] - pooled.loc["not contacted", "rate"]
    m3.metric("Difference", f"{gap * 100:+.0f} pts", help="contacted minus not contacted")
m3.caption(f"{open_cases:,} cases still within their horizon (not counted yet)")

chart_rows = done.assign(
    label=done.apply(
        lambda r: f"{int(r.still_active_customers)}/{int(r.horizon_passed_customers)}", axis=1
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
        alt.Tooltip("horizon_passed_customers:Q", title="cases"),
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
    values=["high_risk_customers", "still_active_customers", "save_rate", "open_customers"],
    aggfunc="sum",
)
table.columns = [f"{group}: {metric.replace('_', ' ')}" for metric, group in table.columns]
table.index = table.index.strftime("%Y-%m")
with st.expander("Numbers per month"):
    st.dataframe(table, width="stretch")
