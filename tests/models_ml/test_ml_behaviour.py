"""Model behaviour: more activity never raises risk, cancelled customers are never scored,
row order changes nothing."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from models_ml.api import load_champion
from models_ml.errors import ModelError
from models_ml.features import prepare_inputs
from models_ml.scoring import score_frame
from tests.models_ml.fixtures import SCORE_AS_OF

NOW = pd.Timestamp("2024-06-03 02:00")


@pytest.fixture(scope="module")
def champion(trained):
    world, _ = trained
    return world, load_champion(settings=world.settings, cfg=world.cfg)


@pytest.mark.parametrize(
    "column", ["logins_7d", "logins_30d", "logins_90d", "events_30d", "active_days_30d"]
)
def test_more_activity_never_raises_risk(champion, column):
    world, loaded = champion
    X = prepare_inputs(world.features, loaded.schema)
    base = loaded.model.predict_proba(X)[:, 1]
    for factor in (1.2, 2.0, 5.0):
        more = X.copy()
        more[column] = (X[column] * factor + 1).astype(np.float32)
        assert (loaded.model.predict_proba(more)[:, 1] <= base + 1e-9).all()


def test_a_more_engaged_customer_is_never_riskier(champion):
    world, loaded = champion
    X = prepare_inputs(world.features, loaded.schema)
    base = loaded.model.predict_proba(X)[:, 1]
    busier = X.copy()
    for column in ("logins_7d", "logins_30d", "logins_90d", "events_30d"):
        busier[column] = busier[column] * 2
    busier["days_since_last_login"] = busier["days_since_last_login"] / 2
    assert (loaded.model.predict_proba(busier)[:, 1] <= base + 1e-9).all()


def test_a_cancelled_customer_absent_from_features_gets_no_prediction(champion):
    world, loaded = champion
    gone = world.features["customer_id"].iloc[0]
    active = world.features.iloc[1:]
    out = score_frame(active, loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    assert gone not in set(out["customer_id"]) and len(out) == len(active)
    # and the training set's churners never reach the scoring snapshot at all
    churned = set(world.training.loc[world.training["churned"], "customer_id"])
    assert not churned & set(out["customer_id"])


def test_guards_against_scoring_the_wrong_rows(champion):
    world, loaded = champion
    flagged = world.features.assign(is_cancelled=False)
    flagged.loc[flagged.index[:3], "is_cancelled"] = True
    out = score_frame(flagged, loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    assert len(out) == len(flagged) - 3
    assert not set(flagged["customer_id"][:3]) & set(out["customer_id"])
    with pytest.raises(ModelError, match="label column"):
        score_frame(world.features.assign(churned=False), loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    other_week = world.features.assign(as_of_date=SCORE_AS_OF - timedelta(days=7))
    with pytest.raises(ModelError, match="other than"):
        score_frame(other_week, loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    with pytest.raises(ModelError, match="twice"):
        score_frame(
            pd.concat([world.features, world.features.head(2)]),
            loaded,
            world.cfg,
            SCORE_AS_OF,
            "r",
            NOW,
        )


def test_shuffling_rows_changes_nothing(champion):
    world, loaded = champion
    one = score_frame(world.features, loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    shuffled = world.features.sample(frac=1.0, random_state=11)
    two = score_frame(shuffled, loaded, world.cfg, SCORE_AS_OF, "r", NOW)
    key = "customer_id"
    pd.testing.assert_frame_equal(
        one.sort_values(key).reset_index(drop=True), two.sort_values(key).reset_index(drop=True)
    )
