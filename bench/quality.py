"""How close the champion gets to the best possible model, on the simulator's data.

Two oracles, both from the simulator's hidden truth on the champion's own out-of-time holdout:
- `state at D`: 1 - (1 - h_D)^(horizon/7), the true hazard of the week starting at D held over
  the horizon (what a model that knew the full hidden state at D would say);
- `realised path`: 1 - prod(1 - h_w) over the weeks of the horizon, which also knows how the
  hidden state evolves after D, so no model scored at D should reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
from sklearn.metrics import roc_auc_score

from warehouse.settings import Settings


@dataclass
class QualityFigures:
    rows: int
    positives: int
    holdout: str
    model_version: str
    model_auc: float
    oracle_state_auc: float
    oracle_path_auc: float

    def rows_table(self) -> list[tuple[str, str]]:
        return [
            (
                "holdout (out of time)",
                f"{self.holdout}: {self.rows:,} rows, {self.positives:,} churned",
            ),
            ("champion", f"version {self.model_version}"),
            ("champion ROC-AUC", f"{self.model_auc:.4f}"),
            ("oracle ROC-AUC, state at D", f"{self.oracle_state_auc:.4f}"),
            (
                "ratio to oracle (state at D)",
                f"{self.model_auc / self.oracle_state_auc:.3f} (target >= 0.95)",
            ),
            ("oracle ROC-AUC, realised hazard path", f"{self.oracle_path_auc:.4f}"),
            ("ratio to oracle (realised path)", f"{self.model_auc / self.oracle_path_auc:.3f}"),
        ]


def measure(settings: Settings, sim_dir: Path) -> QualityFigures:
    """Score the champion's holdout and both oracles on exactly the same rows."""
    import models_ml
    from models_ml.features import prepare_inputs
    from models_ml.registry import connect
    from simulator.storage import SimPaths
    from simulator.truth import oracle_probability
    from warehouse import get_warehouse

    champion = models_ml.load_champion(settings=settings)
    params = connect(settings.mlflow_uri).get_run(champion.run_id).data.params
    first = date.fromisoformat(params["data_holdout_first_date"])
    last = date.fromisoformat(params["data_holdout_last_date"])
    horizon = int(params.get("horizon_days", settings.churn_horizon_days))
    rows = get_warehouse(settings).query(
        f"select * from {params.get('table', 'features.training_set')} "
        "where as_of_date between ? and ?",
        [first, last],
    )
    rows["as_of_date"] = pd.to_datetime(rows["as_of_date"]).dt.date
    rows["p_model"] = champion.model.predict_proba(prepare_inputs(rows, champion.schema))[:, 1]
    dates = sorted(set(rows["as_of_date"]))
    state = oracle_probability(sim_dir, dates, horizon).rename(columns={"probability": "p_state"})
    path = _path_oracle(SimPaths(sim_dir).hazard, dates, horizon)
    joined = rows.merge(state, on=["customer_id", "as_of_date"], how="inner").merge(
        path, on=["customer_id", "as_of_date"], how="inner"
    )
    if len(joined) < len(rows):
        raise RuntimeError(f"{len(rows) - len(joined)} holdout rows have no truth")
    y = joined["churned"].astype(int)
    return QualityFigures(
        rows=len(joined),
        positives=int(y.sum()),
        holdout=f"{first} to {last}",
        model_version=champion.version,
        model_auc=float(roc_auc_score(y, joined["p_model"])),
        oracle_state_auc=float(roc_auc_score(y, joined["p_state"])),
        oracle_path_auc=float(roc_auc_score(y, joined["p_path"])),
    )


def _path_oracle(hazard_file: Path, dates: list[date], horizon_days: int) -> pd.DataFrame:
    """1 - prod(1 - h_w) over the weeks in [D, D + horizon)."""
    con = duckdb.connect()
    con.register("wanted", pd.DataFrame({"d": pd.to_datetime(dates)}))
    frame = con.execute(
        f"""
        select h.customer_id, w.d::date as as_of_date,
            1 - exp(sum(ln(greatest(1 - h.hazard, 1e-12)))) as p_path
        from read_parquet('{hazard_file.as_posix()}') h
        join wanted w
          on h.week_start >= w.d::date
         and h.week_start < w.d::date + interval {horizon_days} day
        group by 1, 2
        """
    ).df()
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    return frame
