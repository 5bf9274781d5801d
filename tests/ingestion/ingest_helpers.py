"""Helpers shared by the ingestion tests: settings in a tmp dir and warehouse queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from warehouse.settings import Settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings rooted in a tmp dir, ignoring any .env file, with fast HTTP retries."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "ingestion_http_backoff_seconds": 0.01,
        "ingestion_http_max_retries": 2,
        "ingestion_http_timeout_seconds": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query against the test warehouse (read-only, closed right away)."""
    con = duckdb.connect(str(settings.warehouse_file), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def count(settings: Settings, table: str) -> int:
    """Row count of a raw table."""
    return int(query(settings, f"select count(*) from {table}")[0][0])


def column_types(settings: Settings, table: str) -> dict[str, str]:
    """`describe` of a table as {column: type}."""
    return {row[0]: row[1] for row in query(settings, f"describe {table}")}
