"""The MLflow store: reach it, resolve aliases (never 'latest'), load a version.

Aliases (`champion`, `challenger`) replace the deprecated stages; a missing alias is a
normal state (no champion yet) and comes back as None, while an unreachable store is a
ModelError raised before any work is done.

An alias move spans MLflow and the warehouse, so it is not one transaction. While one is in
flight the registered model carries a pending mark (tag `alias_move_pending`) naming the
version the alias pointed to before; `alias_version` answers with that version until the
move is recorded, so scoring and serving never see a move that may still be undone.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.errors import ModelError, VersionError
from models_ml.features import FeatureSchema

CHAMPION = "champion"
CHALLENGER = "challenger"
PENDING_TAG = "alias_move_pending"
ACCEPTED_VERSIONS = "a registered version number such as 3 (also written 03 or v3)"
_VERSION = re.compile(r"[vV]?([0-9]+)")


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to score."""

    name: str
    version: str
    run_id: str
    model: Pipeline
    schema: FeatureSchema


def _follow_moved_store(tracking_uri: str) -> None:
    """A local SQLite store keeps its artifacts beside it (`<data dir>/mlartifacts`): when the
    folder was moved or restored elsewhere, its recorded places are pointed here first."""
    from models_ml.tracking import ARTIFACTS_DIR, follow_store_at

    if not tracking_uri.startswith("sqlite:///"):
        return
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if db.is_file() and (db.parent / ARTIFACTS_DIR).is_dir():
        follow_store_at(db, db.parent / ARTIFACTS_DIR)


def connect(tracking_uri: str):
    """An MlflowClient on `tracking_uri` (tracking and registry), checked to answer."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _check_reachable(tracking_uri)
    import mlflow
    from mlflow import MlflowClient

    _follow_moved_store(tracking_uri)
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
    """The ModelVersion behind `name@alias` as last recorded, or None when the model or alias
    does not exist.

    While a move of this alias is in flight (see the module docstring) this is the version
    it replaces, so a reader never uses a version whose promotion may still be undone.
    """
    plan = pending_move(client, name)
    if plan is not None and plan.get("alias") == alias:
        before = plan.get("from")
        return None if before is None else client.get_model_version(name, str(before))
    return alias_target(client, name, alias)


def alias_target(client, name: str, alias: str):
    """Where `name@alias` points in MLflow right now, in flight or not (None when unset)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def pending_move(client, name: str) -> dict | None:
    """The plan of the alias move in flight on `name` (None when there is none)."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags or {}
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise
    text = tags.get(PENDING_TAG)
    if not text:
        return None
    try:
        plan = json.loads(text)
    except ValueError:
        return None  # not a mark this package wrote
    return plan if isinstance(plan, dict) and "alias" in plan else None


def parse_version(text: str | int) -> int:
    """The version number a person wrote: "2", "02" and "v2" are version 2.

    "latest" is refused rather than resolved: it names whatever was registered last (often a
    rejected challenger), and a promotion must say which model it makes champion. So are
    0, negative numbers and anything that is not a whole number. Whether the version is
    registered is checked against the registry by `registered_version`.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        number, shown = text, str(text)
    else:
        shown = " ".join(str(text).split())
        match = _VERSION.fullmatch(shown)
        if shown.lower() == "latest":
            raise VersionError(
                "'latest' is not accepted as a model version: it names whatever was registered "
                "last, which may be a rejected challenger",
                f"give {ACCEPTED_VERSIONS}; registered versions are listed in the MLflow UI",
            )
        if match is None:
            if len(shown) > 40:
                shown = shown[:37] + "..."
            raise VersionError(f"{shown!r} is not a model version", f"give {ACCEPTED_VERSIONS}")
        number = int(match.group(1))
    if number < 1:
        raise VersionError(
            f"{shown!r} is not a model version: versions start at 1", f"give {ACCEPTED_VERSIONS}"
        )
    return number


def registered_versions(client, name: str) -> list[int]:
    """Every version number registered under `name`, ascending ([] when none)."""
    quoted = name.replace("'", "\\'")
    found = client.search_model_versions(f"name = '{quoted}'")
    return sorted(int(mv.version) for mv in found if mv.name == name)


def registered_version(client, name: str, version: str | int):
    """The ModelVersion `version` of `name`, checked to exist and be ready to load."""
    from mlflow.exceptions import MlflowException

    number = parse_version(version)
    try:
        mv = client.get_model_version(name, str(number))
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise
        known = registered_versions(client, name)
        listed = ", ".join(map(str, known))
        raise VersionError(
            f"{name} has no version {number}",
            f"give one of the registered versions: {listed}"
            if known
            else "train one first with `churn train --as-of YYYY-MM-DD`",
        ) from exc
    status = str(getattr(mv, "status", "READY") or "READY")
    if status != "READY":
        raise VersionError(
            f"{name} version {number} is not ready to use (status {status})",
            "wait for its registration to finish, or pick another version",
        )
    return mv


def load_version(client, name: str, version: str) -> LoadedModel:
    """Load one registered version with the feature schema stored in its metadata."""
    import mlflow

    version = str(parse_version(version))  # "02" and 2 load version 2; "latest" never
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
