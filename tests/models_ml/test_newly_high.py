"""One definition of "newly High" (models_ml/monitoring/newly_high.py), for the scoring alert
and the CS app alike."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from models_ml.monitoring.newly_high import newly_high, newly_high_customers
from warehouse.duckdb_warehouse import DuckDBWarehouse

WEEK, LAST, EARLIER = date(2025, 12, 29), date(2025, 12, 22), date(2025, 12, 15)


def _row(customer: str, as_of: date, tier: str, version: str = "1", hour: int = 2) -> dict:
    return {
        "customer_id": customer,
        "as_of_date": as_of,
        "model_version": version,
        "risk_tier": tier,
        "scored_at": datetime(as_of.year, as_of.month, as_of.day, hour),
    }


def test_a_customer_never_scored_before_counts_as_newly_high() -> None:
    now = pd.Series(["High", "High", "High", "Medium", "Low"])
    before = pd.Series(["Medium", "High", None, None, "High"])
    assert newly_high(now, before).tolist() == [True, False, True, False, False]


def test_the_alert_reads_the_previous_scored_week_and_the_latest_batch(tmp_path) -> None:
    rows = [
        _row("A", LAST, "Medium"),
        _row("A", WEEK, "High"),  # up from Medium: newly High
        _row("B", LAST, "High"),
        _row("B", WEEK, "High"),  # High both weeks
        _row("C", WEEK, "High"),  # first score: newly High
        _row("D", EARLIER, "High"),
        _row("D", WEEK, "High"),  # not scored last week, High the week before: not new
        _row("E", WEEK, "High", version="1", hour=2),
        _row("E", WEEK, "Medium", version="2", hour=5),  # rescored later this week: Medium
        _row("F", LAST, "High", version="1", hour=2),
        _row("F", LAST, "Low", version="2", hour=5),  # last week's latest batch said Low
        _row("F", WEEK, "High"),
        _row("G", date(2026, 1, 5), "High"),  # a later week is not this week
    ]
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    wh.write_table(pd.DataFrame(rows), "ml.churn_predictions")
    assert newly_high_customers(wh, WEEK, "ml.churn_predictions") == ["A", "C", "F"]
