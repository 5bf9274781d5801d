"""The training set contract and the out-of-time split; bad training sets fail clearly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models_ml.config import MLConfig
from models_ml.dataset import check_training_set, read_training_set, split_out_of_time
from models_ml.errors import ModelError
from tests.models_ml.fixtures import TRAIN_AS_OF, make_settings, training_frame
from warehouse import get_warehouse

CFG = MLConfig()
HORIZON = 28


def test_split_is_out_of_time_with_an_embargo_and_no_shared_customer_week():
    df = check_training_set(training_frame(400), CFG, "t", TRAIN_AS_OF, HORIZON)
    split = split_out_of_time(df, CFG, HORIZON)
    dates = sorted(df["as_of_date"].unique())
    assert split.holdout.attrs["dates"] == dates[-CFG.holdout_snapshots :]
    first_holdout = min(split.holdout["as_of_date"])
    for part in (split.fit, split.calibration):
        assert max(part["as_of_date"]) + timedelta(days=HORIZON) <= first_holdout
    assert max(split.fit["as_of_date"]) < min(split.calibration["as_of_date"])
    keys = [
        set(zip(p["customer_id"], p["as_of_date"], strict=True))
        for p in (split.fit, split.calibration, split.holdout)
    ]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_only_label_complete_snapshots_at_as_of_are_used():
    early = TRAIN_AS_OF - timedelta(days=35)
    df = check_training_set(training_frame(200), CFG, "t", early, HORIZON)
    assert max(df["as_of_date"]) <= early - timedelta(days=HORIZON)


def test_missing_training_table_says_how_to_build_it(tmp_path):
    wh = get_warehouse(make_settings(tmp_path))
    with pytest.raises(ModelError, match="does not exist.*churn transform"):
        read_training_set(wh, "features.training_set")


def test_empty_training_set_is_refused(tmp_path):
    wh = get_warehouse(make_settings(tmp_path))
    wh.write_table(training_frame(50).head(0), "features.training_set")
    df = read_training_set(wh, "features.training_set")
    with pytest.raises(ModelError, match="no rows"):
        check_training_set(df, CFG, "features.training_set", TRAIN_AS_OF, HORIZON)


def test_single_class_label_is_refused():
    df = training_frame(100).assign(churned=False)
    with pytest.raises(ModelError, match="single class"):
        check_training_set(df, CFG, "t", TRAIN_AS_OF, HORIZON)


def test_missing_contract_columns_and_null_labels_are_refused():
    with pytest.raises(ModelError, match="lacks the contract columns"):
        check_training_set(
            training_frame(50).drop(columns="churned"), CFG, "t", TRAIN_AS_OF, HORIZON
        )
    df = training_frame(50).astype({"churned": "object"})
    df.loc[0, "churned"] = None
    with pytest.raises(ModelError, match="null"):
        check_training_set(df, CFG, "t", TRAIN_AS_OF, HORIZON)


def test_too_short_a_history_is_refused():
    df = training_frame(200)
    short = df[df["as_of_date"] <= sorted(df["as_of_date"].unique())[5]]
    short = check_training_set(short, CFG, "t", TRAIN_AS_OF, HORIZON)
    with pytest.raises(ModelError, match="snapshots"):
        split_out_of_time(short, CFG, HORIZON)
