"""Model health: which model is champion and since when, how it did, the last job runs and
whether the features drifted."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.data import load, md, pct, published_caption, settings, setup_help

STATUS_COLORS = {"ok": "green", "warning": "orange", "severe": "red", "not checked": "gray"}
MIN_ROC_AUC = 0.70  # the outcomes job alerts below this ROC-AUC (flows.jobs.outcomes_job)

st.title("Model health")
health = load("model_health")
if health is None:
    setup_help("The app has no published data yet.")
assert health is not None
st.caption(published_caption())
row = health.iloc[0] if not health.empty else pd.Series(dtype=object)
if pd.isna(row.get("champion_version")):
    setup_help("No champion model yet: train one (`churn train`), score, rebuild and publish.")

since = pd.Timestamp(row["champion_since"])
c1, c2, c3, c4 = st.columns(4)
c1.metric("Champion", f"v{row['champion_version']}", help=md(row.get("champion_reason") or ""))
days = (pd.Timestamp.utcnow().tz_localize(None) - since).days
c1.caption(f"since {since:%Y-%m-%d %H:%M} UTC ({days} days)")
c2.metric(
    "Holdout ROC-AUC", f"{row['holdout_roc_auc']:.3f}" if pd.notna(row["holdout_roc_auc"]) else "–"
)
c2.caption(
    f"PR-AUC {row['holdout_pr_auc']:.3f} · Brier {row['holdout_brier']:.4f}"
    if pd.notna(row["holdout_pr_auc"])
    else ""
)
c3.metric(
    "Lift in top 10%",
    f"{row['holdout_lift_top_10']:.1f}×" if pd.notna(row["holdout_lift_top_10"]) else "–",
    help="Churn rate among the 10% riskiest accounts ÷ the overall churn rate (holdout)",
)
status = str(row["drift_status"])
c4.metric("Feature drift", status)
c4.badge(
    {"ok": "no action needed", "warning": "watch", "severe": "retrain"}.get(status, status),
    color=STATUS_COLORS.get(status, "gray"),
)
if pd.notna(row.get("drift_as_of")):
    c4.caption(
        f"{int(row['features_drifted'])} of {int(row['features_checked'])} features drifted "
        f"({pct(row['drift_share'])}), week of {pd.Timestamp(row['drift_as_of']):%Y-%m-%d}"
    )
if pd.notna(row.get("last_scored_as_of")):
    st.caption(
        f"Latest scores: week of {pd.Timestamp(row['last_scored_as_of']):%Y-%m-%d} by "
        f"v{row['last_scored_version']}, scored "
        f"{pd.Timestamp(row['last_scored_at']):%Y-%m-%d %H:%M} UTC"
        f" · champion moves so far: {int(row['champion_moves'])}"
    )

st.subheader("How the predictions did")
performance = load("model_performance")
if performance is None or performance.empty:
    st.info(
        "No outcomes yet: they come from the monthly outcomes job (`churn outcomes`), once a "
        f"scored month's {settings().churn_horizon_days}-day horizon has passed."
    )
else:
    performance["scoring_month"] = pd.to_datetime(performance["scoring_month"])
    left, right = st.columns(2)
    with left:
        st.markdown("**ROC-AUC per scoring month**")
        auc = (
            alt.Chart(performance)
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonth(scoring_month):T", title=None),
                y=alt.Y("roc_auc:Q", title="ROC-AUC", scale=alt.Scale(domain=[0.5, 1])),
                color=alt.Color("model_version:N", title="version"),
                tooltip=[
                    "scoring_month:T",
                    "model_version",
                    alt.Tooltip("roc_auc:Q", format=".3f"),
                    "scored",
                    "churned",
                ],
            )
        )
        rule = (
            alt.Chart(pd.DataFrame({"y": [MIN_ROC_AUC]}))
            .mark_rule(strokeDash=[4, 4], color="#c0392b")
            .encode(y="y:Q")
        )
        st.altair_chart((auc + rule).properties(height=240), width="stretch")
        st.caption(f"Dashed line: the outcomes job alerts below ROC-AUC {MIN_ROC_AUC:.2f}.")
    with right:
        st.markdown("**Predicted vs observed churn rate**")
        calib = performance.melt(
            id_vars=["scoring_month", "model_version"],
            value_vars=["mean_probability", "observed_rate"],
            var_name="rate",
        )
        calib["rate"] = calib["rate"].map(
            {"mean_probability": "predicted (mean risk)", "observed_rate": "observed"}
        )
        st.altair_chart(
            alt.Chart(calib)
            .mark_bar()
            .encode(
                x=alt.X("yearmonth(scoring_month):O", title=None),
                xOffset="rate:N",
                y=alt.Y(
                    "value:Q",
                    title=f"{settings().churn_horizon_days}-day churn rate",
                    axis=alt.Axis(format="%"),
                ),
                color=alt.Color(
                    "rate:N",
                    title=None,
                    scale=alt.Scale(
                        domain=["predicted (mean risk)", "observed"],
                        range=["#2874a6", "#aab7b8"],
                    ),
                ),
                tooltip=[
                    "yearmonth(scoring_month):O",
                    "rate",
                    alt.Tooltip("value:Q", format=".2%"),
                ],
            )
            .properties(height=240),
            width="stretch",
        )
    shown = performance.sort_values("scoring_month", ascending=False)
    st.dataframe(
        pd.DataFrame(
            {
                "Month scored": shown["scoring_month"].dt.strftime("%Y-%m"),
                "Version": shown["model_version"],
                "Predictions": shown["scored"],
                "Churned": shown["churned"],
                "ROC-AUC": shown["roc_auc"],
                "High: share that churned": shown["precision_high"] * 100,
                "Churners caught in High": shown["recall_high"] * 100,
                "Lift of High": shown["lift_high"],
                "Observed rate": shown["observed_rate"] * 100,
                "Predicted rate": shown["mean_probability"] * 100,
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "ROC-AUC": st.column_config.NumberColumn(format="%.3f"),
            "High: share that churned": st.column_config.NumberColumn(format="%.0f%%"),
            "Churners caught in High": st.column_config.NumberColumn(format="%.0f%%"),
            "Lift of High": st.column_config.NumberColumn(format="%.1f×"),
            "Observed rate": st.column_config.NumberColumn(format="%.1f%%"),
            "Predicted rate": st.column_config.NumberColumn(format="%.1f%%"),
        },
    )

st.subheader("Last job runs")
runs = load("recent_job_runs")
if runs is None or runs.empty:
    st.info("No job runs recorded yet (monitoring.job_runs).")
else:
    latest = runs[runs["recency"] == 1].sort_values("finished_at", ascending=False)
    cols = st.columns(max(len(latest), 1))
    for col, run in zip(cols, latest.itertuples(), strict=False):
        col.metric(md(run.job), run.status)
        col.caption(
            f"as of {pd.Timestamp(run.as_of_date):%Y-%m-%d} · finished "
            f"{pd.Timestamp(run.finished_at):%Y-%m-%d %H:%M} UTC"
        )
    with st.expander("All recent runs"):
        st.dataframe(
            runs.sort_values("finished_at", ascending=False)[
                ["job", "status", "as_of_date", "finished_at", "detail"]
            ],
            hide_index=True,
            width="stretch",
        )

st.subheader("Feature drift")
drift = load("drift_history")
if drift is None or drift.empty:
    st.info(
        "No drift check yet: the daily drift job (`churn drift`) writes monitoring.drift_checks."
    )
else:
    drift["as_of_date"] = pd.to_datetime(drift["as_of_date"])
    st.altair_chart(
        alt.Chart(drift)
        .mark_bar(size=32)
        .encode(
            x=alt.X(
                "yearmonthdate(as_of_date):O",
                title="features snapshot checked",
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("drift_share:Q", title="features drifted", axis=alt.Axis(format="%")),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(
                    domain=["ok", "warning", "severe"], range=["#27ae60", "#e67e22", "#c0392b"]
                ),
            ),
            tooltip=["as_of_date:T", "status", "features_drifted", "features_checked"],
        )
        .properties(height=200),
        width="stretch",
    )

st.subheader("Control group")
cases = load("high_risk_cases")
control = cases[cases["holdout_group"] == "control"] if cases is not None else pd.DataFrame()
if control.empty:
    st.info("No High-risk customer has been kept off the CS list yet.")
else:
    st.caption(
        "Customers newly High kept off the CS list for that episode, so that the Save rate "
        "page can compare them with the listed ones. Shown here only: contacting them would "
        "spoil the measurement."
    )
    shown = control.sort_values(["scoring_month", "flagged_date"], ascending=False)
    st.dataframe(
        shown[
            [
                "customer_id",
                "scoring_month",
                "flagged_date",
                "cs_contacted",
                "horizon_passed",
                "still_active_at_horizon",
            ]
        ],
        column_config={
            "customer_id": "Customer",
            "scoring_month": st.column_config.DateColumn("Month", format="YYYY-MM"),
            "flagged_date": st.column_config.DateColumn("High since"),
            "cs_contacted": "Contacted anyway",
            "horizon_passed": "Horizon passed",
            "still_active_at_horizon": "Still active",
        },
        hide_index=True,
        width="stretch",
    )
