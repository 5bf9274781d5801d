"""Candidates, calibration, attribution, drivers, metrics and ONNX, without MLflow."""

from __future__ import annotations

import numpy as np
import pytest

from models_ml.attribution import attribute
from models_ml.dataset import check_training_set, split_out_of_time
from models_ml.drivers import PHRASES, phrase_for, render, top_drivers
from models_ml.evaluation import holdout_metrics, lift_capture
from models_ml.features import MISSING, infer_schema, prepare_inputs
from models_ml.onnx_export import parity_error, to_onnx
from models_ml.threads import compute_limits
from models_ml.training import choose, fit_candidates
from tests.models_ml.fixtures import TRAIN_AS_OF, small_config, training_frame

NAMED = ["customer_id", "as_of_date", "churned"]


@pytest.fixture(scope="module")
def fitted():
    cfg = small_config()
    df = check_training_set(training_frame(1200), cfg, "t", TRAIN_AS_OF, 28)
    schema = infer_schema(df, NAMED)
    split = split_out_of_time(df, cfg, 28)
    with compute_limits(cfg.threads):
        results = fit_candidates(split, schema, cfg)
    return cfg, schema, split, results


@pytest.mark.parametrize("name", ["logreg", "hgb"])
def test_attribution_adds_up_to_the_calibrated_probability(fitted, name):
    _, schema, split, results = fitted
    model = results[name].model
    X = prepare_inputs(split.holdout, schema)
    attribution = attribute(model, X, schema)
    assert attribution.contributions.shape == (len(X), len(schema.columns))
    np.testing.assert_allclose(attribution.probability, model.predict_proba(X)[:, 1], atol=1e-6)


def test_both_candidates_have_signal_and_calibrated_probabilities(fitted):
    cfg, _, split, results = fitted
    for result in results.values():
        assert result.metrics["roc_auc"] > 0.75
        # calibrated: the mean probability is close to the observed rate on the holdout
        assert abs(result.metrics["mean_probability"] - result.metrics["base_rate"]) < 0.02
    assert choose(results, cfg).name in results


def test_gradient_boosting_never_raises_risk_with_more_activity(fitted):
    _, _, _, results = fitted
    assert not any(results["hgb"].direction_violations.values())


@pytest.mark.parametrize("name", ["logreg", "hgb"])
def test_onnx_export_matches_scikit_learn(fitted, name):
    _, schema, split, results = fitted
    model = results[name].model
    X = prepare_inputs(split.holdout, schema)
    assert parity_error(model, to_onnx(model, schema), X) < 1e-5


def test_drivers_name_only_features_that_push_risk_up(fitted):
    _, schema, split, results = fitted
    model = results["hgb"].model
    X = prepare_inputs(split.holdout, schema)
    attribution = attribute(model, X, schema)
    drivers = top_drivers(attribution.contributions, X, schema)
    phrases = {
        name: phrase_for(name, kind)
        for name, kind in zip(schema.columns, schema.kinds, strict=True)
    }
    checked = 0
    for row in range(0, len(X), 37):
        positive = {schema.columns[j] for j in np.flatnonzero(attribution.contributions[row] > 0)}
        expected = sum(attribution.contributions[row] > 1e-6)
        named = [d[row] for d in drivers if d[row] is not None]
        assert len(named) == min(3, expected)
        for text in named:
            # every phrase comes from a feature with a positive contribution for this customer
            owners = [n for n in positive if render(phrases[n], X[n].to_numpy()[[row]])[0] == text]
            assert owners, (row, text)
            checked += 1
    assert checked > 20


def test_phrases_read_like_a_cs_manager_would_say_them():
    assert render(PHRASES["logins_30d_change_pct"], np.array([-0.6]))[0] == (
        "logins down 60% vs the prior month"
    )
    assert render(PHRASES["failed_payments_90d"], np.array([2.0]))[0] == (
        "2 failed payments in the last 90 days"
    )
    assert render(PHRASES["failed_payments_90d"], np.array([1.0]))[0] == (
        "1 failed payment in the last 90 days"
    )
    assert render(PHRASES["days_since_last_login"], np.array([np.nan]))[0] == ("no login on record")
    assert render(PHRASES["plan"], np.array(["starter"], dtype=object))[0] == (
        "on the starter plan"
    )
    assert render(PHRASES["has_discount"], np.array([0.0]))[0] == "no discount"


def test_unknown_features_get_a_generic_readable_phrase():
    assert render(phrase_for("webinar_signups_30d", "numeric"), np.array([4.0]))[0] == (
        "webinar signups (last 30 days): 4"
    )
    assert render(phrase_for("segment", "categorical"), np.array([MISSING], dtype=object))[0] == (
        "segment: unknown"
    )
    assert render(phrase_for("is_partner", "boolean"), np.array([1.0]))[0] == "is partner: yes"


def test_lift_and_capture_on_a_hand_example():
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    lift, capture = lift_capture(y, p, 0.2)  # top 2 rows hold one of two churners
    assert capture == 0.5 and lift == pytest.approx(0.5 / 0.2)
    metrics = holdout_metrics(y, p)
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_5", "capture_top_20"):
        assert key in metrics


def test_training_ignores_row_order(fitted):
    cfg, schema, split, results = fitted
    shuffled = training_frame(1200).sample(frac=1.0, random_state=3)
    df = check_training_set(shuffled, cfg, "t", TRAIN_AS_OF, 28)
    with compute_limits(cfg.threads):
        again = fit_candidates(split_out_of_time(df, cfg, 28), schema, cfg, names=("hgb",))
    X = prepare_inputs(split.holdout, schema)
    np.testing.assert_allclose(
        again["hgb"].model.predict_proba(X), results["hgb"].model.predict_proba(X), atol=1e-12
    )
    assert again["hgb"].metrics == results["hgb"].metrics


def test_binning_from_the_prepared_frame_matches_the_models_own_bin_mapper(fitted):
    from models_ml.attribution import _Binner

    _, schema, split, results = fitted
    model = results["hgb"].model
    odd = split.holdout.copy()
    odd.loc[odd.index[:20], "plan"] = "platinum"  # unseen category: every one-hot column 0
    odd.loc[odd.index[20:40], "industry"] = None
    odd.loc[odd.index[40:60], ["logins_30d", "mrr"]] = np.nan
    X = prepare_inputs(odd, schema)
    clf = model[-1]
    binner = _Binner(model.named_steps["prep"], clf, model)
    assert binner.plan is not None  # the fast path, not the fallback
    expected = clf._bin_mapper.transform(np.asarray(model[:-1].transform(X), dtype=np.float64))
    np.testing.assert_array_equal(binner(X), expected)


@pytest.mark.parametrize("name", ["logreg", "hgb"])
def test_attribution_in_chunks_equals_one_pass(fitted, name):
    from models_ml.attribution import attribute_chunks
    from models_ml.drivers import top_contributions

    _, schema, split, results = fitted
    model = results[name].model
    X = prepare_inputs(split.holdout, schema)
    whole = attribute(model, X, schema)
    parts = list(attribute_chunks(model, X, schema, chunk_rows=97))
    assert [start for start, _ in parts] == list(range(0, len(X), 97))
    chunked = np.concatenate([a.contributions for _, a in parts])
    np.testing.assert_array_equal(chunked, whole.contributions)
    top = top_contributions(whole.contributions)
    assert top_drivers(top, X, schema)[0].tolist() == (
        top_drivers(whole.contributions, X, schema)[0].tolist()
    )
