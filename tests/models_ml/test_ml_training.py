"""Training end to end through the gateway and MLflow: what the run records, the registry."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

import models_ml
from models_ml.errors import ModelError
from tests.models_ml.fixtures import TRAIN_AS_OF, client_for, make_settings, small_config


def test_the_run_records_metrics_data_commit_plots_model_and_onnx(trained):
    world, result = trained
    client = client_for(world.settings)
    run = client.get_run(result.run_id)
    for key in (
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "lift_top_5",
        "lift_top_10",
        "lift_top_20",
        "capture_top_5",
        "capture_top_10",
        "capture_top_20",
        "logreg_roc_auc",
        "hgb_roc_auc",
        "onnx_parity_max_abs_err",
    ):
        assert key in run.data.metrics, key
    assert run.data.metrics["onnx_parity_max_abs_err"] < 1e-4
    assert run.data.metrics["attribution_max_abs_err"] < 1e-6
    for key in (
        "data_fit_first_date",
        "data_holdout_last_date",
        "data_holdout_rows",
        "data_fit_positive_rate",
        "candidate",
        "as_of",
        "table",
        "features",
    ):
        assert key in run.data.params, key
    assert run.data.params["as_of"] == str(TRAIN_AS_OF)
    assert len(run.data.tags["git_commit"]) >= 7
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/calibration.png", "plots/lift.png", "plots/feature_importance.png"}
    assert [a.path for a in client.list_artifacts(result.run_id, "onnx")] == ["onnx/model.onnx"]
    mlflow.set_tracking_uri(world.settings.mlflow_uri)
    mlflow.set_registry_uri(world.settings.mlflow_uri)
    info = mlflow.models.get_model_info(f"models:/{world.cfg.model_name}/{result.version}")
    assert info.signature is not None and info.saved_input_example_info is not None
    assert info.signature.inputs.input_names()[:2] == ["logins_7d", "logins_30d"]
    # the artifact store is under data/, not ./mlruns
    assert Path(world.settings.data_dir, "mlartifacts").exists() and not Path("mlruns").exists()


def test_first_model_becomes_champion_and_every_alias_move_is_recorded(trained):
    world, result = trained
    assert result.promoted, result.reasons
    client = client_for(world.settings)
    champion = client.get_model_version_by_alias(world.cfg.model_name, "champion")
    assert str(champion.version) == result.version
    rows = world.warehouse.read_table("ml.model_promotions")
    assert list(rows["action"]) == ["register", "promote"]
    assert set(rows.columns) >= {
        "promoted_at",
        "actor",
        "from_version",
        "to_version",
        "metrics",
        "reason",
        "alias",
    }
    assert rows["actor"].notna().all() and rows["reason"].str.len().gt(0).all()


def test_train_works_on_any_table_with_the_contract(env):
    custom = env.training.rename(columns={"logins_30d": "sessions_30d"}).assign(
        nps_90d=lambda d: d["tickets_90d"] * 0.5
    )
    env.warehouse.write_table(custom, "sandbox.my_training")
    result = models_ml.train(
        TRAIN_AS_OF,
        table="sandbox.my_training",
        settings=env.settings,
        cfg=env.cfg,
        warehouse=env.warehouse,
        promote=False,
    )
    features = client_for(env.settings).get_run(result.run_id).data.params
    assert "nps_90d" in features["features"] and "sessions_30d" in features["features"]
    assert not result.promoted


def test_unreachable_mlflow_fails_fast_without_touching_anything(env):
    settings = make_settings(env.settings.data_dir, mlflow_tracking_uri="http://127.0.0.1:9")
    with pytest.raises(ModelError, match="cannot be reached"):
        models_ml.train(TRAIN_AS_OF, settings=settings, cfg=env.cfg, warehouse=env.warehouse)
    with pytest.raises(ModelError, match="cannot be reached"):
        models_ml.score(TRAIN_AS_OF, settings=settings, cfg=env.cfg, warehouse=env.warehouse)
    assert not env.warehouse.table_exists("ml.model_promotions")


def test_bad_training_sets_register_nothing(env):
    client = client_for(env.settings)
    env.warehouse.write_table(env.training.assign(churned=False), "features.one_class")
    with pytest.raises(ModelError, match="single class"):
        models_ml.train(
            TRAIN_AS_OF,
            table="features.one_class",
            settings=env.settings,
            cfg=env.cfg,
            warehouse=env.warehouse,
        )
    with pytest.raises(ModelError, match="does not exist"):
        models_ml.train(
            TRAIN_AS_OF,
            table="features.nope",
            settings=env.settings,
            cfg=env.cfg,
            warehouse=env.warehouse,
        )
    assert client.search_registered_models() == []


def test_config_comes_from_churn_ml_variables(monkeypatch):
    monkeypatch.setenv("CHURN_ML_THRESHOLDS", '{"min_roc_auc": 0.9}')
    monkeypatch.setenv("CHURN_ML_TIERS__CAPACITY", "25")
    cfg = models_ml.MLConfig()
    assert cfg.thresholds.min_roc_auc == 0.9 and cfg.tiers.capacity == 25
    assert small_config().candidates.hgb_max_iter == 60
