"""One small warehouse for every dashboard test, built once per session as a user builds it.

simulate (1,000 customers) -> release -> ingest -> dbt build (marts build empty: nothing is
scored yet) -> a CS action logged in the app -> ingest it -> rebuild what reads CS actions ->
train -> score four Mondays -> outcomes + drift -> dbt build the marts -> publish the snapshot.
Every step gets `Settings(data_dir=tmp)` explicitly.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dashboard_fixture import APP_ACTION_AT, END, LATEST, SCORED_MONDAYS, START, TRAIN_AS_OF


@dataclass
class AppData:
    """The built warehouse and what the tests need to know about it."""

    settings: object
    empty_snapshot: Path
    empty_marts_rows: dict[str, int]
    app_action_id: str
    app_action_customer: str
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="session")
def app_data(tmp_path_factory: pytest.TempPathFactory) -> AppData:
    import ingestion
    import models_ml
    import simulator
    from dashboards.cs_actions_store import CsAction, record_action
    from dashboards.snapshot import publish_app_snapshot
    from flows.dbt_runner import run_dbt
    from flows.jobs import drift_job, outcomes_job, score_job
    from warehouse.duckdb_warehouse import DuckDBWarehouse
    from warehouse.settings import Settings

    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    data = tmp_path_factory.mktemp("app_data")
    settings = Settings(data_dir=data)
    timings: dict[str, float] = {}

    def step(name, func, *args, **kwargs):  # noqa: ANN001, ANN202 - local timer
        started = time.perf_counter()
        result = func(*args, **kwargs)
        timings[name] = round(time.perf_counter() - started, 1)
        return result

    step(
        "simulate",
        simulator.generate,
        customers=1_000,
        seed=7,
        start=START,
        end=END,
        out=data / "sim",
    )
    step(
        "release",
        simulator.release,
        as_of=END,
        sim=data / "sim",
        out=settings.sources_path,
        customer_db_url=settings.customer_db,
    )
    step("ingest", ingestion.run, settings=settings)
    # no predictions, no monitoring rows, no app store yet: the whole project must still build
    step("dbt build", run_dbt, ["build"], settings)
    wh = DuckDBWarehouse(settings.warehouse_file)
    empty_rows = {
        t: int(wh.query(f"select count(*) from marts.{t}").iloc[0, 0])
        for t in ("at_risk_customers", "risk_trends", "save_rate", "model_health")
    }
    empty_snapshot = data / "empty" / "marts.duckdb"
    publish_app_snapshot(settings.model_copy(update={"app_snapshot_path": empty_snapshot}))

    # a CS action logged in the app before the Monday run reaches staging and the features
    customer = str(
        wh.query(
            "select customer_id from features.customer_features where as_of_date = ? "
            "order by customer_id limit 1",
            [LATEST],
        ).iloc[0, 0]
    )
    action_id = record_action(
        CsAction(
            customer,
            "contacted",
            "Test Manager",
            "pending",
            "called about renewal",
            action_at=APP_ACTION_AT,
        ),
        settings,
    )
    step("ingest app actions", ingestion.run, sources=["app_actions"], settings=settings)
    step(
        "dbt rebuild cs actions",
        run_dbt,
        ["build", "--select", "stg_cs__actions+", "--exclude", "tag:marts"],
        settings,
    )

    step("train", models_ml.train, TRAIN_AS_OF, settings=settings)
    for monday in SCORED_MONDAYS:
        step(f"score {monday}", score_job, monday, settings)
    step("outcomes", outcomes_job, END, settings)
    step("drift", drift_job, LATEST, settings)
    step("dbt marts", run_dbt, ["build", "--select", "tag:marts"], settings)
    step("publish", publish_app_snapshot, settings)
    print(f"\napp_data built in {data}: {timings}")
    return AppData(settings, empty_snapshot, empty_rows, action_id, customer, timings)


@pytest.fixture()
def app_env(app_data: AppData, monkeypatch: pytest.MonkeyPatch) -> AppData:
    """Point the app (which reads Settings() from the environment) at the built data."""
    monkeypatch.setenv("CHURN_DATA_DIR", str(app_data.settings.data_dir))
    monkeypatch.delenv("CHURN_APP_SNAPSHOT_PATH", raising=False)
    monkeypatch.delenv("CHURN_APP_ACTIONS_DB_URL", raising=False)
    return app_data
