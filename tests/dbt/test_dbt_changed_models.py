"""An incremental model whose SQL changed recomputes its history; an unchanged one does not.

On a built warehouse, a project copy gets a new feature column (then a plain `dbt build`) or
a changed window (then `dbt build -s int_tickets_as_of+`) in an incremental model; the result
must hold exactly what `--full-refresh` gives and say which models it rebuilt and why, and a
build with nothing changed must rewrite no row.
Rows rewritten are counted, not seconds: every stored row is marked (a value pushed out of
range) before the run, and a row the run did not rewrite keeps the mark.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from dbt_helpers import DbtRun, copy_project, run_dbt

TICKETS = Path("dbt_project/models/intermediate/int_tickets_as_of.sql")
SELECTED = "int_tickets_as_of+"
MARK = 1_000_000
# model -> columns compared (the incremental bookkeeping columns differ by design)
COMPARED = {
    "intermediate.int_tickets_as_of": "* exclude (inputs_loaded_at)",
    "intermediate.int_customer_features": "* exclude (inputs_loaded_at)",
    "features.customer_features": "*",
    "features.training_set": "*",
}


def _edit(project: Path, old: str, new: str) -> None:
    path = project / TICKETS
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _mark_stored_rows(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"update intermediate.int_tickets_as_of set tickets_90d = tickets_90d + {MARK}")
        return con.execute("select count(*) from intermediate.int_tickets_as_of").fetchone()[0]
    finally:
        con.close()


def _rows_still_marked(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"select count(*) from intermediate.int_tickets_as_of where tickets_90d >= {MARK}"
        ).fetchone()[0]
    finally:
        con.close()


def _tables(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            table: con.execute(f"select {columns} from {table} order by all").fetchall()
            for table, columns in COMPARED.items()
        }
    finally:
        con.close()


def _rebuild_line(run: DbtRun) -> str:
    lines = [m for m in run.messages if m.startswith("FULL REBUILD")]
    assert len(lines) == 1, run.log[-3000:]
    return lines[0]


def _build_and_compare(
    project: Path, warehouse: Path, tmp_path: Path, select: tuple[str, ...] = ()
) -> DbtRun:
    """Mark, build the edited model and its descendants, and compare with --full-refresh."""
    full = tmp_path / "full.duckdb"
    shutil.copy(warehouse, full)
    n = _mark_stored_rows(warehouse)
    run = run_dbt(["build", *select], warehouse, tmp_path / "target", project_dir=project)
    assert run.result.success, run.log[-3000:]
    assert _rows_still_marked(warehouse) == 0 and n > 0

    reference = run_dbt(
        ["run", *select, "--full-refresh"],
        full,
        tmp_path / "target_full",
        project_dir=project,
    )
    assert reference.result.success, reference.log[-3000:]
    assert not [m for m in reference.messages if m.startswith("FULL REBUILD")]
    assert _tables(warehouse) == _tables(full)
    return run


def test_a_new_feature_column_fills_every_snapshot(warehouse_copy, tmp_path):
    project = copy_project(tmp_path / "project")
    _edit(
        project,
        "        end) as {{ bigint }}) as tickets_90d,\n",
        "        end) as {{ bigint }}) as tickets_90d,\n"
        "        sum(case\n"
        "            when created_date >= {{ add_days('as_of_date', -30) }} then 1 else 0\n"
        "        end) as tickets_30d,\n",
    )
    run = _build_and_compare(project, warehouse_copy, tmp_path)
    line = _rebuild_line(run)
    assert "int_tickets_as_of (its SQL or the SQL it reads changed" in line
    assert "int_customer_features" in line
    # models upstream of the change stay incremental
    assert "int_usage_windows" not in line and "stg_usage__events" not in line

    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        nulls, rows = con.execute(
            "select count(*) filter (where tickets_30d is null), count(*) "
            "from intermediate.int_tickets_as_of"
        ).fetchone()
    finally:
        con.close()
    assert rows > 0 and nulls == 0


def test_a_changed_window_recomputes_every_snapshot(warehouse_copy, tmp_path):
    project = copy_project(tmp_path / "project")
    _edit(
        project,
        "            when created_date >= {{ add_days('as_of_date', -90) }} then 1 else 0\n",
        "            when created_date >= {{ add_days('as_of_date', -60) }} then 1 else 0\n",
    )
    # what an analytics engineer runs after editing a model: it and everything downstream
    run = _build_and_compare(project, warehouse_copy, tmp_path, ("-s", SELECTED))
    assert "int_tickets_as_of" in _rebuild_line(run)


def test_nothing_changed_rewrites_no_row(warehouse_copy, tmp_path):
    project = copy_project(tmp_path / "project")
    marked = _mark_stored_rows(warehouse_copy)
    # the settings pass the skew as `24.0`, dbt_project.yml's default is `24`: the same value
    run = run_dbt(
        ["build"],
        warehouse_copy,
        tmp_path / "target",
        env={"CHURN_SOURCE_CLOCK_SKEW_HOURS": "24.0"},
        project_dir=project,
    )
    assert run.result.success, run.log[-3000:]
    assert not [m for m in run.messages if m.startswith("FULL REBUILD")]
    assert _rows_still_marked(warehouse_copy) == marked

    # a manual --full-refresh keeps working: every row rewritten
    again = run_dbt(
        ["run", "-s", "int_tickets_as_of", "--full-refresh"],
        warehouse_copy,
        tmp_path / "target",
        project_dir=project,
    )
    assert again.result.success, again.log[-3000:]
    assert _rows_still_marked(warehouse_copy) == 0
