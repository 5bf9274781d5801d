"""A source row dated outside any plausible window is flagged in staging and changes nothing.

Raw keeps it; staging flags it with a reason; the spine, the labels, the features and the
training set are exactly those of the build without it. The share test warns and fails by its
thresholds, naming the source, the count and a key.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from dbt_helpers import FIXTURE_VARS, run_dbt
from raw_fixture import add_badly_dated_rows

COMPARED = (
    "features.customer_features",
    "features.training_set",
    "intermediate.int_customer_weeks",
    "intermediate.int_customer_churn_dates",
    "intermediate.int_data_range",
)


def _rows(path: Path, table: str) -> list[tuple]:
    """Every row of `table` in a stable order, without load-time columns (a later load moves
    those without changing what the row says)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        schema, name = table.split(".")
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            if not c.endswith("loaded_at")
        ]
        listed = ", ".join(columns)
        return con.execute(f"select {listed} from {table} order by all").fetchall()
    finally:
        con.close()


def _flags(path: Path, model: str) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [
            reason
            for (reason,) in con.execute(
                f"select invalid_reason from staging.{model} "
                "where loaded_at > timestamp '2025-01-01 12:00:00' and not is_valid"
            ).fetchall()
        ]
    finally:
        con.close()


def test_badly_dated_rows_are_flagged_and_change_nothing(built_warehouse, warehouse_copy, tmp_path):
    clean, _run = built_warehouse
    expected = add_badly_dated_rows(warehouse_copy)

    run = run_dbt(["build"], warehouse_copy, tmp_path / "target", dbt_vars=FIXTURE_VARS)
    assert run.result.success, run.log[-3000:]

    for model, reason in expected.items():
        assert reason in _flags(warehouse_copy, model), model
    assert "occurred_at before the data start" in _flags(warehouse_copy, "stg_usage__events")
    for table in COMPARED:
        assert _rows(warehouse_copy, table) == _rows(clean, table), table
    # raw keeps what the sources sent
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        kept = con.execute(
            "select count(*) from raw.usage_events where event_id in ('E9990001', 'E9990002')"
        ).fetchone()[0]
    finally:
        con.close()
    assert kept == 2


def test_flagged_share_warns_then_fails_naming_source_count_and_key(warehouse_copy, tmp_path):
    add_badly_dated_rows(warehouse_copy)
    select = ["--select", "stg_usage__events", "--exclude", "test_type:unit"]

    warned = run_dbt(
        ["build", *select],
        warehouse_copy,
        tmp_path / "target",
        dbt_vars={**FIXTURE_VARS, "flagged_share_warn_bp": 0},
    )
    assert warned.result.success, warned.log[-3000:]
    statuses = warned.node_statuses()
    share = [k for k in statuses if "flagged_share_stg_usage__events" in k]
    assert share and statuses[share[0]] == "warn"
    report = [m for m in warned.messages if m.startswith("TEST FAILURE flagged_share")]
    assert report and '"source_name": "usage"' in report[0] and '"example_key"' in report[0]
    relation = next(
        r.node.relation_name for r in warned.result.result.results if r.node.unique_id == share[0]
    )
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        stored = con.execute(
            f"select flagged_rows, example_key from {relation} "
            "where invalid_reason = 'occurred_at after its load'"
        ).fetchall()
    finally:
        con.close()
    assert stored == [(1, "E9990001")]

    failed = run_dbt(
        ["build", *select],
        warehouse_copy,
        tmp_path / "target2",
        dbt_vars={**FIXTURE_VARS, "flagged_share_warn_bp": 0, "flagged_share_error_bp": 0},
    )
    assert not failed.result.success
    assert failed.node_statuses()[share[0]] == "fail"
