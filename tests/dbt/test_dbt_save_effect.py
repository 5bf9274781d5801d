"""The holdout in the marts, on the raw fixture with predictions and assignments written as the
scoring job writes them: episodes, the CS list without open control episodes, and a
save_effect mart equal to the Python estimator on the same episodes."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dbt_helpers import run_dbt

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models_ml.monitoring.save_effect import COLUMNS, estimate  # noqa: E402
from warehouse.duckdb_warehouse import DuckDBWarehouse  # noqa: E402

SHARE = 0.5
NUMBERS = [c for c in COLUMNS if c not in ("month", "cumulative", "srm_mismatch")]


def _write_scores(path: Path) -> pd.DataFrame:
    """Predictions for every fixture snapshot (High in most weeks, every customer High in the
    last one) and one assignment per episode start, control for every other customer."""
    wh = DuckDBWarehouse(path)
    spine = wh.query("select customer_id, as_of_date from features.customer_features")
    spine["as_of_date"] = pd.to_datetime(spine["as_of_date"]).dt.date
    weeks = sorted(spine["as_of_date"].unique())
    number = spine["customer_id"].str[-1].astype(int)
    week = spine["as_of_date"].map({w: i for i, w in enumerate(weeks)})
    high = ((week + number) % 3 != 0) | (spine["as_of_date"] == weeks[-1])
    predictions = spine.assign(
        model_name="churn-model",
        model_version="1",
        churn_probability=np.where(high, 0.5, 0.01),
        risk_tier=np.where(high, "High", "Low"),
        risk_rank=1,
        driver_1="d",
        driver_2="d",
        driver_3="d",
        run_id="r",
        scored_at=pd.Timestamp("2025-01-01"),
    ).sort_values(["customer_id", "as_of_date"])
    wh.write_table(predictions, "ml.churn_predictions")
    previous = predictions.groupby("customer_id")["risk_tier"].shift()
    starts = predictions[(predictions["risk_tier"] == "High") & (previous != "High")]
    control = starts["customer_id"].str[-1].astype(int) % 2 == 1
    assignments = pd.DataFrame(
        {
            "customer_id": starts["customer_id"],
            "episode_start": starts["as_of_date"],
            "holdout_group": np.where(control, "control", "treated"),
            "share": SHARE,
            "key_id": "k",
            "hash_version": "v",
            "model_name": "churn-model",
            "model_version": "1",
            "assigned_at": pd.to_datetime(starts["as_of_date"]),
        }
    )
    wh.insert_new_rows(assignments, "ml.holdout_assignments", ["customer_id", "episode_start"])
    return assignments


def test_marts_keep_control_off_the_list_and_match_the_python_estimator(warehouse_copy):
    assignments = _write_scores(warehouse_copy)
    run = run_dbt(
        ["build", "--select", "customer_risk_history+"],
        warehouse_copy,
        warehouse_copy.parent / "target",
        env={"CHURN_ML_HOLDOUT_SHARE": str(SHARE)},
    )
    assert run.result.success, run.log[-3000:]
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        episodes = con.execute("select * from marts.high_risk_episodes").df()
        at_risk = con.execute("select * from marts.at_risk_customers").df()
        cases = con.execute("select * from marts.high_risk_cases").df()
        mart = con.execute("select * from marts.save_effect").df()
        churned = set(
            con.execute("select customer_id from intermediate.int_customer_churn_dates").df()[
                "customer_id"
            ]
        )
    finally:
        con.close()

    # every assignment is one episode, with its group
    day = {"episode_start": lambda f: pd.to_datetime(f["episode_start"]).dt.strftime("%F")}
    merged = assignments.assign(**day).merge(
        episodes.assign(**day), on=["customer_id", "episode_start"], suffixes=("", "_mart")
    )
    assert len(merged) == len(assignments) == len(episodes)
    assert (merged["holdout_group"] == merged["holdout_group_mart"]).all()
    assert set(cases["holdout_group"]) <= {"treated", "control"}

    # the CS list: open control episodes are off it, treated ones on it
    open_episodes = episodes[episodes["is_open"] & ~episodes["customer_id"].isin(churned)]
    held_out = set(open_episodes.loc[open_episodes["holdout_group"] == "control", "customer_id"])
    listed = set(open_episodes.loc[open_episodes["holdout_group"] == "treated", "customer_id"])
    assert held_out and listed
    assert not held_out & set(at_risk["customer_id"])
    assert listed <= set(at_risk["customer_id"])

    # the mart equals the Python estimator on the same episodes
    passed = episodes[episodes["horizon_passed"]]
    assert passed["holdout_group"].nunique() == 2
    python = estimate(
        pd.DataFrame(
            {
                "month": pd.to_datetime(passed["scoring_month"]),
                "holdout_group": passed["holdout_group"],
                "churned": passed["churned_within_horizon"].astype(bool),
                "mrr": passed["mrr_at_start"].astype(float),
            }
        ),
        share=SHARE,
    )
    mart = mart.assign(month=pd.to_datetime(mart["scoring_month"]).astype("datetime64[ns]"))
    python = python.assign(month=python["month"].astype("datetime64[ns]"))
    key = ["cumulative", "month"]
    mart = mart.sort_values(key, na_position="last").reset_index(drop=True)
    python = python.sort_values(key, na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(mart[key], python[key], check_dtype=False)
    for column in NUMBERS:
        np.testing.assert_allclose(
            mart[column].astype(float), python[column].astype(float), atol=1e-6, err_msg=column
        )
    assert (mart["srm_mismatch"] == python["srm_mismatch"]).all()
    assert (mart["expected_control_share"] == SHARE).all()
