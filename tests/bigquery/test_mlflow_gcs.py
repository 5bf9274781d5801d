"""MLflow artifacts at a `gs://` location, against the local GCS emulator.

With `CHURN_GCS_ARTIFACT_ROOT` set, training creates the experiment under
`<root>/mlartifacts`: the model, its ONNX export and the plots land in the bucket, and the
registry loads the champion back from there to score (the local DuckDB warehouse stands in
for the features table: only the artifact store is under test).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import models_ml
from models_ml.registry import CHAMPION, connect, load_alias
from models_ml.tracking import artifact_root
from tests.models_ml.fixtures import SCORE_AS_OF, TRAIN_AS_OF, make_env

BUCKET = "churn-artifacts"
PREFIX = "churn"


@pytest.fixture
def gcs(gcs_emulator, monkeypatch):
    """A google-cloud-storage client on the emulator with an empty bucket; MLflow's gs://
    repository finds the emulator through the same STORAGE_EMULATOR_HOST (anonymous)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.endpoint)
    client = storage.Client(project="test-proj", credentials=AnonymousCredentials())
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        client.create_bucket(BUCKET)
    for blob in client.list_blobs(BUCKET):
        blob.delete()
    return client


def test_artifact_root_follows_settings(tmp_path):
    from tests.models_ml.fixtures import make_settings

    local = make_settings(tmp_path)
    assert artifact_root(local) == tmp_path / "mlartifacts"
    remote = make_settings(tmp_path, gcs_artifact_root="gs://b/churn/")
    assert artifact_root(remote) == "gs://b/churn/mlartifacts"


def test_training_writes_artifacts_to_gcs_and_the_champion_loads_back(gcs, tmp_path):
    world = make_env(tmp_path, customers=600)
    world.settings = world.settings.model_copy(
        update={"gcs_artifact_root": f"gs://{BUCKET}/{PREFIX}"}
    )
    result = models_ml.train(
        TRAIN_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    assert result.promoted, result.reasons

    client = connect(world.settings.mlflow_uri)
    experiment = client.get_experiment_by_name(world.cfg.experiment_name)
    assert experiment.artifact_location == f"gs://{BUCKET}/{PREFIX}/mlartifacts/churn"
    run = client.get_run(result.run_id)
    assert run.info.artifact_uri.startswith(f"gs://{BUCKET}/{PREFIX}/mlartifacts/churn/")

    names = {blob.name for blob in gcs.list_blobs(BUCKET, prefix=f"{PREFIX}/mlartifacts/")}
    run_prefix = f"{PREFIX}/mlartifacts/churn/{result.run_id}/artifacts/"
    assert f"{run_prefix}onnx/model.onnx" in names
    assert f"{run_prefix}checks/integration_sample.parquet" in names
    assert any(n.endswith("MLmodel") for n in names), sorted(names)[:20]
    assert not (tmp_path / "mlartifacts").exists()  # nothing fell back to the local folder

    # the registry loads the champion from the bucket, and it scores
    loaded = load_alias(client, world.cfg.model_name, CHAMPION)
    assert loaded.version == result.version
    from models_ml.features import prepare_inputs

    p = loaded.model.predict_proba(prepare_inputs(world.features, loaded.schema))[:, 1]
    assert np.all((p >= 0) & (p <= 1)) and p.std() > 0

    # the ONNX export downloads from GCS and parses
    import onnx

    local = client.download_artifacts(result.run_id, "onnx/model.onnx", str(tmp_path))
    graph = onnx.load(local).graph
    assert [i.name for i in graph.input] == list(loaded.schema.columns)

    # the scoring job (its MLflow run logs to the same gs:// experiment) works end to end
    scored = models_ml.score(
        SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    assert scored.rows == len(world.features)
    assert os.environ["STORAGE_EMULATOR_HOST"].startswith("http://127.0.0.1:")
