"""A feature is one SQL expression and one YAML entry where it is computed.

int_customer_features selects every feature the upstream models declare in their YAML
(`config: {meta: {feature: true, fill: ...}}`); `churn features sync` writes the lists that dbt
cannot share between files (int_customer_features.yml, the contracts of customer_features and
training_set). The tests that edit models do it on a copy of the project.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml
from dbt_helpers import REPO, copy_project, run_dbt
from raw_fixture import write_raw_fixture
from typer.testing import CliRunner

from flows.cli import app
from flows.feature_contracts import (
    SYNC_COMMAND,
    FeatureSyncError,
    stale_files,
    sync,
    synced_texts,
)

INTERMEDIATE = Path("dbt_project/models/intermediate")
FEATURES = Path("dbt_project/models/features")

# the new feature: one expression in int_tickets_as_of.sql, one entry in its YAML
TICKETS_90D_SQL = "end) as {{ bigint }}) as tickets_90d,\n"
TICKETS_30D_SQL = """        cast(sum(case
            when created_date >= {{ add_days('as_of_date', -30) }} then 1 else 0
        end) as {{ bigint }}) as tickets_30d,
"""
TICKETS_30D_YAML = """      - name: tickets_30d
        data_type: bigint
        description: Support tickets created in the last 30 days.
        config:
          meta: {feature: true, fill: 0}
"""

# tickets created in [D - 30, D) that were known before D, counted from staging
DIRECT_TICKETS_30D = """
with tickets as (

    select
        organizations.customer_id,
        versions.ticket_id,
        min(cast(versions.created_at as date)) as created_date,
        min(cast(versions.valid_from as date)) as known_from

    from staging.stg_zendesk__ticket_versions as versions
    inner join staging.stg_zendesk__organizations as organizations
        on versions.organization_id = organizations.organization_id
    where versions.is_valid
    group by all

)

select
    training.customer_id,
    training.as_of_date,
    training.tickets_30d,
    training.tickets_90d,
    (
        select count(*)
        from tickets
        where
            tickets.customer_id = training.customer_id
            and tickets.known_from < training.as_of_date
            and tickets.created_date >= training.as_of_date - 30
    ) as counted
