"""The weekly loop under faults: each failing step stops the loop, alerts, fails naming the
step and leaves the warehouse, the champion and the last predictions as they were; a rerun
after the fix completes without duplicates. Real Prefect (ephemeral API), DuckDB, MLflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.common import StepFailed
from tests.flows.webhook import slack_webhook
from tests.pipeline_fixture import SCORED, copy_pipeline
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.settings import Settings, get_settings

pytestmark = pytest.mark.slow
WEEK = SCORED[-1]


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=240):
        yield


@pytest.fixture
def loop(pipeline_base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of the pipeline, made the process settings, with a recording webhook."""
    settings = copy_pipeline(pipeline_base, tmp_path / "data")
    with slack_webhook() as (url, recorder):
        monkeypatch.setenv("CHURN_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("CHURN_SLACK_WEBHOOK_URL", url)
        monkeypatch.setenv("CHURN_INGESTION_HTTP_MAX_RETRIES", "1")
        get_settings.cache_clear()
        yield get_settings(), recorder
    get_settings.cache_clear()


def _state(settings: Settings) -> dict:
    """What must not change when a step fails."""
    import models_ml

    wh = DuckDBWarehouse(settings.warehouse_file)
    predictions = wh.query(
        "select as_of_date, model_version, count(*) as n, round(sum(churn_probability), 6) as p "
        "from ml.churn_predictions group by all order by all"
    )
    raw = {
        t: int(wh.query(f"select count(*) from raw.{t}").iloc[0, 0])
        for t in ("usage_events", "stripe_events", "zendesk_tickets", "crm_customers")
    }
    return {
        "predictions": predictions.to_dict("records"),
        "raw": raw,
        "champion": models_ml.load_champion(settings=settings).version,
    }


def _alerts(recorder, event: str) -> list[str]:
    return [t for t in recorder.texts() if f"`{event}`" in t]


def test_source_down_stops_at_ingest_via_cli(loop, monkeypatch) -> None:
    from flows.cli import app

    settings, recorder = loop
    before = _state(settings)
    monkeypatch.setenv("CHURN_ZENDESK_BASE_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["weekly", "--as-of", str(WEEK), "--no-train"])
    assert result.exit_code == 1
    assert "step 'ingest' failed" in result.output
    assert "zendesk" in result.output.lower()
    (alert,) = _alerts(recorder, "job_failed")
    assert "ingest" in alert
    monkeypatch.delenv("CHURN_ZENDESK_BASE_URL")
    get_settings.cache_clear()
    assert _state(settings) == before


def test_dbt_test_failing_stops_at_transform(loop) -> None:
    from flows.flows import weekly_flow

    settings, recorder = loop
    before = _state(settings)
    bad = {
        "object": {
            "id": "sub_bad",
            "object": "subscription",
            "customer": "cus_x",
            "status": "active",
            "created": 1766000000,
            "quantity": 3,
            "plan": {"id": "p", "interval": "week", "amount": 100, "nickname": "growth"},
        }
    }
    with DuckDBWarehouse(settings.warehouse_file).connect(read_only=False) as con:
        con.execute(
            "insert into raw.stripe_events (id, object, type, created, data, _loaded_at, "
            "_load_id, _dlt_load_id, _dlt_id) values ('evt_bad', 'event', "
            "'customer.subscription.updated', 1766000000, ?, now()::timestamp, 'test', 'test', "
            "'evt_bad')",
            [json.dumps(bad)],
        )
    with pytest.raises(StepFailed, match="step 'transform' failed") as failure:
        weekly_flow(as_of=WEEK, train=False)
    assert "interval" in str(failure.value)  # the failing test names the column
    assert _alerts(recorder, "job_failed")
    after = _state(settings)
    assert after["predictions"] == before["predictions"]
    assert after["champion"] == before["champion"]


def test_training_rejected_keeps_the_champion(loop, monkeypatch) -> None:
    from flows.flows import train_flow

    settings, recorder = loop
    before = _state(settings)
    monkeypatch.setenv("CHURN_ML_THRESHOLDS", '{"min_roc_auc": 0.999}')
    with pytest.raises(StepFailed, match="step 'train' failed.*min_roc_auc|step 'train' failed"):
        train_flow(as_of=WEEK)
    assert _alerts(recorder, "model_rejected")
    assert _state(settings) == before


def test_scoring_crash_leaves_last_predictions(loop, monkeypatch) -> None:
    from flows.flows import score_flow
    from models_ml.scoring import local as scoring

    settings, recorder = loop
    before = _state(settings)

    def crash(*args, **kwargs):
        raise MemoryError("simulated crash half-way through scoring")

    monkeypatch.setattr(scoring, "top_drivers", crash)
    with pytest.raises(StepFailed, match="step 'score' failed"):
        score_flow(as_of=WEEK)
    assert _alerts(recorder, "job_failed")
    assert _state(settings) == before
    monkeypatch.undo()
    monkeypatch.setenv("CHURN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CHURN_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/down")
    get_settings.cache_clear()
    # the webhook is down now: scoring completes, then the notify step fails, naming it
    with pytest.raises(StepFailed, match="step 'score: notify' failed"):
        score_flow(as_of=WEEK)
    monkeypatch.delenv("CHURN_SLACK_WEBHOOK_URL")
    get_settings.cache_clear()
    tiers = score_flow(as_of=WEEK)  # rerun after the fix
    assert sum(tiers.values()) > 0
    after = _state(settings)
    batch = [p for p in after["predictions"] if pd.Timestamp(p["as_of_date"]) == pd.Timestamp(WEEK)]
    assert len(batch) == 1 and batch[0]["n"] == sum(tiers.values())  # replaced, not duplicated


def test_full_weekly_loop_then_rerun_without_duplicates(loop) -> None:
    from flows.flows import weekly_flow

    settings, recorder = loop
    result = weekly_flow(as_of=WEEK, train=False, retrain_on_severe_drift=False)
    assert result["drift"] in {"ok", "warning", "severe"}
    first = _state(settings)
    weekly_flow(as_of=WEEK, train=False, retrain_on_severe_drift=False)
    assert _state(settings) == first
    assert len(_alerts(recorder, "scoring_done")) == 2
