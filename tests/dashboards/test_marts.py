"""The marts on a real (small) pipeline run: they build empty before the first scoring, and
afterwards hold what the app shows; a CS action logged in the app reaches the features."""

from __future__ import annotations

import pandas as pd
import pytest
from dashboard_fixture import APP_ACTION_AT, LATEST, SCORED_MONDAYS

from warehouse.duckdb_warehouse import DuckDBWarehouse

pytestmark = pytest.mark.slow


def _q(app_data, sql: str, params=None) -> pd.DataFrame:
    return DuckDBWarehouse(app_data.settings.warehouse_file).query(sql, params)


def test_marts_build_empty_before_anything_is_scored(app_data):
    assert app_data.empty_marts_rows["at_risk_customers"] == 0
    assert app_data.empty_marts_rows["save_rate"] == 0
    assert app_data.empty_marts_rows["model_health"] == 1  # one row of nulls: 'not checked'


def test_at_risk_list_is_the_latest_week_of_active_customers(app_data):
    at_risk = _q(app_data, "select * from marts.at_risk_customers")
    assert set(pd.to_datetime(at_risk.as_of_date).dt.date) == {LATEST}
    assert at_risk.customer_id.is_unique
    churned = _q(app_data, "select customer_id from intermediate.int_customer_churn_dates")
    assert not set(at_risk.customer_id) & set(churned.customer_id)
    assert set(at_risk.risk_tier) == {"High", "Medium", "Low"}
    assert at_risk.driver_1.notna().all() and at_risk.account_owner.notna().all()
    assert at_risk.probability_change.notna().mean() > 0.9  # scored the week before too
    assert (at_risk.mrr_at_risk - at_risk.mrr * at_risk.churn_probability).abs().max() < 1e-6


def test_risk_trends_cover_every_week_segment_and_tier(app_data):
    trends = _q(app_data, "select * from marts.risk_trends")
    assert set(pd.to_datetime(trends.as_of_date).dt.date) == set(SCORED_MONDAYS)
    book = trends[trends.segment_type == "all"]
    scored = _q(
        app_data,
        "select as_of_date, count(*) as n from marts.customer_risk_history group by 1",
    )
    per_week = book.groupby("as_of_date").customers.sum()
    assert per_week.sort_index().tolist() == scored.set_index("as_of_date").n.sort_index().tolist()
    for segment in ("plan", "owner", "industry"):
        part = trends[trends.segment_type == segment]
        assert part.groupby("as_of_date").customers.sum().equals(per_week)


def test_tier_cutoffs_match_the_scoring_configuration(app_data):
    from models_ml.config import MLConfig

    tiers = MLConfig().tiers
    cutoffs = _q(app_data, "select * from marts.risk_tier_cutoffs")
    assert (cutoffs.high_min_probability >= tiers.high).all()
    assert (cutoffs.medium_min_probability >= tiers.medium).all()
    assert (cutoffs.low_max_probability < tiers.medium).all()


def test_save_rate_counts_only_passed_horizons(app_data):
    rates = _q(app_data, "select * from marts.save_rate")
    cases = _q(app_data, "select * from marts.high_risk_cases")
    # control customers were never on the list: the contacted-vs-not view leaves them out
    assert rates.high_risk_customers.sum() == (cases.holdout_group != "control").sum()
    passed = rates[(rates.horizon_passed_customers > 0) & (rates.compared_customers > 0)]
    assert not passed.empty, "November's High cases have passed their horizon"
    assert passed.save_rate.between(0, 1).all()
    late = rates[pd.to_datetime(rates.scoring_month) == pd.Timestamp("2025-12-01")]
    assert late.open_customers.sum() > 0, "Dec 22/29 cases are still open"


def test_app_action_reaches_staging_and_features(app_data):
    staged = _q(
        app_data,
        "select * from staging.stg_cs__actions where action_id = ?",
        [app_data.app_action_id],
    )
    assert staged.source_system.tolist() == ["app"]
    features = _q(
        app_data,
        "select cs_contacts_90d, days_since_last_cs_contact from features.customer_features "
        "where customer_id = ? and as_of_date = ?",
        [app_data.app_action_customer, LATEST],
    ).iloc[0]
    assert features.cs_contacts_90d >= 1
    assert features.days_since_last_cs_contact == (LATEST - APP_ACTION_AT.date()).days


def test_model_health_names_the_champion(app_data):
    health = _q(app_data, "select * from marts.model_health")
    assert len(health) == 1
    row = health.iloc[0]
    assert row.champion_version == "1" and pd.notna(row.champion_since)
    assert 0.5 < row.holdout_roc_auc <= 1
    assert pd.Timestamp(row.last_scored_as_of).date() == LATEST
    assert row.drift_status in {"ok", "warning", "severe"}
    performance = _q(app_data, "select * from marts.model_performance")
    assert not performance.empty and performance.roc_auc.between(0, 1).all()
    runs = _q(app_data, "select * from marts.recent_job_runs where job = 'score'")
    assert len(runs) == len(SCORED_MONDAYS)


def test_high_since_is_the_start_of_the_open_high_episode(app_data):
    at_risk = _q(app_data, "select * from marts.at_risk_customers").set_index("customer_id")
    episodes = _q(
        app_data, "select customer_id, episode_start from marts.high_risk_episodes where is_open"
    ).set_index("customer_id")
    high = at_risk[at_risk.risk_tier == "High"]
    assert at_risk.loc[at_risk.risk_tier != "High", "high_since"].isna().all()
    starts = pd.to_datetime(episodes.loc[high.index, "episode_start"])
    assert (pd.to_datetime(high.high_since) == starts).all()
    assert (pd.to_datetime(high.high_since) <= pd.to_datetime(high.as_of_date)).all()
    # four scored Mondays: some High accounts have been High since an earlier one
    assert (pd.to_datetime(high.high_since) < pd.Timestamp(LATEST)).any()
