"""How many source rows the pipeline set aside, per source and reason, for the metrics.

Staging flags a bad row (`is_valid` false, with an `invalid_reason`) and ingestion quarantines
a record it cannot type; both stay in the warehouse, and these counts are what the on-call
engineer sees move on a dashboard before anyone opens a table.
"""

from __future__ import annotations

from warehouse import Warehouse

# staging model -> the source its rows come from
FLAGGED_MODELS: dict[str, str] = {
    "staging.stg_usage__events": "usage",
    "staging.stg_zendesk__ticket_versions": "zendesk",
    "staging.stg_stripe__events": "stripe",
    "staging.stg_stripe__subscription_events": "stripe",
    "staging.stg_crm__customer_versions": "customer_db",
    "staging.stg_cs__actions": "cs_actions",
}
QUARANTINE = "staging.stg_ingestion__quarantine"


def flagged_counts(wh: Warehouse) -> dict[tuple[str, str], int]:
    """(source, reason) -> rows flagged in staging or quarantined at ingestion."""
    counts: dict[tuple[str, str], int] = {}
    for table, source in FLAGGED_MODELS.items():
        if not wh.table_exists(table):
            continue
        rows = wh.query(
            f"select invalid_reason, count(*) as n from {table} "
            "where not is_valid group by invalid_reason"
        )
        for reason, n in zip(rows["invalid_reason"], rows["n"], strict=True):
            key = (source, str(reason))
            counts[key] = counts.get(key, 0) + int(n)
    if wh.table_exists(QUARANTINE):
        rows = wh.query(
            f"select source_name, reason, count(*) as n from {QUARANTINE} "
            "group by source_name, reason"
        )
        for source, reason, n in zip(rows["source_name"], rows["reason"], rows["n"], strict=True):
            counts[(str(source), f"quarantined: {reason}")] = int(n)
    return counts
