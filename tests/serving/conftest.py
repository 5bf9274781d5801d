"""Fixtures: one trained world (warehouse + MLflow store with a champion) shared by the
serving tests, and a client on an app that follows the champion every 0.2 s."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the repository root first, as tests/models_ml does (tests/ folders could shadow packages)
ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))

from tests.models_ml.fixtures import TRAIN_AS_OF, Env, make_env  # noqa: E402

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def world(tmp_path_factory, mlflow_template) -> Env:
    """A warehouse with customer features and a trained champion (version 1). Tests that
    move the alias put it back."""
    import models_ml

    env = make_env(tmp_path_factory.mktemp("serving"), mlflow_template, customers=800)
    models_ml.train(TRAIN_AS_OF, settings=env.settings, cfg=env.cfg, warehouse=env.warehouse)
    return env


@pytest.fixture
def empty_world(tmp_path, mlflow_template) -> Env:
    """A warehouse with features but no model at all."""
    return make_env(tmp_path, mlflow_template, customers=200)


def make_client(env: Env, **settings_overrides):
    """A TestClient (lifespan run: champion loaded, alias followed every 0.2 s)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServingConfig

    settings = env.settings.model_copy(update=settings_overrides)
    app = create_app(settings, env.cfg, ServingConfig(poll_seconds=0.2))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(world):
    with make_client(world) as c:
        yield c
