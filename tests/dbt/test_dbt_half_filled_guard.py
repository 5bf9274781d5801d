"""A feature column that is empty in the past and filled now fails the build.

An incremental model that gains a column (on_schema_change 'append_new_columns') fills it only
on the snapshots it computes from then on. The generic test `feature_columns_filled` on
customer_features and training_set (macros/test_feature_columns_filled.sql) fails when a
column is NULL on every snapshot before some date and filled after it, or NULL in more than
a share of rows without being listed as sparse; the stored failures name the column, the
dates and the null share.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
from dbt_helpers import REPO, DbtRun, run_dbt

TEST = "feature_columns_filled"
VIEWS = ("customer_features", "training_set")
# the feature views read this table: a column added to it shows in them at once (DuckDB binds
# `select *` when the view is read)
TABLE = "intermediate.int_customer_features"
# the guard alone, on both views (they read the table, so they need no rebuild)
RUN_GUARD = ["test", "--select", f"test_name:{TEST}"]


def _snapshot_dates(path: Path) -> list[date]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(f"select distinct as_of_date from {TABLE} order by 1").fetchall()
    finally:
        con.close()
    return [d for (d,) in rows]


def _execute(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _guard_results(run: DbtRun) -> dict[str, tuple[str, str | None]]:
    """view name -> (status, relation of its stored failures) of the guard on that view."""
    found = {}
    for result in run.result.result.results:
        node = result.node
        if node.resource_type == "test" and node.name.startswith(TEST):
            view = next(v for v in VIEWS if node.name.startswith(f"{TEST}_{v}"))
            found[view] = (str(result.status), node.relation_name)
    assert set(found) == set(VIEWS), "add feature_columns_filled to both views' data_tests"
    return found


def _stored_failures(path: Path, relation: str) -> dict[str, dict]:
    """column name -> its stored failure row (as a dict)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(f"select * from {relation}")
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    return {row["column_name"]: row for row in rows}


def test_guard_passes_on_the_built_fixture(built_warehouse):
    _path, run = built_warehouse
    assert run.result.success, run.log[-3000:]
    results = _guard_results(run)
    assert {status for status, _ in results.values()} == {"pass"}, results


def test_new_column_filled_only_on_recent_snapshots_fails_naming_it_and_the_dates(
    warehouse_copy, tmp_path
):
    # what append_new_columns leaves: a column added to the table, filled from a date on
    dates = _snapshot_dates(warehouse_copy)
    first_filled = dates[7]
    _execute(
        warehouse_copy,
        f"alter table {TABLE} add column tickets_30d bigint",
        f"update {TABLE} set tickets_30d = 0 where as_of_date >= date '{first_filled}'",
    )

    # no YAML names tickets_30d: the guard takes the columns from the relation
    run = run_dbt(RUN_GUARD, warehouse_copy, tmp_path / "target")

    assert not run.result.success
    results = _guard_results(run)
    for view in VIEWS:
        status, relation = results[view]
        assert status == "fail", (view, run.log[-3000:])
        failure = _stored_failures(warehouse_copy, relation)["tickets_30d"]
        assert failure["failure_reason"].startswith("half filled"), failure
        assert failure["first_snapshot"] == dates[0]
        assert failure["last_empty_snapshot"] == dates[6]
        assert failure["first_filled_snapshot"] == first_filled
        assert failure["empty_snapshots"] == 7
        detail = failure["failure_detail"]
        assert f"{view}.tickets_30d" in detail and str(dates[6]) in detail, detail
        assert str(first_filled) in detail and "% of" in detail, detail
    report = [m for m in run.messages if m.startswith(f"TEST FAILURE {TEST}")]
    assert len(report) == 2 and all("tickets_30d" in m for m in report), report


def test_views_rebuilt_over_a_column_whose_history_is_null_fail_the_build(warehouse_copy, tmp_path):
    # a declared feature re-added to the table and filled from a date on: the views still
    # match their contracts, so they build, and the guard after them fails the build
    dates = _snapshot_dates(warehouse_copy)
    first_filled = dates[7]
    _execute(
        warehouse_copy,
        f"create temp table kept as select customer_id, as_of_date, tickets_90d from {TABLE}",
        f"alter table {TABLE} drop column tickets_90d",
        f"alter table {TABLE} add column tickets_90d bigint",
        f"""update {TABLE} set tickets_90d = kept.tickets_90d from kept
            where {TABLE}.customer_id = kept.customer_id
              and {TABLE}.as_of_date = kept.as_of_date
              and kept.as_of_date >= date '{first_filled}'""",
    )

    run = run_dbt(["build", "--select", *VIEWS], warehouse_copy, tmp_path / "target")

    assert not run.result.success
    statuses = run.node_statuses()
    assert statuses["model.churn.customer_features"] == "success", run.log[-3000:]
    assert statuses["model.churn.training_set"] == "success", run.log[-3000:]
    for view, (status, relation) in _guard_results(run).items():
        assert status == "fail", view
        failure = _stored_failures(warehouse_copy, relation)["tickets_90d"]
        assert (failure["last_empty_snapshot"], failure["first_filled_snapshot"]) == (
            dates[6],
            first_filled,
        )


def _project_with_sparse(tmp_path: Path, column: str) -> Path:
    """A copy of the dbt project whose feature views also list `column` as sparse."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "dbt_project", project / "dbt_project")
    shutil.copy(REPO / "dbt_project.yml", project / "dbt_project.yml")
    for view in VIEWS:
        yml = project / "dbt_project" / "models" / "features" / f"{view}.yml"
        text = yml.read_text()
        assert text.count("sparse_columns: [") == 1, f"{view}.yml: one sparse_columns list"
        yml.write_text(text.replace("sparse_columns: [", f"sparse_columns: [{column}, "))
    return project


def test_column_null_in_too_many_rows_fails_unless_listed_as_sparse(warehouse_copy, tmp_path):
    _execute(
        warehouse_copy,
        # a feature lost for half the customers, on every snapshot
        f"update {TABLE} set country = null "
        "where customer_id in ('C0000001', 'C0000003', 'C0000006')",
        # a column listed as sparse may be NULL on every row
        f"update {TABLE} set days_since_last_failed_payment = null",
    )

    run = run_dbt(RUN_GUARD, warehouse_copy, tmp_path / "target")

    assert not run.result.success
    for view, (status, relation) in _guard_results(run).items():
        assert status == "fail", view
        failures = _stored_failures(warehouse_copy, relation)
        assert set(failures) == {"country"}, failures
        failure = failures["country"]
        assert failure["failure_reason"] == "too sparse"
        assert failure["null_share"] > failure["null_share_max"]
        assert "country: NULL in " in failure["failure_detail"], failure
        assert "sparse_columns" in failure["failure_detail"], failure

    project = _project_with_sparse(tmp_path, "country")
    listed = run_dbt(
        [*RUN_GUARD, "--project-dir", str(project)], warehouse_copy, tmp_path / "target_listed"
    )

    assert listed.result.success, listed.log[-3000:]
    assert {status for status, _ in _guard_results(listed).values()} == {"pass"}
