"""What every package may do with the warehouse: the interface, its error and the name check.

Every write is atomic (one transaction), so that a failed job leaves the previous rows in
place. `insert_new_rows` is the one write that never changes a stored row: it adds the rows
whose key is new (a log written once, such as the control-group assignments).

Implementations: `warehouse.duckdb_warehouse` (local) and `warehouse.bigquery_warehouse`
(production); `warehouse.get_warehouse` picks one from the settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message names the table and what to check."""


def check_name(name: str) -> str:
    """Accept only `table` or `schema.table`, because names are spliced into SQL."""
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"invalid table name {name!r}: use 'schema.table'")
    return name


def split_name(name: str) -> tuple[str, str]:
    """(schema, table) of a checked name; a bare table is in schema `main`."""
    schema, _, table = check_name(name).rpartition(".")
    return (schema or "main"), table


class Warehouse(Protocol):
    """What every package may do with the warehouse."""

    # True when the target can score inside the warehouse (BigQuery ML); False: score in Python
    scores_in_warehouse: bool

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame: ...

    def table_exists(self, name: str) -> bool: ...

    def sample(
        self, sql: str, params: list[Any] | None, rows: int, seed: int = 7
    ) -> pd.DataFrame: ...

    def table_rows(self, schemas: list[str]) -> pd.DataFrame: ...

    def columns(self, name: str) -> list[str]: ...

    def read_table(self, name: str) -> pd.DataFrame: ...

    def write_table(self, df: pd.DataFrame, name: str) -> None: ...

    def replace_rows(self, df: pd.DataFrame, name: str, match: Mapping[str, Any]) -> None: ...

    def append_rows(self, df: pd.DataFrame, name: str) -> None: ...

    def insert_new_rows(self, df: pd.DataFrame, name: str, key: Sequence[str]) -> int: ...


def new_rows(df: pd.DataFrame, name: str, key: Sequence[str]) -> pd.DataFrame:
    """The rows of `df` an insert-only write may add: one per key (the first), keys checked.

    A null key would never match a stored row and so be inserted on every rerun: refused.
    """
    if not key:
        raise WarehouseError(f"cannot insert into {name}: an insert-only write needs a key")
    for column in key:
        check_name(column)
        if column not in df.columns:
            raise WarehouseError(f"cannot insert into {name}: key column {column!r} missing")
    if df[list(key)].isna().any().any():
        raise WarehouseError(f"cannot insert into {name}: a key column holds nulls")
    return df.drop_duplicates(subset=list(key), keep="first").reset_index(drop=True)
