"""The contact plan: which customers are on the published at-risk list each Monday.

In "list" mode the simulated CS team works only from this list, so that a control group kept
off it is never contacted and the save effect can be measured against the truth. A plan is
anything that, given what the week looks like, returns the ids on that Monday's list: a
function in the same process (a benchmark picks customers from the simulated risk), or the
rows (as_of, customer_id) of a file under the simulation directory (the weekly demo appends
each published list, then generates again: the history before the newest week is unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator.clock import parse_day
from simulator.storage import SimPaths, write_parquet

PLAN_COLUMNS = ["as_of", "customer_id"]


@dataclass(frozen=True)
class WeekView:
    """What a list can be built from at a Monday: the active customers, their visible risk
    (log-odds of churning this week from what the sources show) and their MRR."""

    as_of: date
    customer_ids: np.ndarray
    risk: np.ndarray
    mrr: np.ndarray


ListSource = Callable[[WeekView], Iterable[str]]


class FilePlan:
    """A plan given as rows (as_of, customer_id): the list of a Monday is its rows."""

    def __init__(self, rows: pd.DataFrame) -> None:
        rows = _checked(rows)
        self.rows = rows
        self.weeks = {d: list(g.customer_id) for d, g in rows.groupby("as_of", sort=True)}

    def __call__(self, view: WeekView) -> list[str]:
        return self.weeks.get(view.as_of, [])


def read_plan(path: Path | str) -> pd.DataFrame:
    """Rows (as_of, customer_id) of a plan file (.parquet, or .json: a list of records)."""
    path = Path(path)
    if path.suffix == ".json":
        rows = pd.read_json(path, orient="records", dtype={"customer_id": str})
    else:
        rows = pd.read_parquet(path)
    return _checked(rows)


def write_plan(rows: pd.DataFrame, path: Path | str) -> Path:
    """Write plan rows as Parquet, sorted and deduplicated."""
    rows = _checked(rows)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    write_parquet(table, Path(path))
    return Path(path)


def append_plan(sim_dir: Path | str, as_of: date | str, customer_ids: Sequence[str]) -> Path:
    """Set the list of Monday `as_of` in the simulation's plan file (replacing an earlier list
    of that Monday, keeping the others); returns the file. `generate` in "list" mode reads it."""
    path = SimPaths(sim_dir).plan
    old = read_plan(path) if path.exists() else pd.DataFrame(columns=PLAN_COLUMNS)
    day = parse_day(as_of)
    new = pd.DataFrame({"as_of": [day] * len(customer_ids), "customer_id": list(customer_ids)})
    return write_plan(pd.concat([old[old.as_of != day], new], ignore_index=True), path)


def _checked(rows: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PLAN_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"a plan needs the columns {PLAN_COLUMNS}; missing {missing}")
    out = pd.DataFrame(
        {
            "as_of": [parse_day(pd.Timestamp(d).date()) for d in rows["as_of"]],
            "customer_id": rows["customer_id"].astype(str).to_list(),
        }
    )
    bad = sorted({d for d in out.as_of if d.weekday() != 0})
    if bad:
        raise ValueError(f"plan dates must be Mondays (week starts): {bad[:3]}")
    out = out.drop_duplicates().sort_values(PLAN_COLUMNS, kind="stable")
    return out.reset_index(drop=True)
