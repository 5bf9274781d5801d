"""On BigQuery too, a changed incremental model recomputes its history and says what it cost.

The DuckDB test (tests/dbt/test_dbt_changed_models.py) proves the fingerprint mechanism on
dbt-duckdb; here the same project runs with dbt-bigquery against bqemulator, every run but the
reference through the flows' runner (`flows.dbt_runner.run_dbt`, as `churn transform` runs
dbt). The raw fixture is landed and the project run once (`dbt run`), then:

(b) a `dbt build` with nothing changed must rebuild nothing: no FULL REBUILD line, every
    incremental model merged (`merge into ... __dbt_tmp`), and no stored row rewritten (the
    rows of int_tickets_as_of are marked, a value pushed out of range, before the run);
(a) a project copy gets `tickets_30d` the way docs/adding_a_feature.md says (one expression,
    one YAML entry, `churn features sync`), and a plain `dbt build` must rebuild
    int_tickets_as_of and int_customer_features in full (the line names both, and why), leave
    the models upstream incremental, fill the column on every snapshot, equal a
    `--full-refresh` build of the same project, and log the bytes each rebuilt model processed.

bqemulator reports `totalBytesProcessed: 0` for every job (docs/bigquery_emulator.md), so the
bytes line it produces carries zeros; the line's content is checked on real dbt results given
the adapter_response dbt-bigquery builds from a BigQuery job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dbt.adapters.bigquery.connections import BigQueryAdapterResponse
from google.cloud import bigquery
from typer.testing import CliRunner

import flows.dbt_runner as dbt_runner
from flows.cli import app
from flows.dbt_runner import REBUILD_PREFIX, DbtRunSummary, dbt_env
from tests.bigquery.emulators import BigQueryEmulator
from tests.bigquery.load_raw import create_python_sources, load_raw_fixture
from tests.dbt.dbt_helpers import FIXTURE_VARS, DbtRun, copy_project
from tests.dbt.dbt_helpers import run_dbt as run_dbt_in_copy
from tests.dbt.raw_fixture import write_raw_fixture
from warehouse.settings import Settings

pytestmark = pytest.mark.slow

# the datasets dbt writes: emptied before and after the module, so no other module's tables count
DBT_DATASETS = ("staging", "intermediate", "features", "marts")
INTERMEDIATE = Path("dbt_project/models/intermediate")
MARK = 1_000_000
BYTES_LINE = f"{REBUILD_PREFIX} bytes processed: "

# docs/adding_a_feature.md, steps 1 and 2: the expression and the YAML entry
TICKETS_90D_SQL = "end) as {{ bigint }}) as tickets_90d,\n"
TICKETS_30D_SQL = """        cast(sum(case
            when created_date >= {{ add_days('as_of_date', -30) }} then 1 else 0
        end) as {{ bigint }}) as tickets_30d,
"""
TICKETS_30D_YAML = """      - name: tickets_30d
        data_type: bigint
        description: "Support tickets created in the last 30 days."
        config:
          meta: {feature: true, fill: 0}
"""

# table -> columns compared, rows ordered by customer and date (as in the DuckDB test, without
# the incremental bookkeeping column)
COMPARED = {
    "intermediate.int_tickets_as_of": "* except (inputs_loaded_at)",
    "intermediate.int_customer_features": "* except (inputs_loaded_at)",
    "features.customer_features": "*",
    "features.training_set": "*",
}


class _Lines(logging.Handler):
    """The messages the flows' dbt runner logs during a block of code."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class FlowRun:
    """One `run_dbt` of the flows' runner: its summary, what it logged, the SQL dbt ran."""

    summary: DbtRunSummary
    logged: list[str]
    run_sql: dict[str, str]  # incremental model -> the statement that wrote its table
    rows_marked: int  # rows of int_tickets_as_of before the run, all marked
    rows_still_marked: int  # of those, the rows the run did not rewrite

    def rebuild_lines(self) -> list[str]:
        return [m for m in self.summary.rebuilds if m.startswith(REBUILD_PREFIX)]


