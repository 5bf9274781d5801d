"""The incremental models give exactly what a full rebuild gives.

A week's run adds new rows to every source, late rows for days already computed (usage events,
ticket updates, CRM versions, CS actions, invoices), a late cancellation that takes snapshots
out of the spine, a CRM correction that moves a signup day later, an unchanged CRM re-delivery
and a re-delivered event; the incremental build must then hold the same rows
as `--full-refresh` on the same raw data, feature for feature, and a run with nothing new must
change nothing.
"""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
from dbt_helpers import read_results, run_dbt
from raw_fixture import write_raw_fixture

CUT = "2024-12-02"  # the first build sees events before this Monday (and not the late ones)
LATE_FROM = "2024-10-21"  # a tenth of the events from here to CUT arrive only with the next load
LATER_LOAD = "2025-01-08 03:00:00"
CORRECTED_AT = "2024-12-01 10:00:00"  # the CRM's re-delivery and signup correction
CANCELLED = date(2024, 10, 15)  # C0000005's cancellation, delivered only with the next load

# model -> columns compared (the incremental bookkeeping columns differ by design)
SNAPSHOT = "* exclude (inputs_loaded_at)"
COMPARED = {
    "intermediate.int_usage_daily": "* exclude (loaded_at)",
    # insert-only: a member-week touched by two loads has two rows; compare them merged
    "intermediate.int_usage_member_weeks": (
        "customer_id, member_type, member, week_start, min(first_active_date), "
        "max(last_active_date)"
    ),
    "intermediate.int_customer_weeks": "* exclude (inputs_loaded_at, added_loaded_at)",
    "intermediate.int_usage_windows": SNAPSHOT,
    "intermediate.int_usage_distinct_30d": SNAPSHOT,
    "intermediate.int_billing_as_of": SNAPSHOT,
    "intermediate.int_crm_attributes_as_of": SNAPSHOT,
    "intermediate.int_cs_actions_as_of": SNAPSHOT,
    "intermediate.int_tickets_as_of": SNAPSHOT,
    "intermediate.int_customer_features": SNAPSHOT,
    "features.customer_features": "*",
    "features.training_set": "*",
}

# raw table -> the rows the next load brings: usage from CUT on and a tenth of it from LATE_FROM
# on; the later half of the fixture's ticket updates, CRM versions and CS actions (a new
# customer, C0000004, arrives late altogether); Stripe from CUT on, a tenth of the invoices
# from LATE_FROM on and every cancellation (C0000005 cancelled on 2024-10-15, so its later
# snapshots must leave the spine)
NEXT_LOAD = {
    "usage_events": f"""occurred_at >= '{CUT}'
        or (occurred_at >= '{LATE_FROM}' and hash(event_id) % 10 = 0)""",
    "zendesk_tickets": "updated_at >= '2024-10-10'",
    "crm_customers": "updated_at >= '2024-08-01'",
    "crm_cs_actions": "action_at >= '2024-10-01'",
    "stripe_events": f"""to_timestamp(created) >= '{CUT}'
        or (to_timestamp(created) >= '{LATE_FROM}' and hash(id) % 10 = 0)
        or type = 'customer.subscription.deleted'""",
}


def _hold_back_next_load(path) -> dict[str, int]:
    """Move the next load's rows out of the raw tables; returns how many per table."""
    con = duckdb.connect(str(path))
    held = {}
    try:
        for table, next_load in NEXT_LOAD.items():
            con.execute(f"create table raw.next_{table} as select * from raw.{table} limit 0")
            con.execute(
                f"""
                with moved as (
                    delete from raw.{table}
                    where {next_load}
                    returning *
                )
                insert into raw.next_{table} select * from moved
                """
            )
            held[table] = con.execute(f"select count(*) from raw.next_{table}").fetchone()[0]
        return held
    finally:
        con.close()


