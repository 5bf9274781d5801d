"""The one gateway to the warehouse: settings, and reading and writing tables.

    from warehouse import get_settings, get_warehouse
    wh = get_warehouse()              # DuckDB file locally, BigQuery when CHURN_TARGET=bigquery
    wh.read_table("features.customer_features")

This package imports nothing else of the project.
"""

from __future__ import annotations

from warehouse.interface import Warehouse, WarehouseError, check_name, split_name
from warehouse.settings import Settings, get_settings

__all__ = [
    "Settings",
    "Warehouse",
    "WarehouseError",
    "check_name",
    "get_settings",
    "get_warehouse",
    "split_name",
]


def get_warehouse(settings: Settings | None = None, read_only: bool = False) -> Warehouse:
    """The warehouse of the configured target (BigQuery's client is imported only there)."""
    settings = settings or get_settings()
    if settings.target == "local":
        from warehouse.duckdb_warehouse import DuckDBWarehouse

        return DuckDBWarehouse(
            settings.warehouse_file,
            read_only=read_only,
            write_wait_seconds=settings.warehouse_write_wait_seconds,
        )
    if settings.target == "bigquery":
        from warehouse.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse(settings, read_only=read_only)
    raise WarehouseError(f"unknown target {settings.target!r}: set CHURN_TARGET=local or bigquery")
