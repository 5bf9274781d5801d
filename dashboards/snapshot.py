"""The CS app's own read-only copy of the marts, published after each pipeline run.

DuckDB locks every other process out of a file that one process has open read-write, readers
included, so an app reading the warehouse would fail while a pipeline run writes it. Instead
the app reads a separate DuckDB file: `publish_app_snapshot` copies the `marts` schema into a
temporary file next to it and renames it into place (atomic on one filesystem), so a reader
sees the previous snapshot or the new one, never a half-written file, and never waits for the
warehouse.

    python -m dashboards.snapshot          # publish now (what `churn publish` runs)
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from warehouse import WarehouseError, check_name, get_warehouse
from warehouse.settings import Settings, get_settings

SCHEMA = "marts"
INFO_TABLE = "snapshot_info.tables"
# the marts the app reads; other targets (no DuckDB file to attach) copy these by name
APP_TABLES = (
    "at_risk_customers",
    "customer_risk_history",
    "customer_recent_actions",
    "risk_trends",
    "risk_tier_cutoffs",
    "high_risk_cases",
    "high_risk_episodes",
    "save_effect",
    "save_rate",
    "model_performance",
    "model_health",
    "recent_job_runs",
    "drift_history",
)


@dataclass
class SnapshotResult:
    """What a publish wrote: the file, rows per table, when, and how long it took."""

    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    published_at: datetime | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for logs and the CLI."""
        total = sum(self.rows.values())
        return (
            f"published {len(self.rows)} marts ({total:,} rows) to {self.path} "
            f"in {self.seconds:.1f} s"
        )


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's own catalog, quoted: a file named marts.duckdb is also a catalog
    named `marts`, which makes `marts.table` ambiguous, so every name is fully qualified."""
    found = con.execute("select current_database()").fetchone()
    return '"' + str(found[0] if found else "memory").replace('"', '""') + '"'


def _copy_from_duckdb(con: duckdb.DuckDBPyConnection, source: Path) -> list[str]:
    """Attach the warehouse read-only and copy every table of the marts schema."""
    if not source.exists():
        raise WarehouseError(
            f"warehouse file {source} does not exist: run `churn demo` (or ingest + transform)"
        )
    try:
        con.execute(f"attach {_sql_string(str(source))} as wh (read_only)")
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"cannot read warehouse {source}: {exc}. Another process is writing it: publish "
            "after that run has finished (the app keeps showing the previous snapshot)"
        ) from exc
    try:
        here = _catalog(con)
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_catalog = 'wh' "
                "and table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [SCHEMA],
            ).fetchall()
        ]
        for table in tables:
            con.execute(
                f'create table {here}.{SCHEMA}."{table}" as select * from wh.{SCHEMA}."{table}"'
            )
    finally:
        con.execute("detach wh")
    return tables


def _copy_through_gateway(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Other targets: read each app mart through the gateway (they are small)."""
    wh = get_warehouse(settings, read_only=True)
    tables = []
    for table in APP_TABLES:
        name = f"{SCHEMA}.{table}"
        if not wh.table_exists(name):
            continue
        frame = wh.read_table(name)
        con.register("incoming", frame)
        con.execute(f"create table {_catalog(con)}.{name} as select * from incoming")
        con.unregister("incoming")
        tables.append(table)
    return tables


def publish_app_snapshot(settings: Settings | None = None) -> SnapshotResult:
    """Copy the warehouse's `marts` schema to `settings.app_snapshot_file`, atomically.

    Takes the settings (warehouse and snapshot paths); returns what was written. Raises
    WarehouseError when the warehouse has no marts yet or another process is writing it; the
    previous snapshot then stays in place.
    """
    settings = settings or get_settings()
    started = time.perf_counter()
    final = Path(settings.app_snapshot_file)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    published_at = datetime.now(UTC).replace(tzinfo=None)
    rows: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"create schema {_catalog(con)}.{SCHEMA}")
            if settings.target == "local":
                tables = _copy_from_duckdb(con, Path(settings.warehouse_file))
            else:
                tables = _copy_through_gateway(con, settings)
            if not tables:
                raise WarehouseError(
                    f"the warehouse has no {SCHEMA} tables yet: run `churn transform` (dbt "
                    "build) first; the marts build empty until `churn score` has run"
                )
            for table in tables:
                found = con.execute(
                    f'select count(*) from {_catalog(con)}.{SCHEMA}."{table}"'
                ).fetchone()
                rows[table] = int(found[0]) if found else 0
            info = pd.DataFrame(
                {
                    "table_name": list(rows),
                    "rows": list(rows.values()),
                    "published_at": published_at,
                    "source": str(
                        settings.warehouse_file if settings.target == "local" else settings.target
                    ),
                }
            )
            con.execute(f"create schema {_catalog(con)}.snapshot_info")
            con.register("info", info)
            con.execute(f"create table {_catalog(con)}.{INFO_TABLE} as select * from info")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
    return SnapshotResult(final, rows, published_at, time.perf_counter() - started)


def read_app_table(
    table: str, settings: Settings | None = None, path: Path | None = None
) -> pd.DataFrame | None:
    """All rows of `marts.<table>` in the app snapshot, or None when the snapshot or the table
    does not exist. Opens the snapshot read-only and closes it at once, so a publish can
    replace the file at any time."""
    settings = settings or get_settings()
    path = Path(path or settings.app_snapshot_file)
    name = check_name(table if "." in table else f"{SCHEMA}.{table}")
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        schema, _, bare = name.partition(".")
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, bare],
        ).fetchone()
        if not found or not found[0]:
            return None
        return con.execute(f"select * from {_catalog(con)}.{name}").df()
    finally:
        con.close()


def snapshot_published_at(settings: Settings | None = None) -> datetime | None:
    """When the current snapshot was published (None when there is none)."""
    info = read_app_table(INFO_TABLE, settings)
    if info is None or info.empty:
        return None
    return pd.Timestamp(info["published_at"].max()).to_pydatetime()


def main() -> None:
    """Publish with the process's settings and print what was written."""
    print(publish_app_snapshot().describe())


if __name__ == "__main__":
    main()
