"""The local target: the warehouse in a DuckDB file.

Connections are opened per call because DuckDB locks the file for every other process while a
read-write connection is open.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from warehouse.interface import (
    SAMPLE_BUCKETS,
    StratifiedSample,
    WarehouseError,
    check_name,
    new_rows,
    split_name,
)


class DuckDBWarehouse:
    """The local target: a DuckDB file."""

    scores_in_warehouse: bool = False

    def __init__(
        self, path: Path, read_only: bool = False, write_wait_seconds: float = 10.0
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.write_wait_seconds = write_wait_seconds

    @contextmanager
    def connect(self, read_only: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; read-only when the file exists and nothing is written.

        A write waits up to `write_wait_seconds` for readers' short-lived connections to close
        (a promotion recorded while the API reads features); a read fails at once, so that a
        server can answer from what it already holds instead of queueing behind a dbt build.
        """
        ro = self.read_only if read_only is None else read_only
        if ro and not self.path.exists():
            raise WarehouseError(
                f"warehouse file {self.path} does not exist: run `make demo` or `churn ingest`"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + (0.0 if ro else self.write_wait_seconds)
        pause = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=ro)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                # IOException: another process holds the file lock; ConnectionException: this
                # process has it open with the other read_only setting
                held = "lock" in str(exc) or "different configuration" in str(exc)
                if not held or time.monotonic() + pause > deadline:
                    raise WarehouseError(
                        f"cannot open warehouse {self.path}: {exc}. "
                        "Another process may be writing it."
                    ) from exc
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read query and return its rows."""
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def table_exists(self, name: str) -> bool:
        """True when `schema.table` exists (a missing file means no table)."""
        schema, table = split_name(name)
        if not self.path.exists():
            return False
        with self.connect(read_only=True) as con:
            found = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchone()
        return bool(found and found[0])

    def sample(self, sql: str, params: list[Any] | None, rows: int, seed: int = 7) -> pd.DataFrame:
        """At most `rows` rows of a query, the same ones for the same data and seed."""
        return self.query(
            f"select * from ({sql}) using sample {int(rows)} rows (reservoir, {int(seed)})", params
        )

    def table_rows(self, schemas: list[str]) -> pd.DataFrame:
        """table_schema, table_name, row_count of every table and view in `schemas` (dlt's
        bookkeeping tables left out)."""
        columns = ["table_schema", "table_name", "row_count"]
        if not self.path.exists():
            return pd.DataFrame(columns=columns)
        tables = self.query(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) "
            "and table_name not like '\\_dlt%' escape '\\' order by all",
            [list(schemas)],
        )
        if tables.empty:
            return pd.DataFrame(columns=columns)
        counts = " union all ".join(
            f'select {i} as i, count(*) as n from {row.table_schema}."{row.table_name}"'
            for i, row in enumerate(tables.itertuples())
        )
        n = self.query(f"select n from ({counts}) order by i")["n"].astype("int64").tolist()
        return tables.assign(row_count=n)[columns]

    def columns(self, name: str) -> list[str]:
        """A table's column names in order, from the catalog (no row is read)."""
        schema, table = split_name(name)
        found = []
        if self.path.exists():
            with self.connect(read_only=True) as con:
                found = con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
        if not found:  # a table always has a column: none found means no table
            raise WarehouseError(f"table {name} does not exist in {self.path}")
        return [column for (column,) in found]

    def read_table(self, name: str) -> pd.DataFrame:
        """All rows of a table; a clear error when it is missing."""
        self._require(name)
        return self.query(f"select * from {name}")

    def snapshot_counts(
        self, name: str, date_column: str, label_column: str, until: date
    ) -> pd.DataFrame:
        """`date_column`, n_rows, n_positive (label true) per snapshot up to `until`, oldest
        first: the cheap query that plans a sample (two columns scanned, a row per date)."""
        self._require(name)
        day, label = check_name(date_column), check_name(label_column)
        return self.query(
            f"select cast({day} as date) as {day}, count(*) as n_rows, "
            f"count(*) filter (where try_cast({label} as boolean)) as n_positive "
            f"from {name} where {day} <= ? group by 1 order by 1",
            [until],
        )

    def read_sample(self, name: str, sample: StratifiedSample) -> pd.DataFrame:
        """The rows of `name` that `sample` selects, chosen in SQL: only they leave DuckDB."""
        self._require(name)
        return self.query(f"select * from {name} where {sample_condition(sample)}")

    def _require(self, name: str) -> None:
        if not self.table_exists(name):
            raise WarehouseError(
                f"table {name} does not exist in {self.path}: run the job that builds it "
                "(`dbt build` for features and marts)"
            )

    @contextmanager
    def _writing(self, name: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction, with `name`'s schema created:
        every write commits whole or rolls back."""
        schema, _ = split_name(name)
        with self.connect(read_only=False) as con:
            con.execute("begin")
            try:
                con.execute(f"create schema if not exists {schema}")
                yield con
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise

    def write_table(self, df: pd.DataFrame, name: str) -> None:
        """Replace the whole table in one transaction."""
        with self._writing(name) as con:
            con.register("incoming", df)
            con.execute(f"create or replace table {name} as select * from incoming")

    def replace_rows(self, df: pd.DataFrame, name: str, match: Mapping[str, Any]) -> None:
        """Delete the rows matching `match` and insert `df`, atomically.

        This is how a batch (for example one `as_of_date` x model version of predictions) is
        made idempotent: a rerun replaces its own rows and nothing else.
        """
        for column in match:
            check_name(column)
        with self._writing(name) as con:
            con.register("incoming", df)
            con.execute(f"create table if not exists {name} as select * from incoming limit 0")
            if match:
                where = " and ".join(f"{column} = ?" for column in match)
                con.execute(f"delete from {name} where {where}", list(match.values()))
            con.execute(f"insert into {name} by name select * from incoming")

    def append_rows(self, df: pd.DataFrame, name: str) -> None:
        """Append rows (creating the table on first use), atomically."""
        self.replace_rows(df, name, {})

    def insert_new_rows(self, df: pd.DataFrame, name: str, key: Sequence[str]) -> int:
        """Insert the rows of `df` whose `key` is not in the table yet (creating it on first
        use), atomically; returns how many were inserted. Stored rows are never changed, so a
        rerun inserts nothing."""
        incoming = new_rows(df, name, key)
        matched = " and ".join(f"stored.{column} = incoming.{column}" for column in key)
        with self._writing(name) as con:
            con.register("incoming", incoming)
            con.execute(f"create table if not exists {name} as select * from incoming limit 0")
            inserted = con.execute(
                f"insert into {name} by name select * from incoming "
                f"where not exists (select 1 from {name} as stored where {matched})"
            ).fetchone()
        return int(inserted[0]) if inserted else 0


def sample_condition(sample: StratifiedSample) -> str:
    """The WHERE clause of a sample in DuckDB SQL: its dates, then the hash bucket of
    (id, date, seed) below the threshold of the row's class (left out when all rows stay)."""
    day = sample.date_column
    where = f"{day} in ({sample.date_literals()})"
    if sample.is_everything:
        return where
    bucket = (
        f"hash(cast({sample.id_column} as varchar), cast({day} as date), {int(sample.seed)}) "
        f"% {SAMPLE_BUCKETS}"
    )
    threshold = (
        f"case when try_cast({sample.label_column} as boolean) is distinct from false "
        f"then {sample.positive_threshold} else {sample.negative_threshold} end"
    )
    return f"{where} and {bucket} < {threshold}"