@dataclass
class Builds:
    """The runs of this module, on one emulator, in the order they ran."""

    unchanged: FlowRun
    changed: FlowRun
    changed_tables: dict[str, list[dict[str, Any]]]
    full_refresh: DbtRun
    full_refresh_tables: dict[str, list[dict[str, Any]]]


def emulator_settings(emulator: BigQueryEmulator, data_dir: Path) -> Settings:
    """Settings of the `bigquery` target pointed at the emulator (nothing read from `.env`)."""
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        target="bigquery",
        bigquery_project=emulator.project,
        bigquery_api_endpoint=emulator.endpoint,
        bigquery_token="emulator-token",
    )


def add_tickets_30d(project: Path) -> None:
    """docs/adding_a_feature.md in a project copy: the expression, the entry, the sync."""
    for name, old, new in [
        ("int_tickets_as_of.sql", TICKETS_90D_SQL, TICKETS_90D_SQL + TICKETS_30D_SQL),
        (
            "int_tickets_as_of.yml",
            "      - name: escalated_tickets_90d\n",
            TICKETS_30D_YAML + "      - name: escalated_tickets_90d\n",
        ),
    ]:
        path = project / INTERMEDIATE / name
        text = path.read_text()
        assert text.count(old) == 1, f"{name}: expected one {old!r}"
        path.write_text(text.replace(old, new))
    synced = CliRunner().invoke(app, ["features", "sync", "--project-dir", str(project)])
    assert synced.exit_code == 0, synced.output
    assert "customer_features.yml" in synced.output


def _count(client: bigquery.Client, sql: str) -> int:
    return next(iter(client.query(sql).result()))[0]


def _mark_stored_rows(client: bigquery.Client, project: str) -> int:
    table = f"`{project}.intermediate.int_tickets_as_of`"
    client.query(f"update {table} set tickets_90d = tickets_90d + {MARK} where true").result()
    return _count(client, f"select count(*) from {table}")


def _rows_still_marked(client: bigquery.Client, project: str) -> int:
    return _count(
        client,
        f"select count(*) from `{project}.intermediate.int_tickets_as_of` "
        f"where tickets_90d >= {MARK}",
    )


def _incremental_run_sql(project_dir: Path) -> dict[str, str]:
    """The statement that wrote each incremental model's table in the last run of the copy."""
    target = project_dir / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    found = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental":
            found[node["name"]] = (
                target / "run" / "churn" / node["original_file_path"]
            ).read_text()
    return found


def _run_through_flows(
    project_dir: Path,
    settings: Settings,
    client: bigquery.Client,
    log_dir: Path,
    command: str = "build",
    mark: bool = True,
) -> FlowRun:
    """Mark the stored rows (`mark`: there are some), then `dbt <command>` the copy through
    the flows' runner."""
    marked = _mark_stored_rows(client, settings.bigquery_project) if mark else 0
    lines = _Lines()
    logger = logging.getLogger(dbt_runner.__name__)
    saved_level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dbt_runner, "PROJECT_DIR", project_dir)
            summary = dbt_runner.run_dbt(
                [command], settings, dbt_vars=FIXTURE_VARS, log_dir=log_dir
            )
    finally:
        logger.removeHandler(lines)
        logger.setLevel(saved_level)
    return FlowRun(
        summary,
        lines.messages,
        _incremental_run_sql(project_dir),
        marked,
        _rows_still_marked(client, settings.bigquery_project),
    )


def _tables(client: bigquery.Client, project: str) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [
            dict(row.items())
            for row in client.query(
                f"select {columns} from `{project}.{table}` order by customer_id, as_of_date"
            ).result()
        ]
        for table, columns in COMPARED.items()
    }


def _drop_dbt_datasets(client: bigquery.Client) -> None:
    """Drop what dbt wrote (the layers' datasets and the stored test failures)."""
    audit = [d.dataset_id for d in client.list_datasets() if d.dataset_id.endswith("__audit")]
    for dataset in (*DBT_DATASETS, *audit):
        client.delete_dataset(
            f"{client.project}.{dataset}", delete_contents=True, not_found_ok=True
        )


