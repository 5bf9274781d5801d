"""The incremental usage models give exactly what a full rebuild gives.

A week's run adds new events, late events for days already counted and a re-delivered
event; the incremental build must then hold the same rows as `--full-refresh` on the same raw
data, feature for feature, and a run with nothing new must change nothing.
"""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
from dbt_helpers import run_dbt
from raw_fixture import write_raw_fixture

CUT = "2024-12-02"  # the first build sees events before this Monday (and not the late ones)
LATE_FROM = "2024-10-21"  # a tenth of the events from here to CUT arrive only with the next load
LATER_LOAD = "2025-01-08 03:00:00"

# model -> columns compared (the incremental bookkeeping columns differ by design)
COMPARED = {
    "intermediate.int_usage_daily": "* exclude (loaded_at)",
    "intermediate.int_usage_member_weeks": "* exclude (loaded_at)",
    "intermediate.int_usage_windows": "* exclude (usage_loaded_at)",
    "intermediate.int_usage_distinct_30d": "* exclude (usage_loaded_at)",
    "features.customer_features": "*",
    "features.training_set": "*",
}


def _hold_back_next_load(path) -> int:
    """Move the next load's events out of raw.usage_events; returns how many."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            f"""
            create table raw.next_load as
            select * from raw.usage_events
            where occurred_at >= '{CUT}'
                or (occurred_at >= '{LATE_FROM}' and hash(event_id) % 10 = 0)
            """
        )
        con.execute(
            "delete from raw.usage_events where event_id in (select event_id from raw.next_load)"
        )
        return con.execute("select count(*) from raw.next_load").fetchone()[0]
    finally:
        con.close()


def _land_next_load(path) -> None:
    """The held-back events arrive with a later load, with one already-loaded event again."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            f"""
            insert into raw.usage_events
            select * replace (timestamp '{LATER_LOAD}' as _loaded_at) from raw.next_load
            union all
            select * replace (timestamp '{LATER_LOAD}' as _loaded_at)
            from (select * from raw.usage_events where occurred_at < '{LATE_FROM}' limit 1)
            """
        )
        con.execute("drop table raw.next_load")
    finally:
        con.close()


def _snapshot(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: con.execute(f"select {columns} from {table} order by all").fetchall()
            for table, columns in COMPARED.items()
        }
    finally:
        con.close()


def _build(args: list[str], path, target) -> None:
    run = run_dbt(args, path, target)
    assert run.result.success, run.log[-3000:]


def test_incremental_build_equals_full_rebuild(tmp_path):
    incremental = tmp_path / "incremental.duckdb"
    write_raw_fixture(incremental)
    held_back = _hold_back_next_load(incremental)
    assert held_back > 100

    _build(["run"], incremental, tmp_path / "target")
    first = _snapshot(incremental)
    _land_next_load(incremental)
    _build(["run"], incremental, tmp_path / "target")
    after_week = _snapshot(incremental)

    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(incremental, rebuilt)
    _build(["run", "--full-refresh"], rebuilt, tmp_path / "target")
    expected = _snapshot(rebuilt)

    for table in COMPARED:
        assert after_week[table] == expected[table], f"{table} differs from a full rebuild"
    # the week mattered: new snapshots, and late events changed snapshots already computed
    assert len(after_week["features.customer_features"]) > len(first["features.customer_features"])
    first_windows = {row[:2]: row for row in first["intermediate.int_usage_windows"]}
    changed = [
        row[:2]
        for row in after_week["intermediate.int_usage_windows"]
        if row[:2] in first_windows and first_windows[row[:2]] != row
    ]
    assert changed, "late events should change snapshots computed by the first build"
    assert min(as_of for _customer, as_of in changed) < date.fromisoformat(CUT)

    # a run with nothing new changes nothing
    _build(["run"], incremental, tmp_path / "target")
    assert _snapshot(incremental) == after_week
