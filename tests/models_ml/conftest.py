"""Fixtures: a migrated MLflow database to copy, fresh worlds, and one trained champion."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# pytest puts tests/ (and this folder) on sys.path, where tests/models_ml could shadow the real
# package as a namespace package: put the repository root first, as tests/ingestion does.
ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))
for name in [m for m in sys.modules if m == "models_ml" or m.startswith("models_ml.")]:
    if getattr(sys.modules[name], "__file__", None) is None:
        del sys.modules[name]

from tests.models_ml.fixtures import TRAIN_AS_OF, Env, make_env  # noqa: E402

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture
def env(tmp_path, mlflow_template) -> Env:
    """A world with a training set and customer features, no model yet."""
    return make_env(tmp_path, mlflow_template)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, mlflow_template):
    """A world whose first model was trained and promoted (read-only for tests: do not move
    its aliases)."""
    import models_ml

    world = make_env(tmp_path_factory.mktemp("trained"), mlflow_template)
    result = models_ml.train(
        TRAIN_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    return world, result
