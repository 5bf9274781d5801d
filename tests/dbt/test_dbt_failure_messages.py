"""A failing dbt test names the model, the column and a sample key."""

from __future__ import annotations

import duckdb
from dbt_helpers import add_orphan_cs_action, run_dbt


def test_failing_relationship_names_model_column_and_key(warehouse_copy, tmp_path):
    add_orphan_cs_action(warehouse_copy)

    run = run_dbt(["build", "--select", "stg_cs__actions"], warehouse_copy, tmp_path / "target")

    assert not run.result.success
    failed = {uid: s for uid, s in run.node_statuses().items() if s == "fail"}
    assert any("relationships_stg_cs__actions_customer_id" in uid for uid in failed), failed
    report = [m for m in run.messages if m.startswith("TEST FAILURE")]
    assert any(
        "model: stg_crm__customers, stg_cs__actions" in m
        or ("stg_cs__actions" in m and "column: customer_id" in m)
        for m in report
    ), report
    assert any("C9999999" in m for m in report), report


def test_duplicate_key_names_model_columns_and_key(warehouse_copy, tmp_path):
    con = duckdb.connect(str(warehouse_copy))
    try:
        # break the spine's key by hand: the same customer-week twice
        con.execute(
            "insert into intermediate.int_customer_weeks "
            "select * from intermediate.int_customer_weeks "
            "where customer_id = 'C0000003' and as_of_date = date '2024-10-07'"
        )
    finally:
        con.close()

    selector = "int_customer_weeks,test_name:unique_combination_of_columns"
    run = run_dbt(["test", "--select", selector], warehouse_copy, tmp_path / "target")

    assert not run.result.success
    report = [m for m in run.messages if m.startswith("TEST FAILURE")]
    assert any(
        "int_customer_weeks" in m and "customer_id, as_of_date" in m and "C0000003|2024-10-07" in m
        for m in report
    ), report