@pytest.fixture(scope="module")
def builds(
    bq_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Builds]:
    """The runs, on an emulator emptied of dbt's tables before and after: a module after this
    one builds from scratch, as it would alone."""
    client = bq_emulator.client()
    _drop_dbt_datasets(client)
    try:
        yield _build_all(bq_emulator, client, tmp_path_factory.mktemp("dbt_changed_bigquery"))
    finally:
        _drop_dbt_datasets(client)


def _build_all(bq_emulator: BigQueryEmulator, client: bigquery.Client, root: Path) -> Builds:
    fixture = root / "fixture.duckdb"
    write_raw_fixture(fixture)
    load_raw_fixture(client, fixture)
    create_python_sources(client)
    settings = emulator_settings(bq_emulator, root)

    # the warehouse as production has it: every table built, with its fingerprint (`run`: the
    # data tests run in the two builds below)
    unchanged_project = copy_project(root / "unchanged")
    first = _run_through_flows(
        unchanged_project, settings, client, root / "logs_first", command="run", mark=False
    )
    assert not first.rebuild_lines(), first.rebuild_lines()  # no table existed: nothing to redo

    unchanged = _run_through_flows(unchanged_project, settings, client, root / "logs_unchanged")

    changed_project = copy_project(root / "changed")
    add_tickets_30d(changed_project)
    changed = _run_through_flows(changed_project, settings, client, root / "logs_changed")
    changed_tables = _tables(client, bq_emulator.project)

    # the reference: the same project copy rebuilt from scratch on the same raw rows
    full_refresh = run_dbt_in_copy(
        [
            "run",
            "--target",
            "bigquery",
            "--full-refresh",
            "-s",
            "+training_set",
            "+customer_features",
        ],
        None,
        root / "target_full",
        env=dbt_env(settings),
        project_dir=changed_project,
    )
    assert full_refresh.result.success, full_refresh.log[-3000:]
    return Builds(
        unchanged,
        changed,
        changed_tables,
        full_refresh,
        _tables(client, bq_emulator.project),
    )


REBUILT = {"int_tickets_as_of", "int_customer_features"}
WHY = "(its SQL or the SQL it reads changed since its table was built)"


def _merged(sql: str) -> bool:
    """The statement merged this run's rows (`merge into ... __dbt_tmp`) into the table."""
    sql = sql.lower()
    return bool(re.search(r"\bmerge\s+into\b", sql)) and "__dbt_tmp" in sql


def _rebuilt(sql: str) -> bool:
    """The statement replaced the table with all its rows."""
    return bool(re.search(r"\bcreate\s+or\s+replace\s+table\b", sql.lower()))


def test_nothing_changed_rebuilds_nothing(builds: Builds) -> None:
    run = builds.unchanged
    assert run.rebuild_lines() == []
    assert not [m for m in run.logged if m.startswith(REBUILD_PREFIX)], run.logged
    # every incremental model took only new rows (none), in a merge
    assert len(run.run_sql) >= 15, sorted(run.run_sql)
    not_merged = [name for name, sql in run.run_sql.items() if not _merged(sql)]
    assert not not_merged, not_merged
    assert run.rows_marked > 0 and run.rows_still_marked == run.rows_marked
    assert run.summary.counts[("model", "success")] >= 30


def test_a_new_feature_rebuilds_its_model_and_incremental_descendants(builds: Builds) -> None:
    run = builds.changed
    lines = run.rebuild_lines()
    assert len(lines) == 1, run.summary.rebuilds
    line = lines[0]
    assert line.startswith(f"{REBUILD_PREFIX} of 2 incremental model(s)"), line
    for name in REBUILT:
        assert f"{name} {WHY}" in line, line
    assert line in run.logged  # the runner logs it as well as returning it
    # the two rebuilt tables were replaced; every model upstream of the change merged
    assert {name for name, sql in run.run_sql.items() if _rebuilt(sql)} == REBUILT
    merged = {name for name, sql in run.run_sql.items() if _merged(sql)}
    assert merged == set(run.run_sql) - REBUILT
    assert {"int_usage_windows", "stg_usage__events", "int_customer_weeks"} <= merged
    # every stored snapshot was rewritten
    assert run.rows_marked > 0 and run.rows_still_marked == 0


