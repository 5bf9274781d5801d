"""Training reads a sample chosen in the warehouse: every positive, a share of negatives per
snapshot over the last N snapshots, drawn by hash (deterministic), weighted back so that the
probabilities stay calibrated; the holdout is whole weeks. Real DuckDB files throughout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import models_ml
from models_ml.candidates import fit_candidate
from models_ml.config import MLConfig
from models_ml.dataset import check_training_set, read_training_set, split_out_of_time
from models_ml.errors import ModelError
from models_ml.features import infer_schema, prepare_inputs
from models_ml.sampling import PARTS, budget_share, read_sampled_split
from models_ml.threads import compute_limits
from tests.models_ml.fixtures import (
    TRAIN_AS_OF,
    client_for,
    make_settings,
    small_config,
    training_frame,
)
from warehouse import WarehouseError, get_warehouse
from warehouse.interface import StratifiedSample

HORIZON = 28
TABLE = "features.training_set"
KEY = ["customer_id", "as_of_date"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A DuckDB warehouse holding a 3,000-customer training set (~35k rows, 18 weeks)."""
    wh = get_warehouse(make_settings(tmp_path_factory.mktemp("sample")))
    training = training_frame(3000)
    wh.write_table(training, TABLE)
    return wh, training


def keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["customer_id"], pd.to_datetime(frame["as_of_date"]).dt.date, strict=True))


def test_the_sample_holds_every_positive_and_the_share_of_negatives_of_each_snapshot(world):
    wh, training = world
    dates = tuple(sorted(training["as_of_date"].unique())[-6:])
    sample = StratifiedSample("customer_id", "as_of_date", "churned", dates, negative_share=0.25)
    rows = wh.read_sample(TABLE, sample)

    chosen = training[training["as_of_date"].isin(dates)]
    assert set(pd.to_datetime(rows["as_of_date"]).dt.date) == set(dates)
    assert keys(rows[rows["churned"]]) == keys(chosen[chosen["churned"]])
    per_date = (
        rows[~rows["churned"]].groupby(pd.to_datetime(rows["as_of_date"]).dt.date).size()
        / chosen[~chosen["churned"]].groupby("as_of_date").size()
    )
    assert len(per_date) == 6 and per_date.between(0.19, 0.31).all(), per_date


def test_the_sample_is_the_same_for_the_same_data_and_seed_whatever_the_row_order(world):
    wh, training = world
    dates = tuple(sorted(training["as_of_date"].unique())[-4:])
    sample = StratifiedSample("customer_id", "as_of_date", "churned", dates, negative_share=0.2)
    wh.write_table(training.sample(frac=1.0, random_state=3), "features.shuffled")
    first, again = wh.read_sample(TABLE, sample), wh.read_sample(TABLE, sample)
    shuffled = wh.read_sample("features.shuffled", sample)
    assert keys(first) == keys(again) == keys(shuffled)
    other_seed = StratifiedSample(
        "customer_id", "as_of_date", "churned", dates, negative_share=0.2, seed=8
    )
    assert keys(wh.read_sample(TABLE, other_seed)) != keys(first)


def test_fit_uses_only_the_last_n_snapshots_and_the_holdout_is_whole_weeks(world):
    wh, training = world
    cfg = small_config(train_snapshots=3, negative_share=0.3)
    split = read_sampled_split(wh, TABLE, cfg, TRAIN_AS_OF, HORIZON)

    whole = split_out_of_time(check_training_set(training, cfg, "t", TRAIN_AS_OF, HORIZON), cfg, 28)
    assert split.fit.attrs["dates"] == whole.fit.attrs["dates"][-3:]
    assert set(split.fit["as_of_date"]) == set(whole.fit.attrs["dates"][-3:])
    assert split.calibration.attrs["dates"] == whole.calibration.attrs["dates"]
    # the holdout is every row of its weeks, in the same order as a whole-table read
    pd.testing.assert_frame_equal(
        split.holdout[KEY + ["churned"]], whole.holdout[KEY + ["churned"]], check_dtype=False
    )
    assert "holdout" not in split.weights
    # fit and calibration: every positive weighs 1, every negative 1/0.3
    for part in ("fit", "calibration"):
        frame, weight = getattr(split, part), split.weights[part]
        assert len(weight) == len(frame)
        assert np.allclose(weight[frame["churned"].to_numpy()], 1.0)
        assert np.allclose(weight[~frame["churned"].to_numpy()], 1 / 0.3)
    described = split.describe()
    assert described["fit_snapshots"] == 3
    assert described["fit_negative_share"] == 0.3 and described["holdout_negative_share"] == 1.0
    assert described["holdout_selection"] == "whole weeks"
    assert described["fit_rows"] < described["fit_population_rows"]
    assert described["fit_positives_read"] == described["fit_population_positives"]
    # weighted counts give back the population of the fit weeks
    assert abs(split.weights["fit"].sum() / described["fit_population_rows"] - 1) < 0.05


def test_a_holdout_above_its_budget_is_a_uniform_sample_and_says_so(world):
    wh, _ = world
    cfg = small_config(holdout_row_budget=2000)
    split = read_sampled_split(wh, TABLE, cfg, TRAIN_AS_OF, HORIZON)
    described = split.describe()
    share = described["holdout_positive_share"]
    assert share == described["holdout_negative_share"] < 1
    assert described["holdout_selection"].startswith("uniform sample of")
    assert abs(len(split.holdout) - 2000) < 200
    assert split.holdout["churned"].sum() < described["holdout_population_positives"]


