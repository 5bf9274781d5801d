"""Live smoke test of in-warehouse scoring on real BigQuery (bigframes + BigQuery ML).

bigframes and BigQuery ML cannot run against any emulator, so this runs only when BigQuery
credentials are present, and is reported as not run otherwise (`pytest -ra` lists the
reason). It needs:
  CHURN_BIGQUERY_PROJECT      a project with the `features` and `ml` datasets built by dbt
  CHURN_GCS_ARTIFACT_ROOT     gs://bucket/prefix the test may write an ONNX file under
  credentials                 GOOGLE_APPLICATION_CREDENTIALS, gcloud ADC, or CHURN_BIGQUERY_TOKEN
Optional: CHURN_BIGQUERY_LOCATION (default US).

It reads a few rows of features.training_set through bigframes, fits the linear candidate on
them, imports its ONNX export as a BigQuery ML model, scores through bigframes' ONNXModel and
through the generated prediction query (tiers and drivers computed in BigQuery), compares
with scikit-learn, and drops the model. It writes nothing to ml.churn_predictions.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ADC = Path.home() / ".config" / "gcloud" / "application_default_credentials.json"


def _why_not_run() -> str | None:
    if not os.environ.get("CHURN_BIGQUERY_PROJECT"):
        return "not run: no BigQuery credentials (CHURN_BIGQUERY_PROJECT is not set)"
    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    has_credentials = (
        (key and Path(key).is_file()) or ADC.is_file() or os.environ.get("CHURN_BIGQUERY_TOKEN")
    )
    if not has_credentials:
        return (
            "not run: no BigQuery credentials (set GOOGLE_APPLICATION_CREDENTIALS, run "
            "`gcloud auth application-default login`, or set CHURN_BIGQUERY_TOKEN)"
        )
    root = os.environ.get("CHURN_GCS_ARTIFACT_ROOT", "")
    if not root.startswith("gs://"):
        return "not run: CHURN_GCS_ARTIFACT_ROOT (gs://bucket/prefix) is not set"
    return None


pytestmark = pytest.mark.skipif(_why_not_run() is not None, reason=_why_not_run() or "")


def test_bigframes_imports_the_onnx_model_and_scores_in_bigquery():
    import bigframes

    from models_ml.candidates import fit_candidate
    from models_ml.config import MLConfig
    from models_ml.features import infer_schema, prepare_inputs
    from models_ml.onnx_export import to_onnx
    from models_ml.scoring import bigquery as bqml
    from models_ml.scoring.bigquery import probability_output, scoring_spec
    from warehouse import Settings
    from warehouse.bigquery_warehouse import BigQueryWarehouse

    settings = Settings(_env_file=None)
    cfg = MLConfig(_env_file=None)
    warehouse = BigQueryWarehouse(settings)
    project = warehouse.project
    client = warehouse.client
    session = bigframes.connect(warehouse.bigframes_options())
    model_ref = None
    try:
        # a few rows of the training set, through bigframes
        table = f"`{project}.{cfg.training_table}`"
        frame = session.read_gbq(
            f"SELECT * FROM {table} WHERE {cfg.date_column} = "
            f"(SELECT MAX({cfg.date_column}) FROM {table}) LIMIT 3000"
        ).to_pandas()
        assert len(frame) > 50, f"{cfg.training_table} has too few rows for the smoke test"
        labels = frame[cfg.label_column].astype(bool).to_numpy(dtype=int)
        assert 0 < labels.sum() < len(labels), "the sample needs both classes"
        named = [cfg.id_column, cfg.date_column, cfg.label_column]
        schema = infer_schema(frame, named)
        X = prepare_inputs(frame, schema)
        half = len(X) // 2
        model = fit_candidate(
            "logreg", X[:half], labels[:half], X[half:], labels[half:], schema, cfg.candidates
        )
        graph = to_onnx(model, schema)

        version = f"smoke_{uuid.uuid4().hex[:8]}"
        as_of = pd.Timestamp(frame[cfg.date_column].iloc[0]).date()
        spec = scoring_spec(
            model,
            schema,
            cfg.model_copy(update={"features_table": cfg.training_table}),
            project=project,
            model_name="churn-smoke",
            model_version=version,
            run_id=uuid.uuid4().hex,
            as_of=as_of,
            scored_at=datetime.now(UTC).replace(tzinfo=None),
            output=probability_output(graph),
        )
        path = bqml.gcs_model_uri(settings.gcs_artifact_root, "churn-smoke", version)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.onnx"
            local.write_bytes(graph.SerializeToString())
            bqml.upload_file(local, path, project)
        config = bqml.job_config(settings)
        model_ref = f"{project}.{spec.model_id}"
        client.query(
            bqml.create_model_sql(project, spec.model_id, path), job_config=config
        ).result()

        # bigframes: the imported model as an ONNXModel, predicting over the inputs at as_of
        predicted = bqml.predict_frame(session, spec, model_ref).to_pandas()
        p = np.asarray([row[spec.positive_index] for row in predicted[spec.probability_output]])
        assert len(p) > 0 and np.all((p >= 0) & (p <= 1))
        ids = predicted[cfg.id_column].astype(str)
        at = frame[pd.to_datetime(frame[cfg.date_column]).dt.date == as_of]
        at = at.set_index(at[cfg.id_column].astype(str))
        expected = model.predict_proba(prepare_inputs(at.loc[ids], schema))[:, 1]
        np.testing.assert_allclose(p, expected, atol=1e-4)

        # the generated prediction query (tiers, ranks, drivers) runs as written
        rows = client.query(bqml.predictions_sql(spec), job_config=config)
        result = rows.to_dataframe(create_bqstorage_client=False)
        assert len(result) == len(p)
        assert set(result["risk_tier"]) <= {"High", "Medium", "Low"}
        assert sorted(result["risk_rank"]) == list(range(1, len(result) + 1))
        assert result["driver_1"].notna().any()
    finally:
        if model_ref is not None:
            client.delete_model(model_ref, not_found_ok=True)
        session.close()
