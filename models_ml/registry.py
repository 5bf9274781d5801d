"""The MLflow store: reach it, resolve aliases (never 'latest'), load a version.

Aliases (`champion`, `challenger`) replace the deprecated stages; a missing alias is a
normal state (no champion yet) and comes back as None, while an unreachable store is a
ModelError raised before any work is done.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.errors import ModelError
from models_ml.features import FeatureSchema

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to score."""

    name: str
    version: str
    run_id: str
    model: Pipeline
    schema: FeatureSchema


def connect(tracking_uri: str):
    """An MlflowClient on `tracking_uri` (tracking and registry), checked to answer."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _check_reachable(tracking_uri)
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc
    return client


def _check_reachable(uri: str) -> None:
    """Fail in seconds, not after MLflow's minutes of retries."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as response:
                if response.status >= 400:
                    raise OSError(f"HTTP {response.status}")
        except OSError as exc:
            raise _unreachable(uri, exc) from exc
    elif uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unreachable(uri, exc) from exc


def _unreachable(uri: str, exc: BaseException) -> ModelError:
    return ModelError(
        f"the MLflow store at {uri} cannot be reached ({type(exc).__name__}: {exc})",
        "start the MLflow server or fix CHURN_MLFLOW_TRACKING_URI; nothing was trained, "
        "promoted or scored",
    )


def alias_version(client, name: str, alias: str):
    """The ModelVersion behind `name@alias`, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def load_version(client, name: str, version: str) -> LoadedModel:
    """Load one registered version with the feature schema stored in its metadata."""
    import mlflow

    uri = f"models:/{name}/{version}"
    try:
        info = mlflow.models.get_model_info(uri)
        model = mlflow.sklearn.load_model(uri)
    except Exception as exc:
        raise ModelError(
            f"cannot load {name} version {version}: {exc}",
            "check the MLflow artifact store (data/mlartifacts by default) or roll back",
        ) from exc
    metadata = info.metadata or {}
    if "feature_schema" not in metadata:
        raise ModelError(
            f"{name} version {version} carries no feature schema",
            "retrain with `churn train`; only models trained by models_ml can be scored",
        )
    schema = FeatureSchema.from_dict(metadata["feature_schema"])
    signature = info.signature.inputs.input_names() if info.signature else list(schema.columns)
    if list(signature) != list(schema.columns):
        raise ModelError(
            f"{name} version {version}: signature and feature schema disagree",
            "retrain with `churn train`",
        )
    mv = client.get_model_version(name, version)
    return LoadedModel(name, str(version), mv.run_id, model, schema)


def load_alias(client, name: str, alias: str) -> LoadedModel:
    """Load `name@alias`; no such alias is a ModelError saying how to get one."""
    mv = alias_version(client, name, alias)
    if mv is None:
        raise ModelError(
            f"registered model {name!r} has no {alias!r} version yet",
            "train one with `churn train --as-of YYYY-MM-DD` (it is promoted when it passes "
            "the gates) or promote a version by hand with `churn promote --version N`",
        )
    return load_version(client, name, mv.version)


def run_artifact_frame(client, run_id: str, path: str) -> pd.DataFrame:
    """A parquet artifact of a run (the integration sample)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return pd.read_parquet(local)
