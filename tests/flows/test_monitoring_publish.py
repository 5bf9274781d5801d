"""The app's Model health is current: the drift and outcomes jobs rebuild the marts they feed
and publish the app's snapshot, so the app shows this week's check, not the week before.
Real DuckDB, dbt and MLflow on a copy of the small pipeline."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dashboards.snapshot import read_app_table
from tests.pipeline_fixture import SCORED, copy_pipeline
from warehouse.settings import Settings

pytestmark = pytest.mark.slow
# a Monday whose 28-day horizon ended inside the data (ends 2026-01-01): its outcome is known
LABELLED = date(2025, 11, 3)


def _months(frame: pd.DataFrame | None, column: str) -> set[date]:
    if frame is None:
        return set()
    return {pd.Timestamp(d).date() for d in frame[column].dropna()}


def test_drift_and_outcomes_reach_the_published_snapshot(
    pipeline_base: Settings, tmp_path: Path
) -> None:
    from flows.jobs import drift_job, outcomes_job, score_job, transform_job

    settings = copy_pipeline(pipeline_base, tmp_path / "data")
    score_job(LABELLED, settings)
    transform_job(SCORED[-1], settings, marts=True)  # what the scoring run publishes
    assert not _months(read_app_table("drift_history", settings), "as_of_date")
    assert not _months(read_app_table("model_performance", settings), "scoring_month")

    drift = drift_job(SCORED[-1], settings)
    published = read_app_table("drift_history", settings)
    assert _months(published, "as_of_date") == {SCORED[-1]}
    health = read_app_table("model_health", settings)
    assert health is not None and list(health["drift_status"]) == [drift.status]

    outcomes = outcomes_job(SCORED[-1], settings)
    assert not outcomes.empty, "the labelled Monday has an outcome"
    performance = read_app_table("model_performance", settings)
    assert _months(performance, "scoring_month") == {LABELLED.replace(day=1)}
    assert set(performance["model_version"].astype(str)) == set(
        outcomes["model_version"].astype(str)
    )
