"""The two candidates: a logistic-regression baseline and monotone gradient boosting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models_ml.calibration import fit_platt, fold_platt
from models_ml.config import Candidates
from models_ml.features import (
    FeatureSchema,
    build_preprocessor,
    monotonic_constraints,
    output_to_input,
)

CANDIDATES = ("logreg", "hgb")


def fit_logreg(
    X: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    params: Candidates,
    sample_weight: np.ndarray | None = None,
):
    """Median-imputed, one-hot, standardised logistic regression (exactly additive)."""
    model = Pipeline(
        [
            ("prep", build_preprocessor(schema, for_linear=True)),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(C=params.logreg_c, max_iter=params.logreg_max_iter)),
        ]
    )
    return model.fit(X, y, clf__sample_weight=sample_weight)


def fit_hgb(
    X: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    params: Candidates,
    sample_weight: np.ndarray | None = None,
):
    """HistGradientBoosting on one-hot text, NaN routed natively, activity monotone."""
    prep = build_preprocessor(schema, for_linear=False).fit(X)
    owners = output_to_input(prep, schema)
    cst = monotonic_constraints(
        owners, schema, params.monotone_decreasing, params.monotone_increasing
    )
    clf = HistGradientBoostingClassifier(
        max_iter=params.hgb_max_iter,
        learning_rate=params.hgb_learning_rate,
        max_leaf_nodes=params.hgb_max_leaf_nodes,
        min_samples_leaf=params.hgb_min_samples_leaf,
        l2_regularization=params.hgb_l2_regularization,
        early_stopping=params.hgb_early_stopping,
        monotonic_cst=cst.tolist(),
        random_state=params.random_state,
    )
    clf.fit(prep.transform(X), y, sample_weight=sample_weight)
    return Pipeline([("prep", prep), ("clf", clf)])


def fit_candidate(
    name: str,
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    schema: FeatureSchema,
    params: Candidates,
    w_fit: np.ndarray | None = None,
    w_cal: np.ndarray | None = None,
) -> Pipeline:
    """Fit one candidate on the fit slice and fold Platt calibration from the next slice;
    `w_fit` / `w_cal` are the rows' sample weights when the slices are samples."""
    fitter = {"logreg": fit_logreg, "hgb": fit_hgb}[name]
    model = fitter(X_fit, y_fit, schema, params, sample_weight=w_fit)
    a, b = fit_platt(model.decision_function(X_cal), y_cal, sample_weight=w_cal)
    return fold_platt(model, a, b)


@dataclass(frozen=True)
class CandidateResult:
    """A fitted, calibrated candidate and how it did on the holdout."""

    name: str
    model: Pipeline
    metrics: dict[str, float]
    holdout_probability: np.ndarray
    direction_violations: dict[str, int]
    fit_seconds: float
