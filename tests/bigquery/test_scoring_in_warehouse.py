"""The scoring job's in-warehouse path, end to end except BigQuery itself.

A warehouse that says `scores_in_warehouse` gets the model, not a request for rows. BigQuery
ML cannot run here, so its one step is played by a stand-in: the generated SQL is transpiled
to DuckDB (the local features table), and ML.PREDICT is onnxruntime on the ONNX file read
back from the GCS emulator, at the MODEL_PATH the job chose, fed the generated ONNX inputs.
A tree champion's drivers step runs its generated pull and UPDATE on DuckDB the same way.
Everything else is the real job: champion from the registry, column checks, ONNX download,
upload to GCS, the scoring spec and its prediction query, the batch replacement, the drivers
computed in Python, the summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlglot

import models_ml
from models_ml.errors import ModelError
from models_ml.scoring import bigquery as bqml
from models_ml.scoring import bigquery_drivers as tree_drivers
from tests.models_ml.fixtures import SCORE_AS_OF, TRAIN_AS_OF, client_for, make_env
from warehouse.duckdb_warehouse import DuckDBWarehouse

BUCKET = "churn-scoring"


class InPlaceDuckDB(DuckDBWarehouse):
    """The local warehouse, flagged as one that scores in place (what BigQuery says)."""

    scores_in_warehouse = True
    project = None  # BigQueryWarehouse: the project tables live in
    client = None  # BigQueryWarehouse: its google-cloud-bigquery client

    def __init__(self, path) -> None:
        super().__init__(path)
        self.row_reads: list[tuple[tuple[str, ...], int]] = []  # (columns, rows) per read

    def query(self, sql, params=None):
        out = super().query(sql, params)
        if len(out):
            self.row_reads.append((tuple(out.columns), len(out)))
        return out


def _duckdb(sql: str) -> str:
    return sqlglot.transpile(sql, read="bigquery", write="duckdb")[0].replace("FORMAT(", "PRINTF(")


def _stand_in(path, calls):
    """score_in_bigquery played by DuckDB + onnxruntime (only BigQuery ML is replaced)."""

    def run(spec, client, settings, onnx_file, model_path):
        import duckdb
        import onnxruntime as ort
        from google.cloud import storage

        if onnx_file is not None:
            bqml.upload_file(onnx_file, model_path)
        bucket, _, name = model_path.removeprefix("gs://").partition("/")
        model = storage.Client().bucket(bucket).blob(name).download_as_bytes()
        calls.append((spec, model_path))
        con = duckdb.connect(str(path))
        try:
            for guard in bqml.guard_sql(spec):
                condition = guard.removeprefix("ASSERT ").rsplit(" AS '", 1)[0]
                assert con.execute(_duckdb(f"SELECT {condition}")).fetchone()[0], guard
            inputs = con.execute(_duckdb(bqml.onnx_inputs_sql(spec))).df()
            session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            feeds = {}
            for node in session.get_inputs():
                values = inputs[node.name].to_numpy()
                dtype = object if node.type == "tensor(string)" else np.float32
                feeds[node.name] = values.astype(dtype).reshape(-1, 1)
            names = [o.name for o in session.get_outputs()]
            out = dict(zip(names, session.run(None, feeds), strict=True))
            probs = pd.DataFrame(
                {
                    spec.id_column: inputs[spec.id_column],
                    spec.probability_output: list(
                        np.asarray(out[spec.probability_output], dtype=np.float64)
                    ),
                }
            )
            con.register("probs", probs)
            create = bqml.create_predictions_table_sql(spec).split("\nPARTITION BY")[0]
            con.execute("create schema if not exists ml")
            con.execute(_duckdb(create))
            begin, delete, _, commit = bqml.replace_batch_sql(spec)
            columns = ", ".join(n for n, _ in bqml.PREDICTION_COLUMNS)
            predicted = f"SELECT {spec.id_column}, {spec.probability_output} FROM probs"
            insert = f"INSERT INTO {spec.predictions_table} ({columns})\n" + bqml.predictions_sql(
                spec, predicted=predicted
            )
            con.execute("begin")
            con.execute(_duckdb(delete))
            con.execute(_duckdb(insert))
            con.execute("commit")
            counts = {"High": 0, "Medium": 0, "Low": 0}
            total = 0.0
            for tier, n, p in con.execute(_duckdb(bqml.tier_counts_sql(spec))).fetchall():
                counts[tier] = int(n)
                total += p
        finally:
            con.close()
        return counts, total / sum(counts.values())

    return run


def _drivers_stand_in(path, pulled: list[int]):
    """pull_listed and write_drivers played by DuckDB on the generated SQL (the staged
    table is a DuckDB table); `pulled` records the rows each pull brought back."""
    import duckdb

    def pull(warehouse, spec, settings):
        con = duckdb.connect(str(path))
        try:
            frame = con.execute(_duckdb(tree_drivers.listed_inputs_sql(spec))).df()
        finally:
            con.close()
        pulled.append(len(frame))
        return frame, None, None

    def write(warehouse, spec, drivers, settings):
        con = duckdb.connect(str(path))
        try:
            con.execute("create schema if not exists stage")
            con.register("drivers", drivers)
            con.execute("create or replace table stage.drivers as select * from drivers")
            update = _duckdb(tree_drivers.update_drivers_sql(spec, "stage.drivers"))
            updated = con.execute(update).fetchone()[0]
            con.execute("drop schema stage cascade")
        finally:
            con.close()
        return int(updated)

    return pull, write


@pytest.fixture
def bucket(gcs_emulator, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.endpoint)
    client = storage.Client(project="test-proj", credentials=AnonymousCredentials())
    if not client.bucket(BUCKET).exists():
        client.create_bucket(BUCKET)
    return client


@pytest.mark.parametrize("champion", ["hgb", "logreg"])
def test_scoring_job_sends_the_model_not_the_rows(champion, bucket, tmp_path, monkeypatch):
    world = make_env(tmp_path, customers=600)
    if champion == "logreg":  # a two-tree HGB loses; no monotone check to bar the linear model
        weak = world.cfg.candidates.model_copy(
            update={
                "hgb_max_iter": 2,
                "hgb_learning_rate": 0.01,
                "monotone_decreasing": [],
                "monotone_increasing": [],
            }
        )
        world.cfg = world.cfg.model_copy(update={"candidates": weak})
    trained = models_ml.train(
        TRAIN_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    assert trained.promoted, trained.reasons
    assert trained.chosen == champion
    # the local path first: the reference rows
    local = models_ml.score(
        SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    reference = world.warehouse.query(
        "select * from ml.churn_predictions order by customer_id"
    ).set_index("customer_id")

    in_place = InPlaceDuckDB(world.settings.warehouse_file)
    # without a GCS location for the model, nothing is written
    with pytest.raises(ModelError, match="CHURN_GCS_ARTIFACT_ROOT"):
        models_ml.score(SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=in_place)

    calls: list = []
    monkeypatch.setattr(bqml, "score_in_bigquery", _stand_in(world.settings.warehouse_file, calls))
    pulled: list[int] = []
    pull, write = _drivers_stand_in(world.settings.warehouse_file, pulled)
    monkeypatch.setattr(tree_drivers, "pull_listed", pull)
    monkeypatch.setattr(tree_drivers, "write_drivers", write)
    settings = world.settings.model_copy(update={"gcs_artifact_root": f"gs://{BUCKET}/churn"})
    result = models_ml.score(SCORE_AS_OF, settings=settings, cfg=world.cfg, warehouse=in_place)

    # through the gateway, only the ids of the newly High customers came back (their
    # control-group draw is made in Python); a tree champion's drivers step pulls the inputs
    # of the High and Medium rows, and nothing else
    assert {columns for columns, _ in in_place.row_reads} <= {("customer_id",)}
    assert sum(rows for _, rows in in_place.row_reads) <= result.tiers.get("High", 0)
    listed = result.tiers["High"] + result.tiers["Medium"]
    assert pulled == ([listed] if champion == "hgb" else [])
    metrics = client_for(settings).get_run(result.run_id).data.metrics
    assert metrics.get("drivers_rows_pulled") == (listed if champion == "hgb" else None)
    ((spec, model_path),) = calls
    assert (
        model_path
        == f"gs://{BUCKET}/churn/bqml/{world.cfg.model_name}/v{local.model_version}/model.onnx"
    )
    assert spec.model_id == f"ml.churn_model_v{local.model_version}"
    assert spec.probability_output == "probabilities"
    assert result.rows == local.rows == len(world.features)
    assert result.model_version == local.model_version and result.run_id != local.run_id

    got = world.warehouse.query(
        "select * from ml.churn_predictions where run_id = ? order by customer_id", [result.run_id]
    ).set_index("customer_id")
    assert list(got.columns) == list(reference.columns)
    assert got.index.tolist() == reference.index.tolist()
    # ONNX (float32) against the Python attribution (float64)
    gap = np.abs(got["churn_probability"] - reference["churn_probability"])
    assert gap.max() < 1e-5
    near = np.zeros(len(got), dtype=bool)
    for threshold in (world.cfg.tiers.high, world.cfg.tiers.medium):
        near |= np.abs(reference["churn_probability"].to_numpy() - threshold) < 1e-5
    assert (got["risk_tier"] == reference["risk_tier"])[~near].all()
    assert result.tiers == local.tiers or near.any()
    assert (spec.drivers_sql is not None) == (champion == "logreg")
    in_list = got["risk_tier"].isin(["High", "Medium"]).to_numpy()
    for k in (1, 2, 3):
        column = f"driver_{k}"
        if champion == "logreg":
            assert got[column].fillna("-").tolist() == reference[column].fillna("-").tolist()
            assert k > 1 or got[column].notna().mean() > 0.9
        else:  # computed in Python for the listed rows only: Low rows are not on the list
            ours, local_ones = got[column].fillna("-"), reference[column].fillna("-")
            assert (ours == local_ones)[in_list].all()
            assert got[column][~in_list].isna().all()
            assert k > 1 or got[column][in_list].notna().all()
    # the batch replaced the local one for that (as_of, model version): one row per customer
    every = world.warehouse.query("select customer_id from ml.churn_predictions")
    assert every["customer_id"].is_unique

    # a rerun replaces its own batch
    again = models_ml.score(SCORE_AS_OF, settings=settings, cfg=world.cfg, warehouse=in_place)
    assert again.rows == result.rows
    assert world.warehouse.query("select count(*) as n from ml.churn_predictions")["n"][0] == (
        result.rows
    )
