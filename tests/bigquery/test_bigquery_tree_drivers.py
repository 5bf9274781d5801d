"""Drivers of a tree champion scored in BigQuery: the listed rows pulled, explained in Python,
written back into the batch.

BigQuery ML cannot run here, so the batch is written by the scoring transaction itself with
ML.PREDICT replaced by the probabilities of the champion's ONNX export (onnxruntime): on
DuckDB through sqlglot, and on the BigQuery emulator. The drivers step then runs for real
(pull query, attribution, staged table, UPDATE) and its drivers must be the ones
`score_frame` gives the same customers locally; Low rows keep none.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from models_ml.candidates import fit_candidate
from models_ml.errors import ModelError
from models_ml.features import infer_schema, prepare_inputs
from models_ml.onnx_export import onnx_probabilities, to_onnx
from models_ml.registry import LoadedModel
from models_ml.scoring import bigquery as bqml
from models_ml.scoring import bigquery_drivers as tree_drivers
from models_ml.scoring import score_frame
from models_ml.scoring.columns import PREDICTION_NAMES
from models_ml.scoring.googlesql import BigQueryMLError
from tests.models_ml.fixtures import (
    SCORE_AS_OF,
    make_settings,
    scoring_frame,
    small_config,
    training_frame,
)
from warehouse import get_warehouse

SCORED_AT = datetime(2024, 6, 3, 2, 0, 0, 123456)
RUN_ID = "0123456789abcdef0123456789abcdef"
PROJECT = "tree-drivers"  # a namespace of its own on the emulator
DRIVERS = ["driver_1", "driver_2", "driver_3"]
LISTED = ["High", "Medium"]


@pytest.fixture(scope="module")
def world():
    """A fitted HGB champion, a snapshot to score, its local predictions and ONNX scores."""
    training = training_frame(customers=600, seed=3)
    cfg = small_config()
    schema = infer_schema(training, [cfg.id_column, cfg.date_column, cfg.label_column])
    dates = sorted(training[cfg.date_column].unique())
    fit = training[training[cfg.date_column].isin(dates[:-4])]
    cal = training[training[cfg.date_column].isin(dates[-4:])]
    model = fit_candidate(
        "hgb",
        prepare_inputs(fit, schema),
        fit[cfg.label_column].to_numpy(dtype=int),
        prepare_inputs(cal, schema),
        cal[cfg.label_column].to_numpy(dtype=int),
        schema,
        cfg.candidates,
    )
    features = scoring_frame(training)
    loaded = LoadedModel(cfg.model_name, "7", RUN_ID, model, schema)
    local = score_frame(features, loaded, cfg, SCORE_AS_OF, RUN_ID, SCORED_AT)
    onnx = onnx_probabilities(to_onnx(model, schema), prepare_inputs(features, schema))
    scores = pd.DataFrame({"customer_id": features["customer_id"].astype(str), "p": onnx})
    return cfg, loaded, features, local.set_index("customer_id"), scores


def _spec(world, project: str | None = None) -> bqml.ScoringSpec:
    cfg, loaded, _, _, _ = world
    return bqml.scoring_spec(
        loaded.model,
        loaded.schema,
        cfg,
        project=project,
        model_name=cfg.model_name,
        model_version=loaded.version,
        run_id=RUN_ID,
        as_of=SCORE_AS_OF,
        scored_at=SCORED_AT,
    )


def _predicted(scores_table: str) -> str:
    """What ML.PREDICT returns, from a table of ONNX scores: id and [P(stay), P(churn)]."""
    return f"SELECT customer_id, [1 - p, p] AS probabilities FROM {scores_table}"


def _check_drivers(batch: pd.DataFrame, local: pd.DataFrame) -> None:
    """Listed rows carry score_frame's drivers; Low rows none."""
    batch = batch.set_index("customer_id").sort_index()
    expected = local.loc[batch.index]
    listed = batch["risk_tier"].isin(LISTED).to_numpy()
    assert 0 < listed.sum() < len(batch)
    for column in DRIVERS:
        got = batch[column].astype(object).where(batch[column].notna(), None)
        want = expected[column].astype(object).where(expected[column].notna(), None)
        mismatch = listed & (got != want).to_numpy()
        assert not mismatch.any(), pd.DataFrame({"got": got[mismatch], "local": want[mismatch]})
        assert got[~listed].isna().all()
    assert batch.loc[listed, "driver_1"].notna().all()


