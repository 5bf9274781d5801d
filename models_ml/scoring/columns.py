"""The columns of `ml.churn_predictions` and `ml.holdout_assignments`, declared once.

Local scoring builds its frame in this order, in-warehouse scoring creates and fills the
BigQuery table from it, and a test holds the dbt source (`_ml__sources.yml`) and the marts'
empty stand-in for the table to the same list.
"""

from __future__ import annotations

# (name, BigQuery type); scored_at is naive UTC on both paths
PREDICTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "STRING"),
    ("as_of_date", "DATE"),
    ("model_name", "STRING"),
    ("model_version", "STRING"),
    ("churn_probability", "FLOAT64"),
    ("risk_tier", "STRING"),
    ("risk_rank", "INT64"),
    ("driver_1", "STRING"),
    ("driver_2", "STRING"),
    ("driver_3", "STRING"),
    ("run_id", "STRING"),
    ("scored_at", "DATETIME"),
)
PREDICTION_NAMES: tuple[str, ...] = tuple(name for name, _ in PREDICTION_COLUMNS)
# one batch of predictions: a rerun of the same job replaces exactly these rows
BATCH_KEY: tuple[str, ...] = ("as_of_date", "model_name", "model_version")

# `ml.holdout_assignments` (models_ml/holdout.py): one row per customer High-risk episode,
# written once; (name, BigQuery type)
HOLDOUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "STRING"),
    ("episode_start", "DATE"),
    ("holdout_group", "STRING"),
    ("share", "FLOAT64"),
    ("key_id", "STRING"),
    ("hash_version", "STRING"),
    ("model_name", "STRING"),
    ("model_version", "STRING"),
    ("assigned_at", "DATETIME"),
)
HOLDOUT_NAMES: tuple[str, ...] = tuple(name for name, _ in HOLDOUT_COLUMNS)
# one episode: an insert-only write adds a row only for a key not stored yet
HOLDOUT_KEY: tuple[str, ...] = ("customer_id", "episode_start")
