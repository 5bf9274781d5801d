"""The training set: read through the warehouse gateway, checked, split out of time.

Training itself reads a sample chosen in the warehouse (`models_ml.sampling`), with the same
checks and the same split of dates as a whole table read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models_ml.config import MLConfig
from models_ml.errors import ModelError


@dataclass(frozen=True)
class Split:
    """Fit on the oldest snapshots, calibrate on the next ones, evaluate on the newest."""

    fit: pd.DataFrame
    calibration: pd.DataFrame
    holdout: pd.DataFrame
    # sample weight of each row of a part ("fit", "calibration"); a part without weighs 1
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    # how the parts were sampled in the warehouse (empty when the whole table was read)
    sampling: dict[str, object] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """Dates, rows read and positive rate (of the part's snapshots in the warehouse) per
        part, and how it was sampled: the training data's snapshot for MLflow."""
        out: dict[str, object] = {}
        for part in ("fit", "calibration", "holdout"):
            frame: pd.DataFrame = getattr(self, part)
            dates = frame.attrs["dates"]
            out[f"{part}_first_date"] = str(min(dates))
            out[f"{part}_last_date"] = str(max(dates))
            out[f"{part}_snapshots"] = len(dates)
            out[f"{part}_rows"] = len(frame)
            out[f"{part}_positive_rate"] = round(float(frame.attrs["positive_rate"]), 6)
        out.update(self.sampling)
        return out


def read_training_set(warehouse, table: str) -> pd.DataFrame:
    """All rows of `table`; a missing table is a ModelError saying how to build it."""
    require_table(warehouse, table)
    return warehouse.read_table(table)


def require_table(warehouse, table: str) -> None:
    """Raise a ModelError saying how to build `table` when it is missing."""
    try:
        exists = warehouse.table_exists(table)
    except Exception as exc:  # an invalid name or an unreadable warehouse file
        raise ModelError(f"cannot look up training table {table}: {exc}", "check --table") from exc
    if not exists:
        raise ModelError(
            f"training table {table} does not exist in the warehouse",
            "run `churn transform` (dbt build) to build features.training_set, or pass "
            "--table with a table that has the contract columns",
        )


def check_training_set(
    df: pd.DataFrame, cfg: MLConfig, table: str, as_of: date, horizon_days: int
) -> pd.DataFrame:
    """Validate the contract (id, as-of date, boolean label) and keep the snapshots whose
    label window ended by `as_of`; return them typed and sorted by (date, id), which makes
    training independent of the table's row order.
    """
    named = [cfg.id_column, cfg.date_column, cfg.label_column]
    missing = [c for c in named if c not in df.columns]
    if missing:
        raise ModelError(
            f"training table {table} lacks the contract columns {missing}",
            f"a training table needs an id, an as-of date and a boolean label ({', '.join(named)})",
        )
    df = df.assign(**{cfg.date_column: pd.to_datetime(df[cfg.date_column]).dt.date})
    df = df[df[cfg.date_column] <= as_of - timedelta(days=horizon_days)]
    if df.empty:
        raise ModelError(
            f"training table {table} has no rows (at the requested as-of date)",
            "check that dbt built the training set and that --as-of is late enough for "
            "labels to be complete",
        )
    label = df[cfg.label_column]
    if label.isna().any():
        raise ModelError(
            f"label {cfg.label_column} has {int(label.isna().sum())} null values in {table}",
            "the training set must contain only label-complete snapshots",
        )
    values = set(pd.unique(label.astype("object")))
    if not values <= {True, False}:  # 0 and 1 compare equal to False and True
        raise ModelError(
            f"label {cfg.label_column} is not boolean (found {sorted(map(str, values))[:5]})",
            "make the label a boolean in the dbt model",
        )
    out = df.copy()
    out[cfg.label_column] = label.astype(bool)
    if out[cfg.label_column].nunique() < 2:
        only = bool(out[cfg.label_column].iloc[0])
        raise ModelError(
            f"label {cfg.label_column} has a single class (all {only}) in {table}",
            "a model needs churned and retained customers: use a longer history or check the "
            "label logic in dbt",
        )
    dupes = out.duplicated([cfg.id_column, cfg.date_column])
    if dupes.any():
        raise ModelError(
            f"{int(dupes.sum())} duplicate ({cfg.id_column}, {cfg.date_column}) rows in {table}",
            "the training set's grain is one row per customer and snapshot: fix the dbt model",
        )
    return out.sort_values([cfg.date_column, cfg.id_column], kind="stable").reset_index(drop=True)


def split_dates(
    dates: list[date], cfg: MLConfig, horizon_days: int
) -> tuple[list[date], list[date], list[date]]:
    """(fit, calibration, holdout) snapshot dates out of time: holdout = the newest
    `holdout_snapshots` dates; before it, an embargo of one label horizon (a snapshot whose
    label window reaches into the holdout is dropped), then the calibration dates, then the
    fit dates."""
    dates = sorted(dates)
    need = cfg.holdout_snapshots + cfg.calibration_snapshots + cfg.min_train_snapshots
    if len(dates) < need:
        raise ModelError(
            f"the training set has {len(dates)} snapshots; an out-of-time split needs at "
            f"least {need} plus an embargo of {horizon_days} days",
            "use a longer history, or lower CHURN_ML_HOLDOUT_SNAPSHOTS / "
            "CHURN_ML_CALIBRATION_SNAPSHOTS",
        )
    holdout_dates = dates[-cfg.holdout_snapshots :]
    cutoff = holdout_dates[0]
    before = [d for d in dates if d + timedelta(days=horizon_days) <= cutoff]
    if len(before) < cfg.calibration_snapshots + cfg.min_train_snapshots:
        raise ModelError(
            f"only {len(before)} snapshots end their label window before the holdout starts "
            f"({cutoff})",
            "use a longer history or fewer holdout snapshots",
        )
    return before[: -cfg.calibration_snapshots], before[-cfg.calibration_snapshots :], holdout_dates


def split_out_of_time(df: pd.DataFrame, cfg: MLConfig, horizon_days: int) -> Split:
    """Split a whole, checked training set by `split_dates`: each customer-week lands on one
    side only."""
    fit_dates, cal_dates, holdout_dates = split_dates(
        list(df[cfg.date_column].unique()), cfg, horizon_days
    )
    parts = []
    for chosen in (fit_dates, cal_dates, holdout_dates):
        part = df[df[cfg.date_column].isin(set(chosen))].reset_index(drop=True)
        positives = part[cfg.label_column].mean()
        if part[cfg.label_column].nunique() < 2:
            raise ModelError(
                f"the split from {chosen[0]} to {chosen[-1]} has a single label class",
                "use a longer history so every part has churners and stayers",
            )
        part.attrs = {"dates": list(chosen), "positive_rate": positives}
        parts.append(part)
    return Split(*parts)
