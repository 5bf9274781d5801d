"""Offline checks of what in-warehouse scoring sends to BigQuery.

BigQuery ML cannot run here, so the generated SQL is checked three ways: it parses as
GoogleSQL (sqlglot), the CREATE MODEL is the one bigframes' ONNXModel generates, and the
prediction query itself (inputs, tiers, ranks, drivers) is transpiled to DuckDB and run on a
small features frame, with ML.PREDICT replaced by the probabilities the Python path computed:
its rows must equal `scoring.score_frame`'s, drivers included.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from models_ml.candidates import fit_candidate
from models_ml.config import Tiers
from models_ml.features import infer_schema, prepare_inputs
from models_ml.onnx_export import to_onnx
from models_ml.registry import LoadedModel
from models_ml.scoring import bigquery as bqml
from models_ml.scoring import score_frame
from models_ml.scoring.bigquery import probability_output, scoring_spec
from models_ml.scoring.drivers_sql import drivers_sql, phrase_sql
from tests.models_ml.fixtures import SCORE_AS_OF, scoring_frame, small_config, training_frame

SCORED_AT = datetime(2024, 6, 3, 2, 0, 0, 123456)
RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def world():
    """Both candidates fitted on the synthetic training set, and a snapshot to score."""
    training = training_frame(customers=500, seed=3)
    cfg = small_config()
    named = [cfg.id_column, cfg.date_column, cfg.label_column]
    schema = infer_schema(training, named)
    dates = sorted(training[cfg.date_column].unique())
    fit = training[training[cfg.date_column].isin(dates[:-4])]
    cal = training[training[cfg.date_column].isin(dates[-4:])]
    models = {
        name: fit_candidate(
            name,
            prepare_inputs(fit, schema),
            fit[cfg.label_column].to_numpy(dtype=int),
            prepare_inputs(cal, schema),
            cal[cfg.label_column].to_numpy(dtype=int),
            schema,
            cfg.candidates,
        )
        for name in ("logreg", "hgb")
    }
    features = scoring_frame(training)
    return cfg, schema, models, features


def _spec(world, name: str, **cfg_updates):
    cfg, schema, models, _ = world
    cfg = cfg.model_copy(update=cfg_updates)
    return cfg, scoring_spec(
        models[name],
        schema,
        cfg,
        project=None,
        model_name=cfg.model_name,
        model_version="7",
        run_id=RUN_ID,
        as_of=SCORE_AS_OF,
        scored_at=SCORED_AT,
    )


def _duckdb(sql: str) -> str:
    """GoogleSQL -> DuckDB; FORMAT('%g') is printf-style in GoogleSQL, PRINTF in DuckDB."""
    out = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
    return out.replace("FORMAT(", "PRINTF(")


def _run_in_duckdb(world, spec, probabilities: pd.Series) -> pd.DataFrame:
    """The predictions SELECT on DuckDB, ML.PREDICT replaced by the given probabilities."""
    _, _, _, features = world
    con = duckdb.connect()
    con.execute("create schema features")
    con.register("frame", features)
    con.execute("create table features.customer_features as select * from frame")
    p = probabilities.to_numpy(dtype=np.float64)
    probs = pd.DataFrame(
        {"customer_id": features["customer_id"].astype(str), "probabilities": list(np.c_[1 - p, p])}
    )
    con.register("probs", probs)
    sql = bqml.predictions_sql(spec, predicted="SELECT customer_id, probabilities FROM probs")
    out = con.execute(_duckdb(sql)).df()
    return out.sort_values("customer_id").reset_index(drop=True)


def _python(world, name: str, cfg) -> pd.DataFrame:
    _, schema, models, features = world
    loaded = LoadedModel(cfg.model_name, "7", RUN_ID, models[name], schema)
    frame = score_frame(features, loaded, cfg, SCORE_AS_OF, RUN_ID, SCORED_AT)
    return frame.sort_values("customer_id").reset_index(drop=True)


# ---------- the prediction query, evaluated


def test_linear_champion_rows_equal_the_python_path_drivers_included(world):
    cfg, spec = _spec(world, "logreg")
    expected = _python(world, "logreg", cfg)
    got = _run_in_duckdb(world, spec, expected["churn_probability"])
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 100
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(got["churn_probability"], expected["churn_probability"])
    assert got["risk_rank"].tolist() == expected["risk_rank"].tolist()
    assert got["risk_tier"].tolist() == expected["risk_tier"].tolist()
    assert set(got["risk_tier"]) == {"High", "Medium", "Low"}
    for k in (1, 2, 3):
        column = f"driver_{k}"
        g = got[column].astype(object).where(got[column].notna(), None)
        e = expected[column].astype(object).where(expected[column].notna(), None)
        mismatch = (g != e).to_numpy()
        assert not mismatch.any(), pd.DataFrame({"sql": g[mismatch], "python": e[mismatch]})
    assert got["driver_1"].notna().mean() > 0.9  # drivers are there, not all null
    assert (got["as_of_date"].astype(str) == str(SCORE_AS_OF)).all()
    assert (got["model_version"] == "7").all() and (got["run_id"] == RUN_ID).all()
    assert (pd.to_datetime(got["scored_at"]) == pd.Timestamp(SCORED_AT)).all()


def test_tree_champion_scores_with_tiers_and_leaves_drivers_null(world):
    cfg, spec = _spec(world, "hgb")
    assert spec.drivers_sql is None  # the documented limit
    expected = _python(world, "hgb", cfg)
    got = _run_in_duckdb(world, spec, expected["churn_probability"])
    assert got["risk_rank"].tolist() == expected["risk_rank"].tolist()
    assert got["risk_tier"].tolist() == expected["risk_tier"].tolist()
    assert got[["driver_1", "driver_2", "driver_3"]].isna().all().all()


def test_capacity_makes_high_exactly_the_top_k_with_ties_broken_by_id(world):
    cfg, spec = _spec(world, "hgb", tiers=Tiers(capacity=25, medium=0.05))
    expected = _python(world, "hgb", cfg)
    # coarse probabilities: many exact ties, which the id must break as in Python
    p = expected["churn_probability"].round(2)
    expected_tied = expected.assign(churn_probability=p)
    from models_ml.scoring import assign_tiers

    tier, rank = assign_tiers(p.to_numpy(), expected["customer_id"].to_numpy(), cfg.tiers)
    got = _run_in_duckdb(world, spec, p)
    assert got["customer_id"].tolist() == expected_tied["customer_id"].tolist()
    assert got["risk_rank"].tolist() == rank.tolist()
    assert got["risk_tier"].tolist() == tier.tolist()
    assert (got["risk_tier"] == "High").sum() == 25


def test_inputs_are_the_prepared_model_inputs(world):
    _, schema, _, features = world
    _, spec = _spec(world, "logreg")
    con = duckdb.connect()
    con.execute("create schema features")
    con.register("frame", features)
    con.execute("create table features.customer_features as select * from frame")
    got = con.execute(_duckdb(bqml.inputs_sql(spec))).df().set_index("customer_id")
    expected = prepare_inputs(features, schema).set_index(features["customer_id"])
    got = got.loc[expected.index]
    for column, kind in zip(schema.columns, schema.kinds, strict=True):
        if kind == "categorical":
            assert got[column].tolist() == expected[column].tolist(), column
        else:
            np.testing.assert_allclose(
                got[column].astype(float), expected[column].astype(float), rtol=1e-6, err_msg=column
            )
    assert expected.isna().any().any()  # the frame has nulls to map


def test_inactive_customers_are_not_scored(world):
    _, _, _, features = world
    cfg, spec = _spec(world, "hgb")
    flagged = replace(spec, inactive_flags=("is_cancelled",))
    con = duckdb.connect()
    con.execute("create schema features")
    frame = features.assign(is_cancelled=[i % 10 == 0 for i in range(len(features))])
    con.register("frame", frame)
    con.execute("create table features.customer_features as select * from frame")
    got = con.execute(_duckdb(bqml.inputs_sql(flagged))).df()
    assert len(got) == len(frame) - int(frame["is_cancelled"].sum())
    assert not set(got["customer_id"]) & set(frame.loc[frame["is_cancelled"], "customer_id"])


@pytest.mark.parametrize(
    ("column", "kind", "values"),
    [
        ("mrr", "numeric", [0.0, 999.4, 1234.5, 1_234_567.0, -2500.0, None]),
        ("logins_30d_change_pct", "numeric", [-0.125, 0.125, -0.004, 0.005, 0.0, None]),
        ("seat_utilisation", "numeric", [0.01, 0.345, 0.5, 1.0, None]),
        ("logins_7d", "numeric", [0.0, 1.0, 2.0, 2.5, 3.5, None]),
        ("weird_metric", "numeric", [0.125, 1234567.891, -0.0001, None]),
        ("has_discount", "boolean", [1.0, 0.0, None]),
        ("plan", "categorical", ["pro", "__missing__", "it's"]),
    ],
)
def test_phrases_in_sql_are_the_python_phrases(column, kind, values):
    from models_ml.drivers import phrase_for, render

    sql = f"SELECT {phrase_sql(column, kind)} AS phrase FROM v"
    con = duckdb.connect()
    if kind == "categorical":
        con.register("v", pd.DataFrame({column: pd.Series(values, dtype=object)}))
        expected = render(phrase_for(column, kind), np.asarray(values, dtype=object))
    else:
        con.register("v", pd.DataFrame({column: pd.Series(values, dtype="float64")}))
        raw = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        expected = render(phrase_for(column, kind), raw)
    got = [r[0] for r in con.execute(_duckdb(sql)).fetchall()]
    assert got == list(expected)


# ---------- statements and options


def test_create_model_sql_is_what_bigframes_onnxmodel_generates():
    from bigframes.ml import sql as bf_sql
    from google.cloud import bigquery

    uri = bqml.gcs_model_uri("gs://bucket/churn/", "churn-model", "7")
    assert uri == "gs://bucket/churn/bqml/churn-model/v7/model.onnx"
    ours = bqml.create_model_sql("my-proj", "ml.churn_model_v7", uri)
    ref = bigquery.ModelReference.from_string("my-proj.ml.churn_model_v7")
    theirs = bf_sql.ModelCreationSqlGenerator().create_imported_model(
        model_ref=ref, options=bqml.model_options(uri)
    )

    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s.replace("`", "")).strip()

    assert norm(ours) == norm(theirs)
    create = sqlglot.parse_one(ours, read="bigquery")
    assert isinstance(create, exp.Create) and create.kind == "MODEL"
    options = {
        p.name.lower(): p.args["value"].name for p in create.find_all(exp.Property) if p.name
    }
    assert options == {"model_type": "ONNX", "model_path": uri}
    with pytest.raises(bqml.BigQueryMLError):
        bqml.model_options("/tmp/model.onnx")
    with pytest.raises(bqml.BigQueryMLError):
        bqml.gcs_model_uri("/local/dir", "churn-model", "7")


def test_script_parses_as_googlesql_and_is_one_transaction(world):
    _, spec = _spec(world, "logreg")
    spec = replace(spec, project="my-proj")
    script = bqml.scoring_script(spec)
    statements = [s.strip() for s in script.rstrip(";").split(";\n\n")]
    kinds = [s.split()[0] for s in statements]
    assert kinds == ["ASSERT", "ASSERT", "CREATE", "BEGIN", "DELETE", "INSERT", "COMMIT"]
    for statement in statements:
        sqlglot.parse_one(statement, read="bigquery")  # raises on a syntax error
    insert = sqlglot.parse_one(statements[5], read="bigquery")
    assert isinstance(insert, exp.Insert)
    assert insert.this.this.sql("bigquery") == "`my-proj.ml.churn_predictions`"
    assert [c.name for c in insert.this.expressions] == [n for n, _ in bqml.PREDICTION_COLUMNS]
    # the model comes from ML.PREDICT over the features at as_of, nothing else
    predict = [f for f in insert.find_all(exp.Anonymous, exp.Predict) if "PREDICT" in f.sql()]
    assert predict and "`my-proj.ml.churn_model_v7`" in statements[5]
    tables = {t.sql("bigquery") for t in insert.find_all(exp.Table) if t.args.get("db")}
    assert "`my-proj.features.customer_features`" in {t.replace("`.`", ".") for t in tables}
    delete = sqlglot.parse_one(statements[4], read="bigquery")
    where = delete.args["where"].sql("bigquery")
    assert f"'{SCORE_AS_OF}'" in where and "model_version = '7'" in where
    assert "model_name = 'churn-model'" in where
    create = sqlglot.parse_one(statements[2], read="bigquery")
    assert [c.name for c in create.this.expressions] == [n for n, _ in bqml.PREDICTION_COLUMNS]


def test_names_are_checked_before_they_reach_sql(world):
    _, spec = _spec(world, "logreg")
    for bad in (
        {"features_table": "features.x; drop table y"},
        {"project": "bad project"},
        {"model_version": "1; --"},
        {"id_column": "id`"},
    ):
        with pytest.raises(bqml.BigQueryMLError):
            replace(spec, **bad)


def test_probability_output_is_the_exported_graphs(world):
    _, schema, models, _ = world
    for model in models.values():
        graph = to_onnx(model, schema)
        assert probability_output(graph) == "probabilities"
        assert [i.name for i in graph.graph.input] == list(schema.columns)


def test_drivers_sql_only_for_the_linear_model(world):
    _, schema, models, _ = world
    assert drivers_sql(models["hgb"], schema, "customer_id") is None
    sql = drivers_sql(models["logreg"], schema, "customer_id")
    assert sql is not None
    sqlglot.parse_one(sql, read="bigquery")
