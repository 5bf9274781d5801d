"""Predictions against what happened, once the horizon has passed: the monthly check.

A model is judged on the customers it actually scored, with the labels dbt derives later
(`features.training_set.churned`), per scoring month: ROC-AUC, precision in the High tier,
and calibration (mean predicted probability beside the observed churn rate).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

OUTCOME_COLUMNS = [
    "scoring_month",
    "model_version",
    "scored",
    "churned",
    "observed_rate",
    "mean_probability",
    "roc_auc",
    "high_tier",
    "precision_high",
    "recall_high",
    "checked_as_of",
]


def label_complete_predictions(
    predictions: pd.DataFrame, labels: pd.DataFrame, as_of: date, horizon_days: int
) -> pd.DataFrame:
    """Predictions whose horizon ended before `as_of`, joined to their labels.

    A prediction without a label (the customer left the features before its snapshot was
    labelled) is kept out rather than guessed.
    """
    cutoff = as_of - timedelta(days=horizon_days)
    done = predictions[pd.to_datetime(predictions["as_of_date"]).dt.date <= cutoff]
    keys = ["customer_id", "as_of_date"]
    left = done.assign(as_of_date=pd.to_datetime(done["as_of_date"]).dt.date)
    right = labels[keys + ["churned"]].assign(
        as_of_date=pd.to_datetime(labels["as_of_date"]).dt.date
    )
    return left.merge(right, on=keys, how="inner")


def outcomes_by_month(joined: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per scoring month and model version with AUC, High-tier precision, calibration."""
    if joined.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    frame = joined.assign(
        scoring_month=pd.to_datetime(joined["as_of_date"]).dt.to_period("M").dt.start_time.dt.date,
        churned=joined["churned"].astype(bool),
    )
    rows = []
    for (month, version), part in frame.groupby(["scoring_month", "model_version"]):
        y = part["churned"].to_numpy()
        p = part["churn_probability"].to_numpy(dtype=float)
        high = part["risk_tier"].eq("High").to_numpy()
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else np.nan
        rows.append(
            {
                "scoring_month": month,
                "model_version": str(version),
                "scored": len(part),
                "churned": int(y.sum()),
                "observed_rate": float(y.mean()),
                "mean_probability": float(p.mean()),
                "roc_auc": auc,
                "high_tier": int(high.sum()),
                "precision_high": float(y[high].mean()) if high.any() else np.nan,
                "recall_high": float(y[high].sum() / y.sum()) if y.sum() else np.nan,
                "checked_as_of": as_of,
            }
        )
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)


def decayed(outcomes: pd.DataFrame, min_auc: float) -> pd.DataFrame:
    """The months whose AUC fell below `min_auc` (the alert's evidence)."""
    return outcomes[outcomes["roc_auc"] < min_auc]
