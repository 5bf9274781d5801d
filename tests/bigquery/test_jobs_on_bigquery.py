"""The Python jobs with CHURN_TARGET=bigquery, against the emulator: the same code as locally.

Training reads `features.training_set` through the BigQuery gateway and records the promotion
in `ml.model_promotions`; the drift job samples the champion's training window in BigQuery and
writes `monitoring.*` there; the outcomes job reads predictions and labels from BigQuery.
Scoring itself runs inside BigQuery ML on this target, which no emulator runs: its SQL is
tested in test_bqml_sql.py / test_scoring_in_warehouse.py and live in test_bigframes_live.py;
here the week's predictions are written by the local scoring function through the gateway.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import models_ml
from flows.jobs import drift_job, outcomes_job
from models_ml.registry import CHAMPION, connect, load_alias
from models_ml.scoring import score_frame
from tests.models_ml.fixtures import (
    SCORE_AS_OF,
    TRAIN_AS_OF,
    make_settings,
    scoring_frame,
    small_config,
    training_frame,
)
from warehouse import get_warehouse
from warehouse.bigquery_warehouse import BigQueryWarehouse

PROJECT = "jobs-tests"  # a namespace of its own on the emulator


def test_train_drift_and_outcomes_run_on_bigquery(bq_emulator, tmp_path):
    settings = make_settings(
        tmp_path,
        target="bigquery",
        bigquery_project=PROJECT,
        bigquery_api_endpoint=bq_emulator.endpoint,
        bigquery_retry_seconds=5,
    )
    wh = get_warehouse(settings)
    assert isinstance(wh, BigQueryWarehouse)
    training = training_frame(customers=600)
    features = scoring_frame(training)
    wh.write_table(training, "features.training_set")
    wh.write_table(features, "features.customer_features")

    cfg = small_config()
    result = models_ml.train(TRAIN_AS_OF, settings=settings, cfg=cfg)
    assert result.promoted, result.reasons
    promotions = wh.read_table(cfg.promotions_table)
    assert promotions["alias"].eq(CHAMPION).any()

    drift = drift_job(SCORE_AS_OF, settings)
    assert drift.status in {"ok", "warning", "severe"}
    checks = wh.query(
        "select status, drift_share from monitoring.drift_checks where as_of_date = ?",
        [SCORE_AS_OF],
    )
    assert checks["status"].tolist() == [drift.status]
    assert checks["drift_share"].iloc[0] == drift.drift_share
    assert len(wh.read_table("monitoring.drift_features")) >= len(features.columns) - 3

    # last week's scores, as in-warehouse scoring would have written them
    loaded = load_alias(connect(settings.mlflow_uri), cfg.model_name, CHAMPION)
    week = training[training.as_of_date == training.as_of_date.max()].drop(columns="churned")
    scored = score_frame(
        week,
        loaded,
        cfg,
        week.as_of_date.iloc[0],
        "run",
        datetime.now(UTC).replace(tzinfo=None),
    )
    wh.replace_rows(scored, cfg.predictions_table, {"as_of_date": week.as_of_date.iloc[0]})
    outcomes = outcomes_job(SCORE_AS_OF, settings, min_auc=0.0)
    assert len(outcomes) >= 1
    stored = wh.read_table("monitoring.model_outcomes")
    assert stored["scored"].sum() == len(scored)


@pytest.mark.timeout(300)
def test_dbt_reaches_bigquery_from_the_settings_alone(bq_emulator, tmp_path, monkeypatch):
    """The flows' dbt runner passes the BigQuery settings to the profile (`dbt debug` opens a
    connection and runs a query), with none of them in the environment."""
    from flows.dbt_runner import run_dbt

    for name in ("PROJECT", "API_ENDPOINT", "TOKEN", "METHOD"):
        monkeypatch.delenv(f"CHURN_BIGQUERY_{name}", raising=False)
    settings = make_settings(
        tmp_path,
        target="bigquery",
        bigquery_project=PROJECT,
        bigquery_api_endpoint=bq_emulator.endpoint,
        bigquery_token="any-token",
    )
    # raises DbtRunError when dbt cannot connect; without the settings passed on, the profile
    # would point at Google's endpoint, which cannot be reached from here
    run_dbt(["debug"], settings)