def _land_next_load(path) -> None:
    """The held-back rows arrive with a later load, with one already-loaded event again."""
    con = duckdb.connect(str(path))
    try:
        for table in NEXT_LOAD:
            con.execute(
                f"""
                insert into raw.{table}
                select * replace (timestamp '{LATER_LOAD}' as _loaded_at) from raw.next_{table}
                """
            )
            con.execute(f"drop table raw.next_{table}")
        con.execute(
            f"""
            insert into raw.usage_events
            select * replace (timestamp '{LATER_LOAD}' as _loaded_at)
            from (select * from raw.usage_events where occurred_at < '{LATE_FROM}' limit 1)
            """
        )
        # the CRM sends C0000001's latest record again unchanged but for updated_at, and
        # corrects C0000003's signup day to 100 days later (its first weeks leave the spine)
        for customer, signup_shift in (("C0000001", 0), ("C0000003", 100)):
            con.execute(
                f"""
                insert into raw.crm_customers
                select * replace (
                    signup_date + {signup_shift} as signup_date,
                    timestamp '{CORRECTED_AT}' as updated_at,
                    timestamp '{LATER_LOAD}' as _loaded_at
                )
                from raw.crm_customers
                where customer_id = '{customer}'
                order by updated_at desc
                limit 1
                """
            )
    finally:
        con.close()


def _snapshot(path) -> dict[str, list[tuple]]:
    return read_results(
        path,
        {
            table: f"select {columns} from {table}"
            + (" group by all" if "min(" in columns else "")
            + " order by all"
            for table, columns in COMPARED.items()
        },
    )


def _spine_stamps(path, customer: str) -> list[tuple]:
    """(as_of_date, inputs_loaded_at) of a customer's spine rows: changed only if recomputed."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select as_of_date, inputs_loaded_at from intermediate.int_customer_weeks "
            "where customer_id = ? order by all",
            [customer],
        ).fetchall()
    finally:
        con.close()


def _first_week(snapshot: dict[str, list[tuple]], customer: str) -> date:
    return min(row[1] for row in snapshot["features.customer_features"] if row[0] == customer)


def _build(args: list[str], path, target) -> None:
    run = run_dbt(args, path, target)
    assert run.result.success, run.log[-3000:]


def test_incremental_build_equals_full_rebuild(tmp_path):
    incremental = tmp_path / "incremental.duckdb"
    write_raw_fixture(incremental)
    held_back = _hold_back_next_load(incremental)
    assert held_back["usage_events"] > 100
    assert all(held_back.values()), held_back

    _build(["run"], incremental, tmp_path / "target")
    first = _snapshot(incremental)
    stamps_before = _spine_stamps(incremental, "C0000001")
    _land_next_load(incremental)
    _build(["run"], incremental, tmp_path / "target")
    after_week = _snapshot(incremental)

    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(incremental, rebuilt)
    _build(["run", "--full-refresh"], rebuilt, tmp_path / "target")
    expected = _snapshot(rebuilt)

    for table in COMPARED:
        assert after_week[table] == expected[table], f"{table} differs from a full rebuild"
    # the week mattered: new snapshots, and late rows changed snapshots already computed
    assert {row[1] for row in after_week["features.customer_features"]} > {
        row[1] for row in first["features.customer_features"]
    }
    for table in ("int_usage_windows", "int_tickets_as_of", "int_crm_attributes_as_of"):
        before = {row[:2]: row for row in first[f"intermediate.{table}"]}
        changed = [
            row[:2]
            for row in after_week[f"intermediate.{table}"]
            if row[:2] in before and before[row[:2]] != row
        ]
        assert changed, f"late rows should change {table} snapshots of the first build"
        assert min(as_of for _customer, as_of in changed) < date.fromisoformat(CUT)
    # the late cancellation took C0000005's later snapshots out of every layer
    for table in ("intermediate.int_usage_windows", "features.customer_features"):
        left = [row for row in first[table] if row[0] == "C0000005" and row[1] > CANCELLED]
        assert left, "the first build should not know the cancellation yet"
        assert not [r for r in after_week[table] if r[0] == "C0000005" and r[1] > CANCELLED]

    # the signup correction took C0000003's first weeks out; the unchanged re-delivery left
    # C0000001's spine rows as they were (not even recomputed: same stamps)
    assert _first_week(after_week, "C0000003") > _first_week(first, "C0000003")
    assert set(stamps_before) <= set(_spine_stamps(incremental, "C0000001"))

    # a run with nothing new changes nothing
    _build(["run"], incremental, tmp_path / "target")
    assert _snapshot(incremental) == after_week