@pytest.mark.parametrize("table", list(COMPARED))
def test_the_new_column_is_filled_on_every_snapshot(builds: Builds, table: str) -> None:
    rows = builds.changed_tables[table]
    assert rows and "tickets_30d" in rows[0]
    assert [r for r in rows if r["tickets_30d"] is None] == []
    # a count of the last 30 days: some customers have one, none more than in 90 days
    assert any(r["tickets_30d"] > 0 for r in rows)
    assert [r for r in rows if r["tickets_30d"] > r["tickets_90d"]] == []


def test_the_training_set_keeps_the_declared_column_order(builds: Builds) -> None:
    columns = list(builds.changed_tables["features.training_set"][0])
    assert columns.index("tickets_30d") == columns.index("oldest_open_ticket_days") + 1
    assert columns[-1] == "churned"


@pytest.mark.parametrize("table", list(COMPARED))
def test_the_rebuild_equals_a_full_refresh(builds: Builds, table: str) -> None:
    assert not [m for m in builds.full_refresh.messages if m.startswith(REBUILD_PREFIX)]
    rebuilt, reference = builds.changed_tables[table], builds.full_refresh_tables[table]
    assert len(rebuilt) == len(reference) > 0
    assert rebuilt == reference


def test_the_rebuild_bytes_line_is_logged(builds: Builds) -> None:
    lines = [m for m in builds.changed.logged if m.startswith(BYTES_LINE)]
    assert len(lines) == 1, builds.changed.logged
    spent = dict(part.rsplit(" ", 2)[:2] for part in lines[0][len(BYTES_LINE) :].split("; "))
    assert set(spent) == REBUILT
    # a count per model (bqemulator has no cost model: it reports 0 for every job)
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", n) for n in spent.values()), lines[0]


def _bigquery_response(rows: int, processed: int) -> dict[str, Any]:
    """A node's adapter_response as dbt-bigquery records it from a finished BigQuery job."""
    return BigQueryAdapterResponse(
        _message=f"CREATE TABLE ({rows} rows, {processed} bytes processed)",
        code="CREATE TABLE",
        rows_affected=rows,
        bytes_processed=processed,
        bytes_billed=max(processed, 10 * 1024 * 1024),
        location="US",
        project_id="churn-project",
        job_id=f"job-{rows}",
        slot_ms=1234,
    ).to_dict(omit_none=True)


def test_rebuild_bytes_name_each_rebuilt_model_with_what_bigquery_reported(
    builds: Builds, caplog: pytest.LogCaptureFixture
) -> None:
    results = builds.full_refresh.result.result.results
    models = [r for r in results if r.node.resource_type == "model"]
    # the emulator's own responses have the shape, with zeros
    emulated = next(r for r in models if r.node.name == "int_tickets_as_of").adapter_response
    assert emulated["bytes_processed"] == 0 and emulated["code"]
    processed = {r.node.name: 1_000_003 * (i + 1) for i, r in enumerate(models)}
    answered = [
        dataclasses.replace(r, adapter_response=_bigquery_response(i + 1, processed[r.node.name]))
        if r.node.resource_type == "model"
        else r
        for i, r in enumerate(results)
    ]

    with caplog.at_level(logging.INFO, logger=dbt_runner.__name__):
        dbt_runner._log_rebuild_bytes(builds.changed.rebuild_lines(), answered)
        dbt_runner._log_rebuild_bytes([], answered)  # nothing rebuilt: nothing to say
    assert [r.getMessage() for r in caplog.records] == [
        BYTES_LINE
        + "; ".join(
            f"{r.node.name} {processed[r.node.name]:,} bytes"
            for r in answered
            if r.node.name in REBUILT
        )
    ]
