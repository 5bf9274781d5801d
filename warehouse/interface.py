"""What every package may do with the warehouse: the interface, its error and the name check.

Every write is atomic (one transaction), so that a failed job leaves the previous rows in
place. `insert_new_rows` is the one write that never changes a stored row: it adds the rows
whose key is new (a log written once, such as the control-group assignments).

Implementations: `warehouse.duckdb_warehouse` (local) and `warehouse.bigquery_warehouse`
(production); `warehouse.get_warehouse` picks one from the settings.

`snapshot_counts` and `read_sample` let a job read a sample chosen where the data lives (see
`StratifiedSample`), so that training never moves a table's whole history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
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


# a row's sampling key is a bucket in [0, SAMPLE_BUCKETS) hashed from (id, date, seed)
SAMPLE_BUCKETS = 1_000_000


@dataclass(frozen=True)
class StratifiedSample:
    """Rows of a labelled snapshot table to read: the snapshots `dates`, and of them a share
    of each label class drawn by a hash of (id, date, seed), so the same data and seed give
    the same rows on every run (no random()).

    A row counts as negative only when its label is false: true, null and labels that are
    not boolean are kept like positives, so that a broken label reaches the caller's checks
    instead of being sampled away.
    """

    id_column: str
    date_column: str
    label_column: str
    dates: tuple[date, ...]
    positive_share: float = 1.0
    negative_share: float = 1.0
    seed: int = 7

    def __post_init__(self) -> None:
        for column in (self.id_column, self.date_column, self.label_column):
            check_name(column)
        if not self.dates or not all(isinstance(d, date) for d in self.dates):
            raise WarehouseError("a sample needs at least one snapshot date (datetime.date)")
        for share in (self.positive_share, self.negative_share):
            if not 0.0 < share <= 1.0:
                raise WarehouseError(f"a sampling share must be in (0, 1], not {share}")

    @property
    def positive_threshold(self) -> int:
        """A kept positive (or unknown label) has a bucket below this."""
        return _threshold(self.positive_share)

    @property
    def negative_threshold(self) -> int:
        """A kept negative has a bucket below this."""
        return _threshold(self.negative_share)

    @property
    def is_everything(self) -> bool:
        """True when every row of the dates is kept (no hash is computed)."""
        return self.positive_threshold == self.negative_threshold == SAMPLE_BUCKETS

    def date_literals(self) -> str:
        """The dates as SQL `date '...'` literals (built from date objects, so safe to splice)."""
        return ", ".join(f"date '{d.isoformat()}'" for d in sorted(set(self.dates)))


def _threshold(share: float) -> int:
    return max(1, min(SAMPLE_BUCKETS, round(share * SAMPLE_BUCKETS)))


def kept_share(share: float) -> float:
    """The share a sample really keeps for a requested `share` (buckets are discrete)."""
    return _threshold(share) / SAMPLE_BUCKETS


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

    def snapshot_counts(
        self, name: str, date_column: str, label_column: str, until: date
    ) -> pd.DataFrame: ...

    def read_sample(self, name: str, sample: StratifiedSample) -> pd.DataFrame: ...

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
