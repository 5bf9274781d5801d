"""Behaviour checks a model must pass, whatever its metrics: more activity never raises risk.

Used to choose among candidates and as an integration check before promotion, and by the
behaviour tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.config import Candidates
from models_ml.features import FeatureSchema, monotone_columns

TOLERANCE = 1e-9


def direction_violations(
    model: Pipeline, X: pd.DataFrame, schema: FeatureSchema, params: Candidates
) -> dict[str, int]:
    """Per activity column, how many customers' risk goes the wrong way when only that column
    grows by half plus one (activity: must not rise; inactivity such as days since the last
    login: must not fall)."""
    base = model.predict_proba(X)[:, 1]
    out: dict[str, int] = {}
    for sign, patterns in ((-1, params.monotone_decreasing), (1, params.monotone_increasing)):
        for column in monotone_columns(schema, patterns):
            moved = X.copy()
            moved[column] = (X[column] * 1.5 + 1).astype(X[column].dtype)
            p = model.predict_proba(moved)[:, 1]
            wrong = p > base + TOLERANCE if sign < 0 else p < base - TOLERANCE
            out[column] = int(np.count_nonzero(wrong))
    return out
