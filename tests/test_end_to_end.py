"""The foundation, run as a user runs it: simulate -> release -> ingest -> dbt build.

Real parts only: the simulator's files, dlt into a DuckDB file, dbt-duckdb with every data
test and unit test. Small (1,000 customers) so that it stays a couple of minutes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import ingestion
from flows.report import layer_rows
from tests.pipeline_fixture import END, SCORED
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(pipeline_base: Settings) -> Settings:
    return pipeline_base


def _count(settings: Settings, table: str) -> int:
    return int(
        DuckDBWarehouse(settings.warehouse_file).query(f"select count(*) from {table}").iloc[0, 0]
    )


def test_every_layer_has_rows(built: Settings) -> None:
    layers = {layer: rows for layer, _, rows in layer_rows(built)}
    for layer in ("raw", "staging", "intermediate", "features"):
        assert layers.get(layer, 0) > 0, f"layer {layer} is empty: {layers}"


def test_features_cover_active_customers_weekly(built: Settings) -> None:
    wh = DuckDBWarehouse(built.warehouse_file)
    snapshots = wh.query(
        "select as_of_date, count(*) as n from features.customer_features group by 1 order by 1"
    )
    assert len(snapshots) >= 52, "two years of data should give at least a year of weekly snapshots"
    assert (snapshots.n > 100).all()
    assert all(d.weekday() == 0 for d in snapshots.as_of_date), "as_of_date must be Mondays"
    features = wh.query("select * from features.customer_features limit 1").columns
    assert len(set(features) - {"customer_id", "as_of_date"}) >= 25


def test_training_set_labels_are_plausible(built: Settings) -> None:
    wh = DuckDBWarehouse(built.warehouse_file)
    stats = wh.query(
        "select avg(churned::int) as rate, max(as_of_date) as last from features.training_set"
    ).iloc[0]
    assert 0.005 < stats.rate < 0.25, f"28-day churn rate {stats.rate} is implausible"
    assert pd.Timestamp(stats["last"]).date() <= END - timedelta(days=built.churn_horizon_days)


def test_champion_scores_every_active_customer_with_drivers(built: Settings) -> None:
    wh = DuckDBWarehouse(built.warehouse_file)
    for monday in SCORED:
        active = wh.query(
            "select count(*) as n from features.customer_features where as_of_date = ?", [monday]
        ).n[0]
        batch = wh.query("select * from ml.churn_predictions where as_of_date = ?", [monday])
        assert len(batch) == active > 0
        assert batch.customer_id.is_unique
        assert set(batch.risk_tier) <= {"High", "Medium", "Low"}
        assert batch.churn_probability.between(0, 1).all()
        high = batch[batch.risk_tier == "High"]
        assert len(high) > 0 and high.driver_1.notna().all()


def test_reingest_with_nothing_new_adds_no_rows(built: Settings) -> None:
    tables = ["raw.usage_events", "raw.crm_customers", "raw.zendesk_tickets", "raw.stripe_events"]
    before = {t: _count(built, t) for t in tables}
    ingestion.run(settings=built)
    after = {t: _count(built, t) for t in tables}
    assert before == after


def test_raw_keeps_dirty_rows_and_staging_flags_them(built: Settings) -> None:
    raw = _count(built, "raw.usage_events")
    staged = _count(built, "staging.stg_usage__events")
    assert raw > staged > 0.9 * raw, "staging dedups a little, raw keeps every delivered row"
    assert Path(built.warehouse_file).exists()
