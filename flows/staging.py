"""Staging years of events a few loads at a time, before a build on DuckDB.

A first build de-duplicates and sorts every raw usage event in one query: at a million
customers (468M events in 15 loads) DuckDB spilled more temporary data than the disk held and
the build failed. When more than `staging_loads_per_run` loads wait for an event staging
model, it is run with the aggregates that read only its new rows, that many loads a run (dbt
var `staging_loads_per_run`, read by the `loads_to_stage` macro), until no more than that
wait; the build then stages the rest as usual. Each run is the model's own incremental run
over fewer rows, so the staged rows are those one run would stage (first delivery of an event
id wins). BigQuery has no such limit: there the build stages everything at once.
"""

from __future__ import annotations

import logging

from warehouse import get_warehouse
from warehouse.settings import Settings

log = logging.getLogger(__name__)

# staging model -> the raw table it stages (one `_loaded_at` per load)
EVENT_MODELS = {
    "stg_usage__events": "raw.usage_events",
    "stg_stripe__events": "raw.stripe_events",
}
# incremental models that read only the rows a staging model staged since their last run: each
# run takes them along, so that no later query groups years of events at once (at 1M customers
# the usage aggregates would group 460M events in one query)
TAKEN_ALONG = {"stg_usage__events": ("int_usage_daily", "int_usage_member_weeks")}


def pending_loads(settings: Settings, model: str, raw_table: str) -> int:
    """Loads of `raw_table` the model has not staged yet (all when it was never built)."""
    wh = get_warehouse(settings, read_only=True)
    if not wh.table_exists(raw_table):
        return 0
    staged = f"staging.{model}"
    since = ""
    if wh.table_exists(staged):
        since = f"where _loaded_at > (select max(loaded_at) from {staged})"
    found = wh.query(f"select count(distinct _loaded_at) as n from {raw_table} {since}")
    return int(found["n"].iloc[0])


def stage_in_steps(settings: Settings) -> int:
    """Run each event staging model alone, `settings.staging_loads_per_run` loads a run,
    while more loads than that wait; returns the number of runs made."""
    from flows.dbt_runner import run_dbt

    per_run = settings.staging_loads_per_run
    if settings.target != "local" or per_run < 1:
        return 0
    runs = 0
    for model, raw_table in EVENT_MODELS.items():
        waiting = pending_loads(settings, model, raw_table)
        stalled = 0
        while waiting > per_run:
            log.info("staging %s: %d loads wait, staging %d of them", model, waiting, per_run)
            selected = [model, *TAKEN_ALONG.get(model, ())]
            run_dbt(["run", "--select", *selected], settings, {"staging_loads_per_run": per_run})
            runs += 1
            before, waiting = waiting, pending_loads(settings, model, raw_table)
            stalled = stalled + 1 if waiting >= before else 0
            # a run whose SQL changed rebuilds the table from its first loads (no progress
            # once: go on); loads of events staged before (a re-sent batch) stage no row, so
            # they stay "waiting" run after run: the build takes them and the rest at once
            if stalled == 2:
                break
    return runs