# ---------- the SQL, offline


def test_statements_parse_and_touch_only_this_runs_listed_rows(world):
    spec = _spec(world, project="my-proj")
    pull = sqlglot.parse_one(tree_drivers.listed_inputs_sql(spec), read="bigquery")
    assert isinstance(pull, exp.Select)
    assert [e.alias_or_name for e in pull.expressions] == [
        "customer_id",
        *spec.inputs,
        tree_drivers.SCORED_PROBABILITY,
    ]
    update = sqlglot.parse_one(tree_drivers.update_drivers_sql(spec, "_stage.d1"), read="bigquery")
    assert isinstance(update, exp.Update)
    assert update.this.sql("bigquery").startswith("`my-proj.ml.churn_predictions`")
    assert [e.this.name for e in update.expressions] == DRIVERS
    where = update.args["where"].sql("bigquery")
    for part in (f"'{RUN_ID}'", f"'{SCORE_AS_OF}'", "model_version = '7'", "'High', 'Medium'"):
        assert part in where
    with pytest.raises(BigQueryMLError):
        tree_drivers.update_drivers_sql(spec, "_stage.d1; drop table ml.x")


def test_on_duckdb_the_listed_rows_get_score_frames_drivers(world):
    cfg, loaded, features, local, scores = world
    spec = _spec(world)

    def duck(sql: str) -> str:
        return sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]

    con = duckdb.connect()
    con.execute("create schema features; create schema ml; create schema stage")
    con.register("frame", features)
    con.execute("create table features.customer_features as select * from frame")
    con.register("scores", scores)
    con.execute(duck(bqml.create_predictions_table_sql(spec).split("\nPARTITION BY")[0]))
    insert = bqml.predictions_sql(spec, predicted=_predicted("scores"))
    con.execute(
        duck(f"INSERT INTO {spec.predictions_table} ({', '.join(PREDICTION_NAMES)})\n{insert}")
    )

    pulled = con.execute(duck(tree_drivers.listed_inputs_sql(spec))).df()
    tiers = local["risk_tier"].value_counts()
    assert len(pulled) == tiers["High"] + tiers["Medium"]  # only the listed rows come back
    drivers, attributed = tree_drivers.listed_drivers(
        pulled, loaded.model, loaded.schema, "customer_id"
    )
    tree_drivers.check_explains(attributed, pulled[tree_drivers.SCORED_PROBABILITY], SCORE_AS_OF)
    con.register("drivers", drivers)
    con.execute("create table stage.d1 as select * from drivers")
    con.execute(duck(tree_drivers.update_drivers_sql(spec, "stage.d1")))
    _check_drivers(con.execute("select * from ml.churn_predictions").df(), local)


def test_drivers_of_another_model_are_refused(world):
    _, loaded, features, local, _ = world
    rows = features.head(50)
    _, attributed = tree_drivers.listed_drivers(rows, loaded.model, loaded.schema, "customer_id")
    np.testing.assert_allclose(attributed, local.loc[rows["customer_id"], "churn_probability"])
    tree_drivers.check_explains(attributed, attributed + 5e-6, SCORE_AS_OF)  # float32 ONNX
    with pytest.raises(ModelError, match="does not reproduce the probabilities"):
        tree_drivers.check_explains(attributed, attributed + 0.01, SCORE_AS_OF)


def test_no_listed_rows_gives_no_drivers(world):
    _, loaded, features, _, _ = world
    drivers, attributed = tree_drivers.listed_drivers(
        features.head(0), loaded.model, loaded.schema, "customer_id"
    )
    assert list(drivers.columns) == ["customer_id", *DRIVERS] and drivers.empty
    assert attributed.shape == (0,)


# ---------- the whole step on the BigQuery emulator


@pytest.fixture(scope="module")
def emulated(world, bq_emulator, tmp_path_factory):
    """A BigQuery gateway on the emulator holding the features and the ONNX scores."""
    settings = make_settings(
        tmp_path_factory.mktemp("tree_drivers"),
        target="bigquery",
        bigquery_project=PROJECT,
        bigquery_api_endpoint=bq_emulator.endpoint,
        bigquery_retry_seconds=5,
    )
    wh = get_warehouse(settings)
    _, _, features, _, scores = world
    wh.write_table(features, "features.customer_features")
    wh.write_table(scores, "ml.onnx_scores")
    return wh, settings


