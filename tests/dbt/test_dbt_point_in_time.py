"""No feature of as_of_date D changes when rows dated on or after D reach the raw tables."""

from __future__ import annotations

from datetime import date

import duckdb
from dbt_helpers import run_dbt
from raw_fixture import add_future_rows

D = date(2024, 11, 18)  # a Monday inside the fixture's spine


def _features_up_to(path, day: date):
    con = duckdb.connect(str(path))
    try:
        return con.execute(
            "select * from features.customer_features where as_of_date <= ? "
            "order by customer_id, as_of_date",
            [day],
        ).fetchall()
    finally:
        con.close()


def test_features_ignore_rows_dated_on_or_after_as_of_date(warehouse_copy, tmp_path):
    before = _features_up_to(warehouse_copy, D)
    assert len(before) > 20

    add_future_rows(warehouse_copy, D)
    run = run_dbt(["run"], warehouse_copy, tmp_path / "target")
    assert run.result.success, run.log[-3000:]

    after = _features_up_to(warehouse_copy, D)
    assert after == before

    # the incremental staging of usage events is idempotent: a run with no new rows adds none
    def staged_events() -> int:
        con = duckdb.connect(str(warehouse_copy))
        try:
            return con.execute("select count(*) from staging.stg_usage__events").fetchone()[0]
        finally:
            con.close()

    n_staged = staged_events()
    again = run_dbt(["run", "--select", "stg_usage__events"], warehouse_copy, tmp_path / "target")
    assert again.result.success, again.log[-3000:]
    assert staged_events() == n_staged
    # the future rows did arrive: later snapshots and the new customer see them
    con = duckdb.connect(str(warehouse_copy))
    try:
        later = con.execute(
            "select count(*) from features.customer_features where as_of_date > ?", [D]
        ).fetchone()[0]
        assert later > 0
        new_customer = con.execute(
            "select count(*) from features.customer_features where customer_id = 'C0000007'"
        ).fetchone()[0]
        assert new_customer > 0
    finally:
        con.close()
