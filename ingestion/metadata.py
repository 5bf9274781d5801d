"""Load metadata columns (`_loaded_at`, `_load_id`) that every raw table carries.

`_load_id` is dlt's load package id, so a raw row joins `raw._dlt_loads` and a whole load can
be traced or audited; `_loaded_at` is the UTC wall-clock time the package was extracted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa

LOADED_AT = "_loaded_at"
LOAD_ID = "_load_id"


def metadata_hints() -> dict[str, dict[str, Any]]:
    """dlt hints: naive UTC timestamp (DuckDB TIMESTAMP, BigQuery TIMESTAMP) and text."""
    return {
        LOADED_AT: {"data_type": "timestamp", "timezone": False, "nullable": False},
        LOAD_ID: {"data_type": "text", "nullable": False},
    }


_started: dict[str, datetime] = {}


def current_load() -> tuple[str, datetime]:
    """The load id of the package being extracted and the time it started (cached per id)."""
    load_id = dlt.current.load_package_state()["load_id"]
    if load_id not in _started:
        _started[load_id] = datetime.now(UTC).replace(tzinfo=None)
    return load_id, _started[load_id]


def add_to_row(row: dict[str, Any]) -> dict[str, Any]:
    """Stamp one dict row (used with `add_map` on JSON resources)."""
    load_id, loaded_at = current_load()
    row[LOADED_AT] = loaded_at
    row[LOAD_ID] = load_id
    return row


def add_to_table(table: pa.Table) -> pa.Table:
    """Stamp an Arrow table with constant columns, without leaving Arrow.

    Columns already there are replaced where they stand, so a table built in the raw
    table's column order keeps it.
    """
    load_id, loaded_at = current_load()
    n = table.num_rows
    loaded = pa.repeat(pa.scalar(loaded_at, type=pa.timestamp("us")), n)
    ident = pa.repeat(pa.scalar(load_id, type=pa.string()), n)
    for name, values in ((LOADED_AT, loaded), (LOAD_ID, ident)):
        field = pa.field(name, values.type, nullable=False)
        at = table.schema.get_field_index(name)
        if at >= 0:
            table = table.set_column(at, field, values)
        else:
            table = table.append_column(field, values)
    return table


def add_metadata(item: Any) -> Any:
    """Stamp whatever a resource yields: an Arrow table or a dict row."""
    if isinstance(item, pa.Table):
        return add_to_table(item)
    if isinstance(item, pa.RecordBatch):
        return add_to_table(pa.Table.from_batches([item]))
    return add_to_row(item)
