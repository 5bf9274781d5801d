"""Platt scaling folded into the model itself.

Sigmoid calibration fits p = sigmoid(a * margin + b) on a later slice of snapshots. Because it
is affine in the margin, it can be folded into the model (scale the coefficients or the tree
leaves by `a`, shift the intercept by `b`): the calibrated model stays a plain scikit-learn
pipeline, so ONNX export, MLflow loading and exact per-customer attributions all see the same
calibrated numbers. Isotonic calibration would break that, and needs more data than the
weekly slices we calibrate on.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from models_ml.errors import ModelError


def fit_platt(
    margin: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[float, float]:
    """(a, b) of the sigmoid mapping the model's margin to calibrated probabilities;
    `sample_weight` (1/share of each row's class in a sampled slice) makes them the
    probabilities of the whole population, not of the sample."""
    platt = LogisticRegression(C=1e6, max_iter=1000)
    platt.fit(
        np.asarray(margin, dtype=float).reshape(-1, 1),
        np.asarray(y, dtype=int),
        sample_weight=sample_weight,
    )
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    if not a > 0:
        raise ModelError(
            f"calibration found no positive relation between the model's score and churn "
            f"(slope {a:.3g})",
            "the features carry no signal on recent snapshots: check the training set",
        )
    return a, b


def fold_platt(model: Pipeline, a: float, b: float) -> Pipeline:
    """Make `model.predict_proba` return sigmoid(a * margin + b), in place."""
    clf = model[-1]
    if isinstance(clf, LogisticRegression):
        clf.coef_ = clf.coef_ * a
        clf.intercept_ = clf.intercept_ * a + b
    elif isinstance(clf, HistGradientBoostingClassifier):
        for predictors in clf._predictors:
            for predictor in predictors:
                predictor.nodes["value"] *= a
        clf._baseline_prediction = clf._baseline_prediction * a + b
    else:  # pragma: no cover - only our two candidates exist
        raise TypeError(f"cannot fold calibration into {type(clf).__name__}")
    return model
