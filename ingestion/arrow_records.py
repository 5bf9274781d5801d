"""Checked JSON records as one typed Arrow table, so dlt loads them without its row normaliser.

dlt's row normaliser handles every value of every record in Python; an Arrow table goes to
the destination as a Parquet file instead (docs/benchmarks.md). The table holds what the
row normaliser would have produced, value for value: the declared columns with their types,
fields beyond them under dlt's normalised names with the type `ColumnGuard` knows for them
(a new one from its first value), values coerced by dlt's own `coerce_value`, nested values
(`json` columns) as the text dlt's own JSON encoder writes, and `_dlt_load_id` / `_dlt_id`
where the row normaliser puts them.

A batch this cannot type the same way (a column of another type, two fields with one
normalised name) is returned as None and goes through the row normaliser as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type
from dlt.common.json import json as dlt_json
from dlt.common.normalizers.utils import generate_dlt_ids

from ingestion.checks import EXACT_TYPES, ColumnGuard
from ingestion.metadata import LOAD_ID, LOADED_AT, add_to_table, current_load

DLT_LOAD_ID = "_dlt_load_id"
DLT_ID = "_dlt_id"
_STAMPED = frozenset({LOADED_AT, LOAD_ID})  # filled by `add_to_table` where they stand
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "json": pa.string(),
}


class _KnownJsonAsText(logging.Filter):
    """Drops dlt's warning that a declared `json` column arrives as Arrow text: it does on
    purpose (JSON text is what the row normaliser writes too), and the warning would come on
    every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


logging.getLogger("dlt").addFilter(_KnownJsonAsText())


def _values(values: list[Any], data_type: str) -> list[Any]:
    """The column's values as the row normaliser stores them."""
    exact = EXACT_TYPES[data_type]
    # the set of the values' types, built in C: ~2x faster than testing value by value
    if not set(map(type, values)) <= {*exact, type(None)}:
        values = [
            value
            if value is None or type(value) in exact
            else coerce_value(data_type, py_type_to_sc_type(type(value)), value)
            for value in values
        ]
    if data_type == "json":
        dumps = dlt_json.dumps
        return [None if value is None else dumps(value) for value in values]
    return values


def _field_order(
    records: Sequence[Mapping[str, Any]],
    declared: Sequence[str],
    guard: ColumnGuard,
    table_is_new: bool,
) -> dict[str, str | None] | None:
    """{column: record key} in the order the row normaliser creates columns: the declared
    ones; when it creates the table, the first record's other non-null fields; then
    `_dlt_load_id` and `_dlt_id` (no key); then other fields as first seen.

    None when two fields share a normalised name (the row normaliser would merge them).
    """
    order: dict[str, str | None] = {name: name for name in declared}
    keys = set(declared)

    def add(key: str) -> bool:
        keys.add(key)
        name = guard.column(key)
        if name in order:
            return False
        order[name] = key
        return True

    if table_is_new and records:
        for key, value in records[0].items():
            if key not in keys and value is not None and not add(key):
                return None
    order[DLT_LOAD_ID] = order[DLT_ID] = None
    for record in records:
        for key in record:
            if key not in keys and not add(key):
                return None
    return order


def _dlt_array(name: str, rows: int) -> pa.Array:
    """`_dlt_load_id` (this load) or `_dlt_id` (random, as dlt makes it) for every row."""
    if name == DLT_LOAD_ID:
        return pa.repeat(pa.scalar(current_load()[0], type=pa.string()), rows)
    return pa.array(generate_dlt_ids(rows), type=pa.string())


def records_table(
    records: Sequence[Mapping[str, Any]],
    columns: Mapping[str, Any],
    guard: ColumnGuard,
    table_is_new: bool,
) -> tuple[pa.Table, dict[str, str]] | None:
    """The records (all passed `guard`) as an Arrow table, and the new columns' dlt types.

    `table_is_new`: no load has created the raw table yet (the row normaliser then puts the
    first record's fields before its own columns). A field whose values are all null and
    whose type is not known yet gets no column, as in the row normaliser. None when a
    column's type has no Arrow form here.
    """
    declared = [name for name in columns if name not in (DLT_LOAD_ID, DLT_ID)]
    order = _field_order(records, declared, guard, table_is_new)
    if order is None:
        return None
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    new_types: dict[str, str] = {}
    for name, key in order.items():
        if key is None:
            arrays.append(_dlt_array(name, len(records)))
            fields.append(pa.field(name, pa.string(), nullable=False))
            continue
        if name in _STAMPED:
            arrays.append(pa.nulls(len(records)))
            fields.append(pa.field(name, pa.null()))
            continue
        data_type = guard.types.get(name)
        if data_type is None:
            continue  # only nulls so far: the row normaliser adds no column either
        if data_type not in ARROW_TYPES:
            return None
        values = _values([record.get(key) for record in records], data_type)
        nullable = columns.get(name, {}).get("nullable", True)
        arrays.append(pa.array(values, type=ARROW_TYPES[data_type]))
        fields.append(pa.field(name, ARROW_TYPES[data_type], nullable=nullable))
        if name not in columns:
            new_types[name] = data_type
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    return add_to_table(table), new_types


def as_item(table: pa.Table, new_types: Mapping[str, str]) -> Any:
    """What the resource yields: the table, with hints for new columns Arrow cannot tell
    apart (a `json` column is text in Arrow)."""
    hinted = {name: {"data_type": t} for name, t in new_types.items() if t == "json"}
    if not hinted:
        return table
    return dlt.mark.with_hints(table, dlt.mark.make_hints(columns=hinted))
