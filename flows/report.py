"""What the warehouse holds, per layer: for the demo's summary and `churn status`."""

from __future__ import annotations

from warehouse import get_warehouse
from warehouse.settings import Settings

LAYERS = ("raw", "staging", "intermediate", "features", "ml", "monitoring", "marts")


def layer_rows(settings: Settings) -> list[tuple[str, int, int]]:
    """(layer, number of tables and views, total rows) for each layer that exists."""
    tables = get_warehouse(settings, read_only=True).table_rows(list(LAYERS))
    out = []
    for layer in LAYERS:
        in_layer = tables[tables.table_schema == layer]
        if not in_layer.empty:
            out.append((layer, len(in_layer), int(in_layer.row_count.sum())))
    return out
