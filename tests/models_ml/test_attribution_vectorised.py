"""The attribution over all trees at once equals a walk of every tree, row by row.

The reference below is deliberately naive: the model's own preprocessing and bin mapper,
then each customer walked down each tree in Python with sklearn's routing rules (missing
bin, categorical bitsets, bin thresholds), crediting each split's feature with the change in
the count-weighted mean of the leaves below. It shares no code with `models_ml.attribution`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from models_ml.attribution import attribute, attribute_chunks, classifier_inputs, forest_of
from models_ml.candidates import fit_hgb
from models_ml.dataset import check_training_set, split_out_of_time
from models_ml.drivers import TOP_DRIVERS, top_contributions, top_drivers
from models_ml.features import (
    FeatureSchema,
    PreparedColumns,
    infer_schema,
    output_to_input,
    prepare_inputs,
)
from models_ml.scoring.local import assign_tiers
from models_ml.threads import compute_limits
from tests.models_ml.fixtures import TRAIN_AS_OF, small_config, training_frame

NAMED = ["customer_id", "as_of_date", "churned"]


def reference_attribution(model: Pipeline, X: pd.DataFrame, schema: FeatureSchema):
    """(bias, contributions) by walking every tree for every row."""
    clf = model[-1]
    owners = output_to_input(model.named_steps["prep"], schema)
    binned = clf._bin_mapper.transform(np.asarray(model[:-1].transform(X), dtype=np.float64))
    missing = clf._bin_mapper.missing_values_bin_idx_
    bias = float(clf._baseline_prediction.ravel()[0])
    out = np.zeros((len(X), len(schema.columns)))
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        mean: dict[int, float] = {}
        bias += _leaf_mean(nodes, 0, mean)
        for row in range(len(X)):
            i = 0
            while not nodes["is_leaf"][i]:
                feature = int(nodes["feature_idx"][i])
                value = int(binned[row, feature])
                if value == missing:
                    left = bool(nodes["missing_go_to_left"][i])
                elif nodes["is_categorical"][i]:
                    words = predictor.binned_left_cat_bitsets[nodes["bitset_idx"][i]]
                    left = bool((int(words[value // 32]) >> (value % 32)) & 1)
                else:
                    left = value <= int(nodes["bin_threshold"][i])
                child = int(nodes["left"][i] if left else nodes["right"][i])
                out[row, owners[feature]] += mean[child] - mean[i]
                i = child
    return bias, out


def _leaf_mean(nodes: np.ndarray, i: int, mean: dict[int, float]) -> float:
    """Count-weighted mean of the leaves under node i (stored in `mean` for every node)."""
    if nodes["is_leaf"][i]:
        mean[i] = float(nodes["value"][i])
    else:
        left, right = int(nodes["left"][i]), int(nodes["right"][i])
        cl, cr = float(nodes["count"][left]), float(nodes["count"][right])
        ml, mr = _leaf_mean(nodes, left, mean), _leaf_mean(nodes, right, mean)
        mean[i] = (cl * ml + cr * mr) / (cl + cr) if cl + cr else 0.0
    return mean[i]


@pytest.fixture(scope="module")
def data():
    cfg = small_config()
    df = check_training_set(training_frame(900), cfg, "t", TRAIN_AS_OF, 28)
    schema = infer_schema(df, NAMED)
    split = split_out_of_time(df, cfg, 28)
    holdout = split.holdout.iloc[:400].copy()
    # every routing case: unseen and missing categories, missing numbers and flags
    holdout.loc[holdout.index[:15], "plan"] = "platinum"
    holdout.loc[holdout.index[15:30], "industry"] = None
    holdout.loc[holdout.index[30:45], ["logins_30d", "mrr"]] = np.nan
    assert "categorical" in schema.kinds and "numeric" in schema.kinds
    return cfg, schema, split, holdout


@pytest.fixture(scope="module")
def hgb(data):
    cfg, schema, split, _ = data
    X = prepare_inputs(split.fit, schema)
    assert X.isna().any().any()  # the model learns where missing values go
    with compute_limits(cfg.threads):
        return fit_hgb(X, split.fit[cfg.label_column].to_numpy(dtype=int), schema, cfg.candidates)


def test_vectorised_attribution_equals_walking_every_tree(data, hgb):
    _, schema, _, holdout = data
    X = prepare_inputs(holdout, schema)
    bias, expected = reference_attribution(hgb, X, schema)
    got = attribute(hgb, X, schema)
    assert forest_of(hgb, schema).binner.plan is not None  # the one-hot fast path
    assert got.bias == pytest.approx(bias, abs=1e-12)
    np.testing.assert_allclose(got.contributions, expected, rtol=0, atol=1e-12)
    # the probability is sigmoid(bias + contributions) and is the model's own
    np.testing.assert_allclose(got.probability, hgb.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    # the edited rows really took other paths than the untouched ones
    assert np.abs(got.contributions[:45]).sum() > 0


def test_fallback_coding_by_bins_equals_walking_every_tree(data):
    """Native categorical splits (bitsets) and preprocessing other than passthrough +
    one-hot go through the bins of the model's own mapper."""
    cfg, _, split, holdout = data
    text = ["plan", "contract_type", "industry"]
    schema = FeatureSchema(tuple(text), ("categorical",) * len(text))
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    model = Pipeline(
        [
            ("prep", ColumnTransformer([("num", encoder, text)])),
            (
                "clf",
                HistGradientBoostingClassifier(
                    max_iter=25, categorical_features=[True] * len(text), random_state=0
                ),
            ),
        ]
    )
    fit = split.fit.copy()
    fit.loc[fit.index[::9], "industry"] = None
    model.fit(fit[text], fit[cfg.label_column].to_numpy(dtype=int))
    X = holdout[text]
    assert forest_of(model, schema).binner.plan is None
    assert any(n["is_categorical"].any() for (p,) in model[-1]._predictors for n in [p.nodes])
    bias, expected = reference_attribution(model, X, schema)
    got = attribute(model, X, schema)
    assert got.bias == pytest.approx(bias, abs=1e-12)
    np.testing.assert_allclose(got.contributions, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.probability, model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


def test_one_row_at_a_time_gives_the_batch_numbers(data, hgb):
    """The single-row path (dict lookups of categories, cached tables) is the batch path."""
    _, schema, _, holdout = data
    X = prepare_inputs(holdout, schema)
    whole = attribute(hgb, X, schema).contributions
    for row in (0, 20, 40, 399):
        one = attribute(hgb, X.iloc[[row]], schema).contributions
        np.testing.assert_array_equal(one[0], whole[row])
    chunked = np.concatenate([a.contributions for _, a in attribute_chunks(hgb, X, schema, 7)])
    np.testing.assert_array_equal(chunked, whole)


def test_a_payloads_arrays_score_as_the_frame_does(data, hgb):
    """A few rows as arrays (the API's payloads, no DataFrame) give the frame's numbers, and
    their phrases (formatted one by one) are those of the whole holdout's (hashed once)."""
    _, schema, _, holdout = data
    X = prepare_inputs(holdout, schema)
    whole = attribute(hgb, X, schema).contributions
    few = X.iloc[:5]
    columns = PreparedColumns({c: few[c].to_numpy() for c in schema.columns}, len(few))
    got = attribute(hgb, columns, schema).contributions
    np.testing.assert_array_equal(got, whole[:5])
    expected = [list(d[:5]) for d in top_drivers(whole, X, schema)]
    assert [list(d) for d in top_drivers(got, columns, schema)] == expected
    np.testing.assert_array_equal(
        classifier_inputs(hgb, columns, schema), classifier_inputs(hgb, few, schema)
    )


def test_classifier_inputs_are_the_column_transformers_output(data, hgb):
    _, schema, _, holdout = data
    X = prepare_inputs(holdout, schema)
    expected = np.asarray(hgb[:-1].transform(X), dtype=np.float64)
    np.testing.assert_array_equal(classifier_inputs(hgb, X, schema), expected)
    np.testing.assert_array_equal(classifier_inputs(hgb, X.iloc[:3], schema), expected[:3])


def test_tables_are_rebuilt_when_the_model_changes(data, hgb):
    _, schema, _, holdout = data
    X = prepare_inputs(holdout.iloc[:50], schema)
    before = attribute(hgb, X, schema).margin
    clf = hgb[-1]
    for (predictor,) in clf._predictors:
        predictor.nodes["value"] *= 2.0
    try:
        after = attribute(hgb, X, schema)
        np.testing.assert_allclose(after.probability, hgb.predict_proba(X)[:, 1], atol=1e-12)
        assert not np.allclose(after.margin, before)
    finally:
        for (predictor,) in clf._predictors:
            predictor.nodes["value"] /= 2.0


def test_top_contributions_are_the_largest_in_order():
    rng = np.random.default_rng(1)
    contributions = rng.normal(size=(500, 9))
    contributions[:50, 3] = contributions[:50, 5] = 9.0  # a tie: the first column ranks first
    top = top_contributions(contributions)
    expected = np.sort(contributions, axis=1)[:, ::-1][:, :TOP_DRIVERS]
    np.testing.assert_array_equal(top.chosen, expected)
    np.testing.assert_array_equal(np.take_along_axis(contributions, top.order, 1), expected)
    assert (top.order[:50, :2] == [3, 5]).all()


def test_drivers_name_only_features_pushing_risk_up(data, hgb):
    _, schema, _, holdout = data
    X = prepare_inputs(holdout, schema)
    contributions = attribute(hgb, X, schema).contributions
    drivers = top_drivers(contributions, X, schema)
    positive = (contributions > 1e-6).sum(axis=1)
    for rank in range(TOP_DRIVERS):
        named = np.array([d is not None for d in drivers[rank]])
        np.testing.assert_array_equal(named, positive > rank)


def test_tiers_rank_ties_by_customer_id_whatever_the_row_order():
    rng = np.random.default_rng(2)
    p = np.round(rng.random(3000), 2)  # many ties
    ids = np.array([f"c{i:05d}" for i in rng.permutation(3000)], dtype=object)
    tiers = small_config().tiers
    _, rank = assign_tiers(p, ids, tiers)
    expected = np.empty(3000, dtype=np.int64)
    expected[np.lexsort((ids.astype(str), -p))] = np.arange(1, 3001)
    np.testing.assert_array_equal(rank, expected)
    few = p.copy()
    few[:2900] = np.arange(2900) / 2900  # a few ties only: the partial re-sort
    _, rank = assign_tiers(few, ids, tiers)
    expected[np.lexsort((ids.astype(str), -few))] = np.arange(1, 3001)
    np.testing.assert_array_equal(rank, expected)


def test_a_split_of_missing_against_every_number():
    """A split whose threshold is the last bin sends every number left and only missing
    values right: it has no float threshold of its own."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=4000).astype(np.float64)
    x[rng.random(4000) < 0.3] = np.nan
    y = np.isnan(x) ^ (rng.random(4000) < 0.05)
    frame = pd.DataFrame({"x": x.astype(np.float32), "z": rng.normal(size=4000)})
    schema = FeatureSchema(("x", "z"), ("numeric", "numeric"))
    model = Pipeline(
        [
            ("prep", ColumnTransformer([("num", "passthrough", ["x", "z"])])),
            ("clf", HistGradientBoostingClassifier(max_iter=10, random_state=0)),
        ]
    ).fit(frame, y.astype(int))
    nodes = [p.nodes for (p,) in model[-1]._predictors]
    last_bin = len(model[-1]._bin_mapper.bin_thresholds_[0])
    assert any(((n["feature_idx"] == 0) & (n["bin_threshold"] == last_bin)).any() for n in nodes)
    bias, expected = reference_attribution(model, frame, schema)
    got = attribute(model, frame, schema)
    np.testing.assert_allclose(got.contributions, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.probability, model.predict_proba(frame)[:, 1], atol=1e-12)