def test_a_table_below_the_budget_is_read_whole_through_the_same_selection(world):
    wh, _ = world
    cfg = small_config()  # train_row_budget 1M: far above the ~35k rows here
    split = read_sampled_split(wh, TABLE, cfg, TRAIN_AS_OF, HORIZON)
    whole = read_training_set(wh, TABLE)
    expected = split_out_of_time(check_training_set(whole, cfg, TABLE, TRAIN_AS_OF, 28), cfg, 28)
    for part in ("fit", "calibration", "holdout"):
        pd.testing.assert_frame_equal(getattr(split, part), getattr(expected, part))
    assert split.weights == {}
    assert split.describe()["fit_negative_share"] == 1.0


def test_the_share_comes_from_the_row_budget():
    assert budget_share(rows=900, positives=90, budget=1000) == 1.0
    assert budget_share(rows=10_000, positives=200, budget=2_000) == pytest.approx(1800 / 9800)
    # never fewer negatives than positives, even when positives alone exceed the budget
    assert budget_share(rows=10_000, positives=3_000, budget=2_000) == pytest.approx(3000 / 7000)


def test_weighted_training_on_a_sample_keeps_probabilities_calibrated(tmp_path):
    wh = get_warehouse(make_settings(tmp_path))
    wh.write_table(training_frame(4000, seed=2), TABLE)
    cfg = small_config(negative_share=0.1)
    split = read_sampled_split(wh, TABLE, cfg, TRAIN_AS_OF, HORIZON)
    schema = infer_schema(split.fit, KEY + ["churned"])
    X = {part: prepare_inputs(getattr(split, part), schema) for part in PARTS}
    y = {part: getattr(split, part)["churned"].to_numpy(dtype=int) for part in PARTS}
    observed = y["holdout"].mean()
    assert y["fit"].mean() > 3 * observed  # the sample is rich in positives

    def mean_probability(name: str, weighted: bool) -> float:
        w_fit, w_cal = (
            (split.weights["fit"], split.weights["calibration"]) if weighted else (None, None)
        )
        model = fit_candidate(
            name,
            X["fit"],
            y["fit"],
            X["calibration"],
            y["calibration"],
            schema,
            cfg.candidates,
            w_fit=w_fit,
            w_cal=w_cal,
        )
        return float(model.predict_proba(X["holdout"])[:, 1].mean())

    with compute_limits(2):
        for name in ("logreg", "hgb"):
            mean = mean_probability(name, weighted=True)
            assert abs(mean - observed) < 0.2 * observed, (name, mean, observed)
        # without the weights the same sample overstates churn several times over
        assert mean_probability("hgb", weighted=False) > 2 * observed


def test_every_check_of_the_training_set_still_applies_to_what_is_read(tmp_path):
    wh = get_warehouse(make_settings(tmp_path))
    cfg = small_config(negative_share=0.3)
    training = training_frame(400)
    last = training["as_of_date"].max()

    def fails(frame: pd.DataFrame, match: str) -> None:
        wh.write_table(frame, "features.bad")
        with pytest.raises(ModelError, match=match):
            read_sampled_split(wh, "features.bad", cfg, TRAIN_AS_OF, HORIZON)

    fails(training.drop(columns="churned"), "lacks the contract columns")
    nulls = training.astype({"churned": "object"})
    nulls.loc[nulls.index[-1], "churned"] = None  # a null label is never sampled away
    fails(nulls, "null values")
    fails(training.assign(churned=np.where(training["churned"], "yes", "no")), "not boolean")
    fails(training.assign(churned=False), "single class")
    positive = training[training["churned"] & (training["as_of_date"] == last)].head(1)
    fails(pd.concat([training, positive]), "duplicate")
    fails(training.head(0), "no rows")
    with pytest.raises(ModelError, match="does not exist"):
        read_sampled_split(wh, "features.nope", cfg, TRAIN_AS_OF, HORIZON)


def test_a_sample_refuses_bad_shares_and_names():
    day = TRAIN_AS_OF
    with pytest.raises(WarehouseError, match="share"):
        StratifiedSample("customer_id", "as_of_date", "churned", (day,), negative_share=0.0)
    with pytest.raises(WarehouseError, match="invalid"):
        StratifiedSample("customer_id; drop table x", "as_of_date", "churned", (day,))
    with pytest.raises(WarehouseError, match="snapshot date"):
        StratifiedSample("customer_id", "as_of_date", "churned", ())


def test_sampling_settings_come_from_churn_ml_variables(monkeypatch):
    monkeypatch.setenv("CHURN_ML_TRAIN_SNAPSHOTS", "26")
    monkeypatch.setenv("CHURN_ML_NEGATIVE_SHARE", "0.2")
    monkeypatch.setenv("CHURN_ML_TRAIN_ROW_BUDGET", "500000")
    cfg = MLConfig()
    assert (cfg.train_snapshots, cfg.negative_share, cfg.train_row_budget) == (26, 0.2, 500_000)
    monkeypatch.setenv("CHURN_ML_NEGATIVE_SHARE", "1.5")
    with pytest.raises(ValueError, match="negative_share"):
        MLConfig()


def test_the_training_run_records_how_it_sampled(env):
    cfg = env.cfg.model_copy(update={"negative_share": 0.4, "train_snapshots": 4})
    result = models_ml.train(
        TRAIN_AS_OF, settings=env.settings, cfg=cfg, warehouse=env.warehouse, promote=False
    )
    run = client_for(env.settings).get_run(result.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert params["data_fit_negative_share"] == "0.4"
    assert params["data_fit_snapshots"] == "4"
    assert params["data_holdout_selection"] == "whole weeks"
    assert metrics["sample_fit_negative_weight"] == pytest.approx(2.5)
    assert metrics["sample_fit_population_rows"] > float(params["data_fit_rows"])
    assert metrics["sample_holdout_population_rows"] == float(params["data_holdout_rows"])
    assert result.snapshot["calibration_negative_share"] == 0.4
