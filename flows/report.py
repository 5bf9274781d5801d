"""What the warehouse holds, per layer: for the demo's summary and `churn status`."""

from __future__ import annotations

from warehouse.gateway import DuckDBWarehouse
from warehouse.settings import Settings

LAYERS = ("raw", "staging", "intermediate", "features", "ml", "monitoring", "marts")


def layer_rows(settings: Settings) -> list[tuple[str, int, int]]:
    """(layer, number of tables and views, total rows) for each layer that exists."""
    warehouse = DuckDBWarehouse(settings.warehouse_file, read_only=True)
    tables = warehouse.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_name not like '\\_dlt%' escape '\\'",
        [list(LAYERS)],
    )
    out = []
    for layer in LAYERS:
        names = tables.loc[tables.table_schema == layer, "table_name"].tolist()
        if not names:
            continue
        union = " union all ".join(f'select count(*) as n from {layer}."{name}"' for name in names)
        total = int(warehouse.query(f"select sum(n) as n from ({union})").iloc[0, 0])
        out.append((layer, len(names), total))
    return out
