"""Shared pytest set-up: quiet, offline tools and per-test settings pointing at tmp paths."""

from __future__ import annotations

import os

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("CHURN_RETRY_DELAY_SECONDS", "0")

import pytest  # noqa: E402

from warehouse.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def pipeline_base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The small real pipeline, built once (see tests/pipeline_fixture.py). Read-only use."""
    from tests.pipeline_fixture import build_pipeline

    return build_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory):
    """An empty, migrated MLflow SQLite store, for tests to copy (creating one costs ~10 s)."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db
