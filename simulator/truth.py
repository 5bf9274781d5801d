"""The truth about the hidden churn process, for judging models (never read by the pipeline).

`weekly_hazard.parquet` holds each active customer's true churn probability for each week.

`list_episodes.parquet` (simulations in "list" mode only) holds one row per listed episode:
a customer on the contact plan's list at a Monday who was not on it the Monday before, and
whose 28-day horizon ended inside the simulated period. Columns:

- customer_id, as_of (date): the customer and the Monday the episode starts;
- contacted, reached (bool): the list-driven CS team tried to contact, and reached, the
  customer in one of the episode's four weeks;
- churned_treated (bool): churned within [as_of, as_of + 28 days) in the simulated history,
  where the customer was on the list;
- churned_untreated (bool): churned within the same days had the list brought no contact in
  the episode's weeks, from the same weekly uniforms (common random numbers, see
  `simulator.listing`).

The two outcomes differ only where a reached contact changed the hazard, so the true effect
of listing (intention to treat) on any set of listed episodes is the mean of
churned_untreated - churned_treated over them: the share of customers the list saved. A
control group is never listed, so this is measured on the listed (treated) episodes; with a
random control group, their mean is the effect on all episodes up to sampling.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from simulator.clock import parse_day
from simulator.storage import SimPaths


def list_episodes(sim_dir: Path | str) -> pd.DataFrame:
    """The listed episodes and their potential outcomes (columns in the module docstring)."""
    path = SimPaths(sim_dir).episodes
    if not path.exists():
        raise FileNotFoundError(f"no list episodes in {path.parent} (generate in list mode)")
    df = pd.read_parquet(path)
    df["as_of"] = pd.to_datetime(df["as_of"]).dt.date
    return df


def oracle_probability(
    sim_dir: Path | str, as_of_dates: Iterable[date | str], horizon_days: int = 28
) -> pd.DataFrame:
    """True probability of churning in [D, D + horizon) per active customer and Monday D.

    probability = 1 - (1 - h_D) ** (horizon_days / 7), with h_D the hazard of the week that
    starts at D. h_D is computed from the full hidden state at D: every visible signal, the CS
    effects and the hidden noise no data shows. Nothing known at D says more about churn in
    that week, and later weeks depend on events after D, so holding h_D constant over the
    horizon is the natural benchmark for a model scored at D. (It is not a strict upper bound:
    the drift of the hazard within the horizon, e.g. an annual renewal coming closer, is partly
    predictable, so a model can come close to it and now and then edge past it.)
    Returns columns customer_id, as_of_date (date), probability.
    """
    days = [parse_day(d) for d in as_of_dates]
    bad = [d for d in days if d.weekday() != 0]
    if bad:
        raise ValueError(f"as_of dates must be Mondays (week starts): {bad[:3]}")
    path = SimPaths(sim_dir).hazard
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("wanted", pd.DataFrame({"d": pd.to_datetime(days)}))
    df = con.execute(f"""
        select customer_id, week_start as as_of_date,
            1 - pow(1 - hazard, {horizon_days} / 7.0) as probability
        from read_parquet('{path.as_posix()}') h
        where week_start in (select d::date from wanted)
        order by as_of_date, customer_id
    """).df()
    df["as_of_date"] = pd.to_datetime(df["as_of_date"]).dt.date
    return df
