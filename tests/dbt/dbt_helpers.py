"""Run dbt in-process (`dbtRunner`) from the repo root and collect its statuses and log lines."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
from dbt.cli.main import dbtRunner, dbtRunnerResult

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DbtRun:
    """The result of one dbt invocation and every log message it emitted."""

    result: dbtRunnerResult
    messages: list[str] = field(default_factory=list)

    def node_statuses(self) -> dict[str, str]:
        """unique_id -> status of every node dbt ran (models, tests, unit tests, hooks)."""
        res = self.result.result
        return {r.node.unique_id: str(r.status) for r in getattr(res, "results", [])}

    @property
    def log(self) -> str:
        return "\n".join(self.messages)


def _release_duckdb() -> None:
    """Close dbt-duckdb's process-wide database handle so the file can be copied or reopened."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            try:
                env.close()
            finally:
                DuckDBConnectionManager._ENV = None


# the raw fixture has `raw.app_cs_actions` (ingestion does not land it yet: off by default)
FIXTURE_VARS = {"include_app_cs_actions": True}


def run_dbt(
    args: list[str],
    warehouse: Path | None,
    target_path: Path,
    env: dict[str, str] | None = None,
    dbt_vars: dict | None = None,
    project_dir: Path = REPO,
) -> DbtRun:
    """Run dbt in-process from `project_dir` (the repo root, or a copy of the project a test
    edits; see `copy_project`) against the DuckDB file `warehouse`."""
    messages: list[str] = []

    def collect(event) -> None:
        msg = getattr(event.info, "msg", None)
        if msg:
            messages.append(str(msg))

    old_env = dict(os.environ)
    old_cwd = Path.cwd()
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if warehouse is not None:
        os.environ["CHURN_WAREHOUSE_PATH"] = str(warehouse)
    os.environ.update(env or {})
    os.chdir(project_dir)
    try:
        result = dbtRunner(callbacks=[collect]).invoke(
            [
                *args,
                "--vars",
                json.dumps({**FIXTURE_VARS, **(dbt_vars or {})}),
                "--profiles-dir",
                str(project_dir / "profiles"),
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
                "--no-partial-parse",
            ]
        )
    finally:
        _release_duckdb()
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return DbtRun(result, messages)


def read_results(warehouse: Path, queries: dict[str, str]) -> dict[str, list[tuple]]:
    """Each query's rows, by the query's name, from the DuckDB file `warehouse` opened
    read-only (a test compares them between builds)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        con.close()


def copy_project(dst: Path) -> Path:
    """A copy of the dbt project (dbt_project.yml, dbt_project/, profiles/) a test may edit."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dbt_project.yml", dst / "dbt_project.yml")
    for folder in ("dbt_project", "profiles"):
        shutil.copytree(REPO / folder, dst / folder)
    return dst


ORPHAN_CUSTOMER = "C9999999"


def add_orphan_cs_action(warehouse: Path) -> str:
    """Land one CS action for a customer the CRM does not know (the relationship test on
    `stg_cs__actions.customer_id` then fails); returns that customer's id."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "insert into raw.app_cs_actions values ('A00000999', ?, 'contacted', ?, "
            "'Nobody', null, null, ?, 'bad-load')",
            [ORPHAN_CUSTOMER, datetime(2024, 11, 1, 10), datetime(2025, 1, 1)],
        )
    finally:
        con.close()
    return ORPHAN_CUSTOMER
