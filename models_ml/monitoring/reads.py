"""What the drift and outcomes checks read from the warehouse and the tracking server.

Kept out of the jobs so that a flow only wires steps: these are the business reads (which
rows are the reference, which snapshot is current, which labels judge a prediction).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from models_ml.config import MLConfig

REFERENCE_SAMPLE_ROWS = 50_000


def training_reference(
    warehouse, mlflow_uri: str, run_id: str, cfg: MLConfig | None = None
) -> pd.DataFrame:
    """A sample of the champion's fit window of its training table, from the run's params
    (the rows the model learned from: drift is measured against them)."""
    from models_ml.registry import connect

    cfg = cfg or MLConfig()
    params = connect(mlflow_uri).get_run(run_id).data.params
    table = params.get("table", cfg.training_table)
    first, last = params["data_fit_first_date"], params["data_fit_last_date"]
    return warehouse.sample(
        f"select * from {table} where as_of_date between ? and ?",
        [date.fromisoformat(first), date.fromisoformat(last)],
        rows=REFERENCE_SAMPLE_ROWS,
    )


def current_features(warehouse, as_of: date, cfg: MLConfig | None = None) -> pd.DataFrame:
    """The latest features snapshot at or before `as_of` (what the champion scores now)."""
    table = (cfg or MLConfig()).features_table
    return warehouse.query(
        f"select * from {table} where as_of_date = "
        f"(select max(as_of_date) from {table} where as_of_date <= ?)",
        [as_of],
    )


def drift_inputs(
    warehouse,
    mlflow_uri: str,
    run_id: str,
    features: list[str],
    as_of: date,
    cfg: MLConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current), each limited to the model's features that it has."""
    reference = training_reference(warehouse, mlflow_uri, run_id, cfg)
    current = current_features(warehouse, as_of, cfg)
    return (
        reference[[c for c in features if c in reference.columns]],
        current[[c for c in features if c in current.columns]],
    )


def outcome_inputs(warehouse, cfg: MLConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions, labels): every prediction, and the labels dbt has derived so far."""
    cfg = cfg or MLConfig()
    predictions = warehouse.read_table(cfg.predictions_table)
    labels = warehouse.query(f"select customer_id, as_of_date, churned from {cfg.training_table}")
    return predictions, labels
