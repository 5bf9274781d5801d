"""Risk trends: customers and MRR per tier and mean risk, week by week, by segment."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.data import (
    TIER_COLORS,
    TIERS,
    load,
    money,
    pct,
    published_caption,
    require,
    signed_money,
    tier_definition,
)

SEGMENTS = {"Whole book": "all", "Plan": "plan", "Industry": "industry", "Account owner": "owner"}

st.title("Risk trends")
trends = require(
    "risk_trends", "No scored weeks yet: score at least one Monday, rebuild the marts, publish."
)
cutoffs = load("risk_tier_cutoffs")
st.caption(published_caption())
st.caption(tier_definition(cutoffs))

segment_label = st.radio("Split by", list(SEGMENTS), horizontal=True, key="segment_type")
segment_type = SEGMENTS[segment_label]
rows = trends[trends["segment_type"] == segment_type].copy()
rows["as_of_date"] = pd.to_datetime(rows["as_of_date"])
values = sorted(rows["segment_value"].unique())
if segment_type != "all":
    chosen = st.multiselect(segment_label, values, default=values, key="segment_values")
    rows = rows[rows["segment_value"].isin(chosen)]
if rows.empty:
    st.info("Nothing to show for this selection.")
    st.stop()

weeks = sorted(rows["as_of_date"].unique())
latest, previous = weeks[-1], (weeks[-2] if len(weeks) > 1 else None)
book = rows.groupby(["as_of_date", "risk_tier"], as_index=False)[
    ["customers", "mrr", "mrr_at_risk"]
].sum()


def _tier_total(week: object, tier: str, column: str) -> float:
    part = book[(book["as_of_date"] == week) & (book["risk_tier"] == tier)]
    return float(part[column].sum())


k1, k2, k3 = st.columns(3)
high_now = _tier_total(latest, "High", "customers")
k1.metric(
    f"High-risk accounts, week of {pd.Timestamp(latest):%Y-%m-%d}",
    f"{high_now:,.0f}",
    delta=None
    if previous is None
    else f"{high_now - _tier_total(previous, 'High', 'customers'):+,.0f} vs previous week",
    delta_color="inverse",
)
mrr_high = _tier_total(latest, "High", "mrr")
k2.metric(
    "MRR in High",
    money(mrr_high),
    delta=None
    if previous is None
    else f"{signed_money(mrr_high - _tier_total(previous, 'High', 'mrr'))} vs previous week",
    delta_color="inverse",
)
latest_rows = book[book["as_of_date"] == latest]
k3.metric(
    "Expected MRR at risk",
    money(latest_rows["mrr_at_risk"].sum()),
    help="Sum over accounts of MRR × churn risk.",
)

at_risk = book[book["risk_tier"] != "Low"].assign(
    tier_order=lambda f: f["risk_tier"].map(TIERS.index),
    week=lambda f: f["as_of_date"].dt.strftime("%b %d"),
)
week_order = [pd.Timestamp(w).strftime("%b %d") for w in weeks]
low_now = int(_tier_total(latest, "Low", "customers"))
AT_RISK_SCALE = alt.Scale(domain=TIERS[:2], range=[TIER_COLORS[t] for t in TIERS[:2]])


def _tier_bars(value: str, title: str, fmt: str) -> alt.Chart:
    return (
        alt.Chart(at_risk)
        .mark_bar()
        .encode(
            x=alt.X("week:O", title=None, sort=week_order, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{value}:Q", title=title, stack=True, axis=alt.Axis(format=fmt)),
            color=alt.Color("risk_tier:N", scale=AT_RISK_SCALE, title="tier"),
            order=alt.Order("tier_order:Q"),
            tooltip=[
                alt.Tooltip("week:O", title="week"),
                alt.Tooltip("risk_tier:N", title="tier"),
                alt.Tooltip(f"{value}:Q", format=fmt, title=title),
            ],
        )
        .properties(height=260)
    )


left, right = st.columns(2)
with left:
    st.markdown("**High and Medium accounts per week**")
    st.altair_chart(_tier_bars("customers", "accounts", ",.0f"), width="stretch")
with right:
    st.markdown("**Their MRR per week**")
    st.altair_chart(_tier_bars("mrr", "MRR", "$,.0f"), width="stretch")
st.caption(f"Low is left out of these charts: {low_now:,} accounts in the latest week.")

st.markdown(
    "**Mean churn risk**" + ("" if segment_type == "all" else f" by {segment_label.lower()}")
)
means = rows.drop_duplicates(["as_of_date", "segment_value"])[
    ["as_of_date", "segment_value", "segment_mean_probability", "segment_customers"]
].assign(week=lambda f: f["as_of_date"].dt.strftime("%b %d"))
line = (
    alt.Chart(means)
    .mark_line(point=True)
    .encode(
        x=alt.X("week:O", title=None, sort=week_order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("segment_mean_probability:Q", title="mean churn risk", axis=alt.Axis(format="%")),
        color=alt.Color(
            "segment_value:N",
            title=segment_label.lower(),
            legend=None if segment_type == "all" else alt.Legend(),
        ),
        tooltip=[
            alt.Tooltip("week:O", title="week"),
            "segment_value",
            alt.Tooltip("segment_mean_probability:Q", format=".1%", title="mean risk"),
            alt.Tooltip("segment_customers:Q", title="accounts"),
        ],
    )
)
layers = [line]
if cutoffs is not None and not cutoffs.empty:
    cut = cutoffs.sort_values("as_of_date").iloc[-1]
    if pd.notna(cut["medium_min_probability"]):
        layers.append(
            alt.Chart(pd.DataFrame({"y": [cut["medium_min_probability"]]}))
            .mark_rule(strokeDash=[4, 4], color=TIER_COLORS["Medium"])
            .encode(y="y:Q")
        )
st.altair_chart(alt.layer(*layers).properties(height=280), width="stretch")
if len(layers) > 1:
    medium_from = cutoffs.sort_values("as_of_date").iloc[-1]["medium_min_probability"]
    st.caption(f"Dashed line: the Medium tier starts at {pct(medium_from, 1)} (latest week).")

if segment_type != "all":
    st.markdown(f"**Week of {pd.Timestamp(latest):%Y-%m-%d} by {segment_label.lower()}**")
    week = rows[rows["as_of_date"] == latest]
    wide = week.pivot_table(
        index="segment_value", columns="risk_tier", values="customers", aggfunc="sum"
    ).reindex(columns=TIERS, fill_value=0)
    summary = week.drop_duplicates("segment_value").set_index("segment_value")
    wide["Accounts"] = summary["segment_customers"]
    wide["Mean risk"] = summary["segment_mean_probability"] * 100
    wide["MRR"] = summary["segment_mrr"]
    wide["MRR at risk"] = week.groupby("segment_value")["mrr_at_risk"].sum()
    st.dataframe(
        wide.sort_values("Mean risk", ascending=False),
        width="stretch",
        column_config={
            "Mean risk": st.column_config.NumberColumn(format="%.1f%%"),
            "MRR": st.column_config.NumberColumn(format="$%.0f"),
            "MRR at risk": st.column_config.NumberColumn(format="$%.0f"),
        },
    )
