"""Training on the warehouse-chosen sample against training on the whole table, same holdout.

    /usr/bin/time -v python -m bench.training_sample --warehouse W.duckdb --as-of 2026-01-01
    /usr/bin/time -v python -m bench.training_sample --warehouse W.duckdb --as-of 2026-01-01 \
        --mode full

One mode per process, so that `/usr/bin/time -v` reports each one's wall time and peak
resident set. Both modes read, check, split, fit and calibrate both candidates and evaluate
them on the holdout (the steps whose cost grows with the table; MLflow logging works on the
holdout and is the same for both):

- `sample`: what `models_ml.train` reads now, `read_sampled_split` with the CHURN_ML_*
  settings (every positive, a share of negatives, weights; whole holdout weeks);
- `full`: what it read before, the whole table (`read_training_set`), checked and split by
  `split_out_of_time`, unweighted.

`--last-snapshots K` limits `full` to the newest K label-complete snapshots, for a machine
where the whole table does not fit in memory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from models_ml.config import MLConfig
from models_ml.dataset import check_training_set, read_training_set, split_out_of_time
from models_ml.features import infer_schema
from models_ml.sampling import read_sampled_split
from models_ml.threads import compute_limits
from models_ml.training import fit_candidates
from warehouse.duckdb_warehouse import DuckDBWarehouse

HORIZON_DAYS = 28


def read_full(wh, cfg: MLConfig, table: str, as_of: date, last_snapshots: int | None):
    """The split as `train` built it before: every row of the table, checked, split."""
    if last_snapshots is None:
        raw = read_training_set(wh, table)
    else:
        until = as_of - timedelta(days=HORIZON_DAYS)
        raw = wh.query(
            f"select * from {table} where {cfg.date_column} in (select distinct "
            f"{cfg.date_column} from {table} where {cfg.date_column} <= ? "
            f"order by 1 desc limit {int(last_snapshots)})",
            [until],
        )
    checked = check_training_set(raw, cfg, table, as_of, HORIZON_DAYS)
    del raw
    return split_out_of_time(checked, cfg, HORIZON_DAYS)


def run(
    warehouse: Path, as_of: date, mode: str, table: str, last_snapshots: int | None
) -> dict[str, object]:
    """Read, fit and evaluate in one mode; the figures as a dict."""
    cfg = MLConfig()
    wh = DuckDBWarehouse(warehouse, read_only=True)
    started = time.perf_counter()
    with compute_limits(cfg.threads):
        if mode == "sample":
            split = read_sampled_split(wh, table, cfg, as_of, HORIZON_DAYS)
        else:
            split = read_full(wh, cfg, table, as_of, last_snapshots)
        read_seconds = time.perf_counter() - started
        schema = infer_schema(split.fit, [cfg.id_column, cfg.date_column, cfg.label_column])
        results = fit_candidates(split, schema, cfg)
    observed = float(split.holdout[cfg.label_column].mean())
    out: dict[str, object] = {
        "mode": mode,
        "as_of": str(as_of),
        "read_seconds": round(read_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "holdout_observed_rate": round(observed, 5),
        **{f"data_{k}": v for k, v in split.describe().items()},
    }
    for name, result in results.items():
        out[f"{name}_fit_seconds"] = round(result.fit_seconds, 1)
        out[f"{name}_roc_auc"] = round(result.metrics["roc_auc"], 5)
        out[f"{name}_pr_auc"] = round(result.metrics["pr_auc"], 5)
        out[f"{name}_brier"] = round(result.metrics["brier"], 6)
        out[f"{name}_mean_probability"] = round(float(np.mean(result.holdout_probability)), 5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a DuckDB warehouse file")
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--mode", choices=["sample", "full"], default="sample")
    parser.add_argument("--table", default="features.training_set")
    parser.add_argument("--last-snapshots", type=int, default=None, help="full mode only")
    args = parser.parse_args()
    figures = run(args.warehouse, args.as_of, args.mode, args.table, args.last_snapshots)
    print(json.dumps(figures, default=str, indent=1))


if __name__ == "__main__":
    main()
