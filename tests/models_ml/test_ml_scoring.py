"""Batch scoring: contract columns, tiers, drivers, idempotence, atomicity, bad input."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import models_ml
from models_ml.config import Tiers
from models_ml.errors import ModelError
from models_ml.scoring import assign_tiers
from models_ml.scoring import local as scoring
from tests.models_ml.fixtures import SCORE_AS_OF, scoring_frame

CONTRACT = [
    "customer_id",
    "as_of_date",
    "model_name",
    "model_version",
    "churn_probability",
    "risk_tier",
    "risk_rank",
    "driver_1",
    "driver_2",
    "driver_3",
    "run_id",
    "scored_at",
]


def _score(world, as_of=SCORE_AS_OF, **cfg):
    config = world.cfg.model_copy(update=cfg)
    return models_ml.score(as_of, settings=world.settings, cfg=config, warehouse=world.warehouse)


def _predictions(world, as_of=SCORE_AS_OF) -> pd.DataFrame:
    return world.warehouse.query(
        "select * from ml.churn_predictions where as_of_date = ? order by risk_rank", [as_of]
    )


def test_scoring_writes_the_contract_once_per_as_of_and_version(trained):
    world, result = trained
    first = _score(world)
    rows = _predictions(world)
    assert list(rows.columns) == CONTRACT
    assert len(rows) == first.rows == len(world.features)
    assert rows["customer_id"].is_unique and (rows["model_version"] == result.version).all()
    assert sorted(rows["risk_rank"]) == list(range(1, len(rows) + 1))
    assert rows["churn_probability"].between(0, 1).all()
    assert set(rows["risk_tier"]) <= {"High", "Medium", "Low"}
    assert rows["driver_1"].notna().mean() > 0.9
    _score(world)  # a rerun replaces its batch
    again = _predictions(world)
    assert len(again) == len(rows) and again["run_id"].nunique() == 1
    assert again["run_id"].iloc[0] != rows["run_id"].iloc[0]


def test_capacity_makes_high_exactly_the_top_k(trained):
    world, _ = trained
    _score(world, tiers=Tiers(capacity=25))
    rows = _predictions(world)
    assert (rows["risk_tier"] == "High").sum() == 25
    assert rows.loc[rows["risk_tier"] == "High", "risk_rank"].max() == 25


def test_tiers_follow_thresholds_and_ties_break_by_id():
    p = np.array([0.6, 0.3, 0.3, 0.1])
    tier, rank = assign_tiers(p, np.array(["C4", "C3", "C2", "C1"]), Tiers(high=0.5, medium=0.2))
    assert tier.tolist() == ["High", "Medium", "Medium", "Low"]
    assert rank.tolist() == [1, 3, 2, 4]


def test_a_failed_run_leaves_the_previous_batch_untouched(trained, monkeypatch):
    world, _ = trained
    _score(world)
    before = _predictions(world)

    def broken(*args, **kwargs):
        raise RuntimeError("boom in drivers")

    monkeypatch.setattr(scoring, "top_drivers", broken)
    with pytest.raises(RuntimeError, match="boom"):
        _score(world)
    pd.testing.assert_frame_equal(_predictions(world), before)


def test_unseen_categories_and_nans_are_scored(trained):
    world, _ = trained
    odd = world.features.copy()
    odd.loc[:9, "plan"] = "platinum"  # never seen in training
    odd.loc[10:19, "industry"] = None
    odd.loc[20:29, ["logins_30d", "mrr", "days_since_last_login"]] = np.nan
    from models_ml.api import load_champion

    loaded = load_champion(settings=world.settings, cfg=world.cfg)
    out = scoring.score_frame(odd, loaded, world.cfg, SCORE_AS_OF, "r", pd.Timestamp.now())
    assert out["churn_probability"].between(0, 1).all() and len(out) == len(odd)


def test_columns_unlike_the_champion_signature_are_refused_and_nothing_written(trained):
    world, _ = trained
    as_of = SCORE_AS_OF + timedelta(days=7)
    fresh = scoring_frame(world.training, as_of)
    world.warehouse.write_table(fresh.drop(columns=["mrr"]), "features.dropped")
    with pytest.raises(ModelError, match=r"missing columns \['mrr'\]"):
        _score(world, as_of, features_table="features.dropped")
    world.warehouse.write_table(fresh.assign(new_30d=1.0), "features.added")
    with pytest.raises(ModelError, match="unknown to the model.*new_30d"):
        _score(world, as_of, features_table="features.added")
    assert _predictions(world, as_of).empty
    assert _score(world, as_of, features_table="features.added", allow_extra_features=True).rows


def test_no_features_at_as_of_is_refused(trained):
    world, _ = trained
    with pytest.raises(ModelError, match="no rows at as_of"):
        _score(world, SCORE_AS_OF + timedelta(days=70))


def test_no_champion_yet_is_a_clear_error(env):
    with pytest.raises(ModelError, match="no 'champion' version yet.*churn train"):
        models_ml.score(SCORE_AS_OF, settings=env.settings, cfg=env.cfg, warehouse=env.warehouse)
    assert not env.warehouse.table_exists("ml.churn_predictions")