from features.training_set as training
order by all
"""


def _columns(path: Path, schema: str, table: str) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
        ]
    finally:
        con.close()


def _declared_order(project: Path) -> list[str]:
    """The feature columns the synced YAML lists for customer_features, in order."""
    properties = yaml.safe_load((project / FEATURES / "customer_features.yml").read_text())
    columns = [c["name"] for c in properties["models"][0]["columns"]]
    return [c for c in columns if c not in ("customer_id", "as_of_date")]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected one {old!r}"
    path.write_text(text.replace(old, new))


def _add_tickets_30d(project: Path) -> None:
    """Add `tickets_30d` where ticket features are computed: one expression, one entry."""
    _edit(
        project / INTERMEDIATE / "int_tickets_as_of.sql",
        TICKETS_90D_SQL,
        TICKETS_90D_SQL + TICKETS_30D_SQL,
    )
    _edit(
        project / INTERMEDIATE / "int_tickets_as_of.yml",
        "      - name: escalated_tickets_90d\n",
        TICKETS_30D_YAML + "      - name: escalated_tickets_90d\n",
    )


def _churn(*args: str):
    return CliRunner().invoke(app, list(args))


def test_committed_feature_columns_are_in_sync():
    stale = stale_files(REPO)
    assert not stale, (
        f"{[str(p.relative_to(REPO)) for p in stale]} do not list the features as the models "
        f"computing them declare them: run `{SYNC_COMMAND}` and commit what it writes"
    )


def test_features_tables_follow_the_declared_order(built_warehouse):
    path, _run = built_warehouse
    declared = _declared_order(REPO)
    assert _columns(path, "features", "customer_features") == [
        "customer_id",
        "as_of_date",
        *declared,
    ]
    assert _columns(path, "features", "training_set") == [
        "customer_id",
        "as_of_date",
        *declared,
        "churned",
    ]


def test_sync_places_a_new_feature_after_its_models_features(tmp_path):
    project = copy_project(tmp_path / "project")
    before = _declared_order(project)
    _add_tickets_30d(project)

    check = _churn("features", "check", "--project-dir", str(project))
    assert check.exit_code == 1
    assert SYNC_COMMAND in check.output and "customer_features.yml" in check.output

    synced = _churn("features", "sync", "--project-dir", str(project))
    assert synced.exit_code == 0, synced.output
    after = _declared_order(project)
    # existing features keep their order; the new one follows the last ticket feature
    assert [c for c in after if c != "tickets_30d"] == before
    assert after.index("tickets_30d") == before.index("oldest_open_ticket_days") + 1
    for model, table in (("int_customer_features", INTERMEDIATE), ("training_set", FEATURES)):
        properties = yaml.safe_load((project / table / f"{model}.yml").read_text())
        entry = next(c for c in properties["models"][0]["columns"] if c["name"] == "tickets_30d")
        assert entry == {
            "name": "tickets_30d",
            "data_type": "bigint",
            "description": "Support tickets created in the last 30 days.",
        }
    # a second run writes nothing
    assert sync(project) == []
    assert _churn("features", "check", "--project-dir", str(project)).exit_code == 0


def test_sync_refuses_a_feature_declared_twice(tmp_path):
    project = copy_project(tmp_path / "project")
    _edit(
        project / INTERMEDIATE / "int_tickets_as_of.yml",
        "      - name: escalated_tickets_90d\n",
        TICKETS_30D_YAML.replace("tickets_30d", "logins_7d")
        + "      - name: escalated_tickets_90d\n",
    )
    with pytest.raises(FeatureSyncError, match="logins_7d is declared twice"):
        synced_texts(project)


def test_a_feature_added_where_it_is_computed_reaches_the_training_set(tmp_path):
    project = copy_project(tmp_path / "project")
    _add_tickets_30d(project)
    assert _churn("features", "sync", "--project-dir", str(project)).exit_code == 0
    warehouse = tmp_path / "warehouse.duckdb"
    write_raw_fixture(warehouse)

    # `run`: the models with their contracts (the data tests run in test_dbt_build.py)
    run = run_dbt(["run"], warehouse, tmp_path / "target", project_dir=project)

    assert run.result.success, run.log[-3000:]
    columns = _columns(warehouse, "features", "training_set")
    assert columns.index("tickets_30d") == columns.index("oldest_open_ticket_days") + 1
    assert "tickets_30d" in _columns(warehouse, "features", "customer_features")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(DIRECT_TICKETS_30D).fetchall()
    finally:
        con.close()
    assert rows
    # filled (0 without tickets), equal to a direct count from staging, and not tickets_90d
    assert [(c, d, t30) for c, d, t30, _t90, _n in rows] == [
        (c, d, counted) for c, d, _t30, _t90, counted in rows
    ]
    assert any(t30 > 0 for _c, _d, t30, _t90, _n in rows)
    assert any(t30 < t90 for _c, _d, t30, t90, _n in rows)


def test_a_feature_not_synced_fails_the_build_naming_the_command(tmp_path):
    project = copy_project(tmp_path / "project")
    _add_tickets_30d(project)

    run = run_dbt(
        ["compile", "--select", "int_customer_features"],
        tmp_path / "warehouse.duckdb",
        tmp_path / "target",
        project_dir=project,
    )

    assert not run.result.success
    assert f"`{SYNC_COMMAND}`" in run.log and "tickets_30d (int_tickets_as_of)" in run.log


def test_a_contract_out_of_date_fails_the_build_naming_the_command(tmp_path):
    project = copy_project(tmp_path / "project")
    _add_tickets_30d(project)
    sync(project)
    # the training set's contract as it was before the sync
    (project / FEATURES / "training_set.yml").write_text(
        (REPO / FEATURES / "training_set.yml").read_text()
    )

    run = run_dbt(
        ["compile", "--select", "training_set"],
        tmp_path / "warehouse.duckdb",
        tmp_path / "target",
        project_dir=project,
    )

    assert not run.result.success
    assert f"`{SYNC_COMMAND}`" in run.log and "missing or changed: [tickets_30d bigint]" in run.log


def test_a_declared_data_type_the_sql_does_not_produce_fails_the_contract(tmp_path):
    project = copy_project(tmp_path / "project")
    _edit(
        project / INTERMEDIATE / "int_tickets_as_of.yml",
        "      - name: open_tickets\n        data_type: bigint\n",
        "      - name: open_tickets\n        data_type: string\n",
    )
    sync(project)
    warehouse = tmp_path / "warehouse.duckdb"
    write_raw_fixture(warehouse)

    run = run_dbt(
        ["build", "--select", "+customer_features", "--exclude", "test_type:data"],
        warehouse,
        tmp_path / "target",
        project_dir=project,
    )

    assert not run.result.success
    statuses = run.node_statuses()
    assert statuses["model.churn.customer_features"] == "error", statuses
    assert statuses["model.churn.int_customer_features"] == "success", statuses
    # dbt's contract error, naming the column, the type the SQL returns and the declared one
    errors = [m for m in run.messages if "enforced contract that failed" in m]
    assert errors, run.log[-3000:]
    assert re.search(r"\| open_tickets +\| BIGINT +\| VARCHAR +\| data type mismatch", errors[0])
