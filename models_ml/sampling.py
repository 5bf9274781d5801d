"""The rows training reads, chosen where the data lives.

Reading a whole training set grows with every customer and every week (54M rows at a million
customers). Instead, one cheap query counts rows and positives per snapshot; from those
counts the fit / calibration / holdout dates are decided (the out-of-time split of
`dataset.split_dates`), then each part is selected by the warehouse itself:

- fit (the newest `train_snapshots` dates before calibration) and calibration: every
  positive and a share of negatives, drawn per row by a hash of (id, date, seed), so each
  snapshot keeps about that share and the same data and seed give the same rows;
  a negative weighs 1/share, which keeps the fitted and calibrated probabilities those of
  the whole population;
- holdout: whole weeks, or a uniform sample above `holdout_row_budget` (said in the run).

The share comes from the row budget, so a table below it is read whole through the same
selection with share 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models_ml.config import MLConfig
from models_ml.dataset import Split, check_training_set, require_table, split_dates
from models_ml.errors import ModelError
from warehouse.interface import StratifiedSample, kept_share

PARTS = ("fit", "calibration", "holdout")


@dataclass(frozen=True)
class PartPlan:
    """One part of the split: what to select, and how many rows it has in the warehouse."""

    name: str
    sample: StratifiedSample
    population_rows: int
    population_positives: int

    @property
    def positive_weight(self) -> float:
        return 1.0 / kept_share(self.sample.positive_share)

    @property
    def negative_weight(self) -> float:
        return 1.0 / kept_share(self.sample.negative_share)


@dataclass(frozen=True)
class SamplePlan:
    """The three parts, decided from per-snapshot counts before any row is read."""

    fit: PartPlan
    calibration: PartPlan
    holdout: PartPlan

    def parts(self) -> tuple[PartPlan, PartPlan, PartPlan]:
        return (self.fit, self.calibration, self.holdout)


def budget_share(rows: int, positives: int, budget: int) -> float:
    """The share of negatives that keeps `rows` (of which `positives`) within `budget` when
    every positive is kept: 1 below the budget, and never fewer negatives than positives."""
    negatives = rows - positives
    if rows <= budget or negatives <= 0:
        return 1.0
    return min(1.0, max(budget - positives, positives, 1) / negatives)


def plan_sample(counts: pd.DataFrame, cfg: MLConfig, horizon_days: int, table: str) -> SamplePlan:
    """The plan from `snapshot_counts` rows (date, n_rows, n_positive) of the label-complete
    snapshots; raises ModelError when there are none or too few for the split."""
    if counts.empty:
        raise ModelError(
            f"training table {table} has no rows (at the requested as-of date)",
            "check that dbt built the training set and that --as-of is late enough for "
            "labels to be complete",
        )
    by_date = {
        pd.Timestamp(day).date(): (int(rows), int(positives))
        for day, rows, positives in zip(
            counts[cfg.date_column], counts["n_rows"], counts["n_positive"], strict=True
        )
    }
    fit_dates, cal_dates, holdout_dates = split_dates(sorted(by_date), cfg, horizon_days)
    if cfg.train_snapshots is not None:
        fit_dates = fit_dates[-cfg.train_snapshots :]

    def total(dates: list[date]) -> tuple[int, int]:
        return sum(by_date[d][0] for d in dates), sum(by_date[d][1] for d in dates)

    (fit_rows, fit_pos), (cal_rows, cal_pos) = total(fit_dates), total(cal_dates)
    share = cfg.negative_share or budget_share(
        fit_rows + cal_rows, fit_pos + cal_pos, cfg.train_row_budget
    )
    hold_rows, hold_pos = total(holdout_dates)
    hold_share = min(1.0, cfg.holdout_row_budget / max(hold_rows, 1))

    def part(name: str, dates: list[date], positive: float, negative: float) -> PartPlan:
        sample = StratifiedSample(
            id_column=cfg.id_column,
            date_column=cfg.date_column,
            label_column=cfg.label_column,
            dates=tuple(dates),
            positive_share=positive,
            negative_share=negative,
            seed=cfg.sample_seed,
        )
        rows, positives = total(dates)
        return PartPlan(name, sample, rows, positives)

    return SamplePlan(
        part("fit", fit_dates, 1.0, share),
        part("calibration", cal_dates, 1.0, share),
        part("holdout", holdout_dates, hold_share, hold_share),
    )


def sample_weights(frame: pd.DataFrame, plan: PartPlan, label_column: str) -> np.ndarray | None:
    """Each row's weight: the inverse of the share its class was kept with; None when every
    row was kept (unweighted, exactly as a whole-table read)."""
    if plan.sample.is_everything:
        return None
    positive = frame[label_column].to_numpy(dtype=bool)
    return np.where(positive, plan.positive_weight, plan.negative_weight)


def describe(plan: SamplePlan, read: dict[str, pd.DataFrame], cfg: MLConfig) -> dict[str, object]:
    """How each part was sampled: shares, weights, rows in the warehouse and rows read."""
    out: dict[str, object] = {
        "sample_seed": cfg.sample_seed,
        "train_snapshots": cfg.train_snapshots if cfg.train_snapshots is not None else "all",
        "train_row_budget": cfg.train_row_budget,
        "holdout_row_budget": cfg.holdout_row_budget,
    }
    for part in plan.parts():
        frame = read[part.name]
        out[f"{part.name}_population_rows"] = part.population_rows
        out[f"{part.name}_population_positives"] = part.population_positives
        out[f"{part.name}_positives_read"] = int(frame[cfg.label_column].sum())
        out[f"{part.name}_positive_share"] = round(kept_share(part.sample.positive_share), 6)
        out[f"{part.name}_negative_share"] = round(kept_share(part.sample.negative_share), 6)
        out[f"{part.name}_negative_weight"] = round(part.negative_weight, 6)
    out["holdout_selection"] = (
        "whole weeks"
        if plan.holdout.sample.is_everything
        else f"uniform sample of {kept_share(plan.holdout.sample.positive_share):.4%} of rows"
    )
    return out


def read_sampled_split(
    warehouse, table: str, cfg: MLConfig, as_of: date, horizon_days: int
) -> Split:
    """Plan from the snapshot counts, read each part's selection through the gateway, check
    each part like a whole training set, and return the split with fit and calibration
    weights; nothing but the selected rows leaves the warehouse."""
    require_table(warehouse, table)
    named = [cfg.id_column, cfg.date_column, cfg.label_column]
    missing = [c for c in named if c not in warehouse.columns(table)]
    if missing:
        raise ModelError(
            f"training table {table} lacks the contract columns {missing}",
            f"a training table needs an id, an as-of date and a boolean label ({', '.join(named)})",
        )
    started = time.perf_counter()
    until = as_of - timedelta(days=horizon_days)
    counts = warehouse.snapshot_counts(table, cfg.date_column, cfg.label_column, until)
    plan = plan_sample(counts, cfg, horizon_days, table)
    read: dict[str, pd.DataFrame] = {}
    for part in plan.parts():
        rows = warehouse.read_sample(table, part.sample)
        read[part.name] = check_training_set(
            rows, cfg, table, as_of=as_of, horizon_days=horizon_days
        )
        read[part.name].attrs = {
            "dates": list(part.sample.dates),
            "positive_rate": part.population_positives / max(part.population_rows, 1),
        }
    weights = {}
    for part in (plan.fit, plan.calibration):
        found = sample_weights(read[part.name], part, cfg.label_column)
        if found is not None:
            weights[part.name] = found
    sampling = describe(plan, read, cfg)
    sampling["read_seconds"] = round(time.perf_counter() - started, 3)
    return Split(read["fit"], read["calibration"], read["holdout"], weights, sampling)
