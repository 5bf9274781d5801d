"""Replay one weekly feature build on kept data, and check it against a full rebuild.

`python -m bench --part pipeline` simulates and ingests from scratch (half an hour at 100k
customers). This replays only the dbt part on two kept raw-only warehouses of the same company:
`before` (loaded up to a week before the end) and `after` (the same, one weekly load later):

    python -m bench.weekly --before w1/warehouse.duckdb --after w2/warehouse.duckdb \\
        --workdir /tmp/weekly [--compare]

It builds the features on `before`, swaps in the raw tables of `after`, runs the weekly
incremental build and prints its time (elapsed and summed model time) beside one plain GROUP BY
over the raw events; `--compare` then builds `after` from scratch (`--full-refresh`) and checks
that every table of the feature layer holds the same rows, bookkeeping columns aside.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from bench.pipeline import _feature_elapsed_seconds, _feature_sql_seconds
from warehouse.settings import Settings

# columns that say when a row was computed: they differ between the two builds by design
BOOKKEEPING = ("loaded_at", "inputs_loaded_at", "added_loaded_at", "recorded_at")
# insert-only with a row per load that touched a member-week: compared merged
MERGED = {
    "int_usage_member_weeks": (
        "customer_id, member_type, member, week_start, min(first_active_date), "
        "max(last_active_date)",
        " group by all",
    )
}
GROUP_BY = (
    "select customer_id, count(*), count(distinct user_id), max(occurred_at) "
    "from raw.usage_events group by 1"
)
app = typer.Typer(add_completion=False)


def _build(data_dir: Path, *args: str) -> None:
    from flows.dbt_runner import run_dbt
    from flows.jobs import MARTS

    run_dbt(["run", "--exclude", MARTS, *args], Settings(data_dir=data_dir))


def _connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection without DuckDB's progress bar (long queries print one otherwise)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set enable_progress_bar = false")
    return con


def _swap_raw(warehouse: Path, after: Path) -> None:
    """What a weekly ingest leaves: the raw tables of `after` (the same rows plus a week)."""
    con = _connect(warehouse)
    try:
        con.execute(f"attach '{after}' as after_load (read_only)")
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'after_load' and table_schema = 'raw'"
        ).fetchall()
        for (table,) in tables:
            con.execute(
                f'create or replace table raw."{table}" as select * from after_load.raw."{table}"'
            )
    finally:
        con.close()


def _group_by_seconds(warehouse: Path, runs: int) -> list[float]:
    con = _connect(warehouse, read_only=True)
    try:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            con.execute(GROUP_BY).fetchall()
            times.append(time.perf_counter() - started)
        return times
    finally:
        con.close()


def _differing_tables(built: Path, rebuilt: Path) -> list[str]:
    """Tables of the staging, intermediate and features layers whose rows differ."""
    con = _connect(built, read_only=True)
    try:
        con.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_type = 'BASE TABLE' "
            "and table_schema in ('staging', 'intermediate', 'features')"
        ).fetchall()
        differing = []
        for schema, table in tables:
            columns = ", ".join(
                f'"{name}"'
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_catalog = current_database() and table_schema = ? "
                    "and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in BOOKKEEPING
            )
            columns, grouping = MERGED.get(table, (columns, ""))
            one = f'select {columns} from "{schema}"."{table}"{grouping}'
            other = f'select {columns} from rebuilt."{schema}"."{table}"{grouping}'
            only = con.execute(
                f"select (select count(*) from ({one} except all {other})), "
                f"(select count(*) from ({other} except all {one}))"
            ).fetchone()
            if any(only):
                differing.append(
                    f"{schema}.{table} ({only[0]} rows only incremental, {only[1]} only rebuilt)"
                )
        return differing
    finally:
        con.close()


@app.command()
def main(
    before: Annotated[Path, typer.Option(help="raw-only warehouse, a week before the end")],
    after: Annotated[Path, typer.Option(help="the same warehouse one weekly load later")],
    workdir: Annotated[Path, typer.Option()] = Path("/tmp/churn-weekly"),
    compare: Annotated[bool, typer.Option(help="also check against a full rebuild")] = False,
    group_by_runs: int = 5,
) -> None:
    from flows.dbt_runner import PROJECT_DIR

    incremental = workdir / "incremental"
    incremental.mkdir(parents=True, exist_ok=True)
    shutil.copy(before, incremental / "warehouse.duckdb")
    _build(incremental)
    first = _feature_elapsed_seconds(PROJECT_DIR), _feature_sql_seconds(PROJECT_DIR)
    _swap_raw(incremental / "warehouse.duckdb", after)
    _build(incremental)
    weekly = _feature_elapsed_seconds(PROJECT_DIR), _feature_sql_seconds(PROJECT_DIR)
    group_by = sorted(_group_by_seconds(incremental / "warehouse.duckdb", group_by_runs))
    median = group_by[len(group_by) // 2]
    typer.echo(f"first build: {first[0]:.1f} s elapsed, {first[1]:.1f} s model time summed")
    typer.echo(f"weekly run:  {weekly[0]:.1f} s elapsed, {weekly[1]:.1f} s model time summed")
    typer.echo(
        f"GROUP BY over raw events: {', '.join(f'{t:.2f}' for t in group_by)} s; "
        f"weekly elapsed / median GROUP BY = {weekly[0] / median:.1f}x"
    )
    if compare:
        rebuilt = workdir / "rebuilt"
        rebuilt.mkdir(parents=True, exist_ok=True)
        shutil.copy(after, rebuilt / "warehouse.duckdb")
        _build(rebuilt, "--full-refresh")
        differing = _differing_tables(
            incremental / "warehouse.duckdb", rebuilt / "warehouse.duckdb"
        )
        typer.echo(
            "incremental == full rebuild" if not differing else "DIFFERENT: " + "; ".join(differing)
        )
        if differing:
            raise typer.Exit(1)


if __name__ == "__main__":
    app()
