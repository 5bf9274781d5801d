"""A synthetic warehouse for models_ml tests: contract columns, a dozen+ features of every
kind (counts, ratios, NaNs, a nullable boolean, text categories with nulls) and a real
signal, written through the warehouse gateway into a temp DuckDB file."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from bench.synthetic import features_only, make_training_set
from models_ml.config import Candidates, MLConfig
from warehouse import Settings, get_warehouse

START = date(2024, 1, 1)
WEEKS = 18
LAST_SNAPSHOT = START + timedelta(days=7 * (WEEKS - 1))
TRAIN_AS_OF = LAST_SNAPSHOT + timedelta(days=28)  # every label complete
SCORE_AS_OF = TRAIN_AS_OF + timedelta(days=7)


@dataclass
class Env:
    """Settings, config and warehouse of one test world."""

    settings: Settings
    cfg: MLConfig
    warehouse: object
    training: pd.DataFrame
    features: pd.DataFrame


def make_settings(root: Path, mlflow_template: Path | None = None, **extra) -> Settings:
    """Settings pointing at tmp paths only (no .env). A copy of a migrated MLflow database
    saves the ~10 s MLflow spends creating a new one."""
    db = root / "mlflow.db"
    if mlflow_template is not None and not db.exists():
        shutil.copy(mlflow_template, db)
    values = {"data_dir": root, "mlflow_tracking_uri": f"sqlite:///{db.resolve()}"}
    return Settings(_env_file=None, **{**values, **extra})


def small_config(**overrides) -> MLConfig:
    """Few iterations so the suite stays fast."""
    candidates = Candidates(hgb_max_iter=60, hgb_learning_rate=0.15)
    return MLConfig(_env_file=None, candidates=candidates, integration_sample_rows=300, **overrides)


def training_frame(customers: int = 1200, seed: int = 0) -> pd.DataFrame:
    """The synthetic training set (label `churned`)."""
    return make_training_set(customers, WEEKS, seed=seed, start=START)


def scoring_frame(training: pd.DataFrame, as_of: date = SCORE_AS_OF, seed: int = 5):
    """customer_features at `as_of`: the customers still active, with fresh features."""
    fresh = features_only(
        make_training_set(training["customer_id"].nunique(), 1, seed=seed, start=as_of)
    )
    gone = set(training.loc[training["churned"], "customer_id"])
    return fresh[~fresh["customer_id"].isin(gone)].reset_index(drop=True)


def make_env(
    root: Path,
    mlflow_template: Path | None = None,
    customers: int = 1200,
    seed: int = 0,
    **cfg_overrides,
) -> Env:
    """Write features.training_set and features.customer_features into a temp warehouse."""
    settings = make_settings(root, mlflow_template)
    wh = get_warehouse(settings)
    training = training_frame(customers, seed)
    features = scoring_frame(training)
    wh.write_table(training, "features.training_set")
    wh.write_table(pd.concat([features_only(training), features]), "features.customer_features")
    return Env(settings, small_config(**cfg_overrides), wh, training, features)


def client_for(settings: Settings):
    """An MlflowClient on this world's store, registry included (the default registry URI is
    process-global and may point at another test's store)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