def _score_batch(wh, spec) -> None:
    """The scoring script on the emulator, ML.PREDICT replaced by the ONNX scores (and
    without the ASSERT guards, which the emulator cannot parse)."""
    begin, delete, _, commit = bqml.replace_batch_sql(spec)
    scores = f"`{spec.project}.ml.onnx_scores`"
    insert = (
        f"INSERT INTO `{spec.project}.{spec.predictions_table}` ({', '.join(PREDICTION_NAMES)})\n"
        + bqml.predictions_sql(spec, predicted=_predicted(scores))
    )
    wh.client.query(bqml.create_predictions_table_sql(spec)).result()
    wh.client.query(";\n".join([begin, delete, insert, commit]) + ";").result()


def _batch(wh) -> pd.DataFrame:
    return wh.query("select * from ml.churn_predictions where run_id = ?", [RUN_ID])


def _staged_tables(wh, settings) -> list[str]:
    dataset = f"{wh.project}.{settings.bigquery_staging_dataset}"
    return [t.table_id for t in wh.client.list_tables(dataset)]


def test_on_the_emulator_pull_explain_and_write_back(world, emulated):
    _, loaded, _, local, _ = world
    wh, settings = emulated
    spec = _spec(world, project=wh.project)
    _score_batch(wh, spec)
    before = _batch(wh)
    assert before[DRIVERS].isna().all().all()  # what in-warehouse scoring alone leaves

    written = tree_drivers.add_tree_drivers(wh, spec, loaded.model, loaded.schema, settings)

    listed = int(before["risk_tier"].isin(LISTED).sum())
    assert written.rows_pulled == written.rows_updated == listed
    after = _batch(wh)
    _check_drivers(after, local)
    # only the drivers changed, and nothing is left in the staging dataset
    keep = [c for c in PREDICTION_NAMES if c not in DRIVERS]
    pd.testing.assert_frame_equal(
        after[keep].sort_values("customer_id").reset_index(drop=True),
        before[keep].sort_values("customer_id").reset_index(drop=True),
    )
    assert _staged_tables(wh, settings) == []
    # tiers as the local path gives them, away from the thresholds (ONNX is float32)
    tiers = after.set_index("customer_id")["risk_tier"]
    assert (tiers == local.loc[tiers.index, "risk_tier"]).mean() > 0.99

    # a run whose batch was replaced meanwhile finds nothing of its own and writes nothing
    stale = replace(spec, run_id="f" * 32)
    assert tree_drivers.add_tree_drivers(wh, stale, loaded.model, loaded.schema, settings) == (
        tree_drivers.TreeDriversResult(0, 0, written.bytes_processed, written.bytes_billed)
    )
    pd.testing.assert_frame_equal(_batch(wh), after)


def test_on_the_emulator_a_failed_step_leaves_the_batch_without_drivers(world, emulated):
    _, loaded, _, _, _ = world
    wh, settings = emulated
    spec = _spec(world, project=wh.project)
    _score_batch(wh, spec)
    # scores that the champion's attribution does not reproduce: refused before any write
    wh.client.query(
        f"UPDATE `{wh.project}.ml.churn_predictions` SET churn_probability = "
        f"churn_probability / 2 WHERE run_id = '{RUN_ID}' AND risk_tier = 'High'"
    ).result()
    with pytest.raises(ModelError, match="does not reproduce") as refused:
        tree_drivers.add_tree_drivers(wh, spec, loaded.model, loaded.schema, settings)
    assert "without drivers" in str(refused.value)
    assert _batch(wh)[DRIVERS].isna().all().all()

    # a BigQuery failure (here: the predictions table is missing) is one line naming the date
    missing = replace(spec, predictions_table="ml.no_such_predictions")
    with pytest.raises(ModelError) as failed:
        tree_drivers.add_tree_drivers(wh, missing, loaded.model, loaded.schema, settings)
    message = str(failed.value)
    assert "\n" not in message and str(SCORE_AS_OF) in message
    assert "the batch is in place" in message and "Traceback" not in message
    assert _batch(wh)[DRIVERS].isna().all().all()
    assert _staged_tables(wh, settings) == []
