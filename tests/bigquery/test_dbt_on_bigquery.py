"""The dbt project on the `bigquery` target, for real, against bqemulator.

The raw fixture of the DuckDB tests (tests/dbt/raw_fixture.py) is landed in the emulator's
`raw` dataset with the types ingestion gives it on BigQuery (JSON columns included), the `ml`
and `monitoring` tables get a few rows, and `dbt build` (every model, data test and unit
test) runs twice with `--target bigquery`: once on the first load, once more after a second
load whose rows fall on days already counted and on new days, so every incremental model
merges. The result must equal a DuckDB build of the same raw rows (both loads at once).

Emulator gaps are bridged in the emulator launcher (bqemulator_patched.py), never in the
models; docs/bigquery_emulator.md lists them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from google.cloud import bigquery

from tests.bigquery.emulators import BigQueryEmulator
from tests.bigquery.load_raw import (
    create_python_sources,
    load_raw_fixture,
    write_predictions_duckdb,
)
from tests.dbt.dbt_helpers import DbtRun, run_dbt
from tests.dbt.raw_fixture import add_future_rows, write_raw_fixture

pytestmark = pytest.mark.slow

# the second load: rows dated from this Monday on (late rows for days already counted, new
# days, a new customer, a cancellation), loaded two months after the first load
SECOND_LOAD_DAY = date(2024, 12, 16)
SECOND_LOAD_ID = "fixture-load-2"

# raw key tests warn (not fail): staging removes the re-delivered ticket the fixture contains
EXPECTED_WARNINGS = (
    "test.churn.source_unique_combination_of_columns_zendesk_zendesk_tickets_id__updated_at",
)
# the cost guard the profile sets when CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED is given
MAXIMUM_BYTES_BILLED = 50_000_000_000


def bigquery_env(emulator: BigQueryEmulator) -> dict[str, str]:
    """The CHURN_BIGQUERY_* variables that point the `bigquery` target at the emulator."""
    return {
        "CHURN_BIGQUERY_METHOD": "oauth-secrets",
        "CHURN_BIGQUERY_TOKEN": "emulator-token",
        "CHURN_BIGQUERY_PROJECT": emulator.project,
        "CHURN_BIGQUERY_DATASET": "churn",
        "CHURN_BIGQUERY_API_ENDPOINT": emulator.endpoint,
        "CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED": str(MAXIMUM_BYTES_BILLED),
    }


@dataclass
class Builds:
    """Both BigQuery runs, the DuckDB reference and what dbt sent with each query job."""

    first: DbtRun
    second: DbtRun
    second_target: Path
    client: bigquery.Client
    project: str
    local: Path
    job_configs: list[bigquery.QueryJobConfig]


@pytest.fixture(scope="module")
def builds(bq_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory) -> Builds:
    root = tmp_path_factory.mktemp("dbt_bigquery")
    fixture = root / "fixture.duckdb"
    write_raw_fixture(fixture)
    client = bq_emulator.client()
    load_raw_fixture(client, fixture)
    create_python_sources(client)

    # record the job configuration of every query dbt submits (the emulator does not echo
    # labels or maximum_bytes_billed back); the query still goes to the emulator
    job_configs: list[bigquery.QueryJobConfig] = []
    original_query = bigquery.Client.query

    def recording_query(self, query, job_config=None, *args, **kwargs):
        if job_config is not None:
            job_configs.append(job_config)
        return original_query(self, query, job_config, *args, **kwargs)

    env = bigquery_env(bq_emulator)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bigquery.Client, "query", recording_query)
        first = run_dbt(["build", "--target", "bigquery"], None, root / "target_1", env=env)
        assert first.result.success, first.log[-4000:]
        add_future_rows(fixture, SECOND_LOAD_DAY)
        appended = load_raw_fixture(client, fixture, load_id=SECOND_LOAD_ID)
        assert appended["usage_events"] > 0 and appended["stripe_events"] > 0
        second = run_dbt(["build", "--target", "bigquery"], None, root / "target_2", env=env)

    # the reference: DuckDB builds the same raw rows (both loads) from scratch
    local = root / "local.duckdb"
    local.write_bytes(fixture.read_bytes())
    write_predictions_duckdb(local)
    reference = run_dbt(
        ["run", "--select", "+training_set", "+customer_features", "+customer_risk_history"],
        local,
        root / "target_local",
    )
    assert reference.result.success, reference.log[-3000:]
    return Builds(first, second, root / "target_2", client, bq_emulator.project, local, job_configs)


def bq_rows(b: Builds, sql: str) -> list[dict[str, Any]]:
    """Rows of a query on the emulator, as dicts."""
    sql = sql.replace("{project}", b.project)
    return [dict(row.items()) for row in b.client.query(sql).result()]


def duck_rows(b: Builds, sql: str) -> list[dict[str, Any]]:
    """Rows of a query on the DuckDB reference build, as dicts."""
    con = duckdb.connect(str(b.local), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _bad_nodes(run: DbtRun) -> dict[str, str]:
    return {
        uid: status
        for uid, status in run.node_statuses().items()
        if status not in ("success", "pass")
        and not (uid.startswith(EXPECTED_WARNINGS) and status == "warn")
        and not (uid.startswith("exposure.") and status == "no-op")
    }


@pytest.mark.parametrize("which", ["first", "second"])
def test_every_model_test_and_unit_test_passes(builds: Builds, which: str) -> None:
    run: DbtRun = getattr(builds, which)
    assert run.result.success, run.log[-4000:]
    statuses = run.node_statuses()
    assert {"model", "test", "unit_test"} <= {uid.split(".")[0] for uid in statuses}
    assert sum(uid.startswith("model.") for uid in statuses) >= 30
    assert sum(uid.startswith("unit_test.") for uid in statuses) >= 5
    assert sum(uid.startswith("test.") for uid in statuses) >= 150
    assert not _bad_nodes(run), _bad_nodes(run)
    warned = [uid for uid in statuses if uid.startswith(EXPECTED_WARNINGS)]
    assert warned and all(statuses[uid] == "warn" for uid in warned)


def _incremental_models(b: Builds) -> dict[str, Any]:
    results = b.second.result.result.results
    return {
        r.node.name: r.node
        for r in results
        if r.node.resource_type == "model" and r.node.config.materialized == "incremental"
    }


def test_second_run_merges_every_incremental_model(builds: Builds) -> None:
    models = _incremental_models(builds)
    # the insert-only staging models, the usage models, the spine and every snapshot model
    assert {"stg_usage__events", "int_usage_daily", "int_customer_features"} <= set(models)
    assert len(models) >= 15, sorted(models)
    for name in models:
        sql = next((builds.second_target / "run").rglob(f"{name}.sql")).read_text().lower()
        assert re.search(r"\bmerge\s+into\b", sql), f"{name} was not merged: {sql[:400]}"
        assert "__dbt_tmp" in sql, name  # merged from the new rows, not rebuilt


def _key_columns(node: Any) -> list[str]:
    key = node.config.unique_key
    if key:
        return [key] if isinstance(key, str) else list(key)
    # insert-only staging: one row per event id (usage events: compared whole, below)
    return ["event_id"]


def _normal(value: Any) -> Any:
    """BigQuery TIMESTAMPs come back tz-aware (UTC), DuckDB's naive: compare in naive UTC.
    BigQuery JSON comes back parsed, DuckDB's as text: compare parsed."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:  # a raw line that is not JSON stays text
            return value
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _normal(a), _normal(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _differences(
    bq: list[dict[str, Any]], duck: list[dict[str, Any]], keys: list[str], skip: tuple = ()
) -> list[tuple]:
    return [
        (*(r[k] for k in keys), column, r[column], d[column])
        for r, d in zip(bq, duck, strict=True)
        for column in r
        if not column.endswith(skip) and not _same(r[column], d[column])
    ]


def _both_tables(b: Builds, schema: str, table: str, keys: list[str]) -> tuple[list, list]:
    order = "order by " + ", ".join(f"{k} nulls last" for k in keys)
    bq = bq_rows(b, f"select * from `{{project}}.{schema}.{table}` {order}")
    duck = duck_rows(b, f"select * from {schema}.{table} {order}")
    return bq, duck


def test_incremental_models_equal_a_full_build(builds: Builds) -> None:
    for name, node in _incremental_models(builds).items():
        if name == "int_usage_member_weeks":
            continue  # insert-only with a row per load: compared merged below
        if name == "stg_usage__events":
            continue  # keeps no id on valid rows: compared row for row below
        keys = _key_columns(node)
        bq, duck = _both_tables(builds, node.schema, name, keys)
        bq_keys = [tuple(_normal(r[k]) for k in keys) for r in bq]
        assert len(bq_keys) == len(set(bq_keys)) > 0, f"{name}: duplicated keys after merging"
        duck_keys = {tuple(_normal(r[k]) for k in keys) for r in duck}
        # C0000003 cancelled on 2024-12-18 (a Stripe event loaded late): the second run
        # deleted its later snapshots from every incremental snapshot model as well
        assert set(bq_keys) == duck_keys, (
            name,
            sorted(set(bq_keys) ^ duck_keys)[:5],
        )
        # `*loaded_at` says which load a row was last computed from: a row the second run
        # did not touch keeps the first load's, where a full build has the latest everywhere
        differences = _differences(bq, duck, keys, skip=("loaded_at",))
        assert not differences, (name, differences[:10])


def test_staged_usage_events_equal_a_full_build(builds: Builds) -> None:
    # valid rows keep no event id and may repeat (two logins of a user on one day): the
    # staged events are compared as a whole, in one order, without the load stamps
    row = duck_rows(builds, "select * from staging.stg_usage__events limit 1")[0]
    compared = [c for c in row if not c.endswith("loaded_at")]
    order = "order by " + ", ".join(f"{c} nulls last" for c in compared)
    listed = ", ".join(compared)
    bq = bq_rows(builds, f"select {listed} from `{{project}}.staging.stg_usage__events` {order}")
    duck = duck_rows(builds, f"select {listed} from staging.stg_usage__events {order}")
    assert len(bq) == len(duck) > 0
    assert not _differences(bq, duck, ["source_file"])


def test_member_weeks_merged_equal_a_full_build(builds: Builds) -> None:
    merged = (
        "select customer_id, member_type, member, week_start, "
        "min(first_active_date) as first_active_date, max(last_active_date) as last_active_date "
        "from {table} group by customer_id, member_type, member, week_start "
        "order by customer_id, member_type, member, week_start"
    )
    bq = bq_rows(builds, merged.format(table="`{project}.intermediate.int_usage_member_weeks`"))
    duck = duck_rows(builds, merged.format(table="intermediate.int_usage_member_weeks"))
    assert len(bq) == len(duck) > 0
    keys = ["customer_id", "member_type", "member", "week_start"]
    assert not _differences(bq, duck, keys)


def test_second_load_reached_the_incremental_tables(builds: Builds) -> None:
    # the late rows of the second load were added to days the first run had counted
    late = bq_rows(
        builds,
        "select count(*) as n from `{project}.staging.stg_usage__events` "
        "where loaded_at = (select max(loaded_at) from `{project}.staging.stg_usage__events`) "
        "and event_date between '2024-12-16' and '2024-12-31'",
    )[0]["n"]
    assert late > 0
    new_days = bq_rows(
        builds,
        "select max(usage_date) as last_day from `{project}.intermediate.int_usage_daily`",
    )[0]["last_day"]
    assert new_days >= date(2025, 1, 20)
    customers = bq_rows(
        builds,
        "select count(distinct customer_id) as n from `{project}.features.customer_features`",
    )[0]["n"]
    assert customers == 7  # the second load brought C0000007


@pytest.mark.parametrize(
    ("schema", "table"),
    [
        ("features", "customer_features"),
        ("features", "training_set"),
        ("marts", "customer_risk_history"),
    ],
)
def test_table_equals_the_duckdb_build(builds: Builds, schema: str, table: str) -> None:
    keys = ["customer_id", "as_of_date"]
    bq, duck = _both_tables(builds, schema, table, keys)
    assert len(bq) == len(duck) > 0
    assert [(r["customer_id"], r["as_of_date"]) for r in bq] == [
        (r["customer_id"], r["as_of_date"]) for r in duck
    ]
    assert list(bq[0]) == list(duck[0])  # same columns in the same order
    differences = _differences(bq, duck, keys)
    assert not differences, differences[:10]


def test_known_feature_values(builds: Builds) -> None:
    # as in tests/dbt/test_dbt_build.py: C0000006 on 2024-11-04 (before the second load's rows)
    row = bq_rows(
        builds,
        "select mrr, has_discount, seats, failed_payments_90d, open_tickets, "
        "oldest_open_ticket_days from `{project}.features.customer_features` "
        "where customer_id = 'C0000006' and as_of_date = '2024-11-04'",
    )
    assert [tuple(r.values()) for r in row] == [(336.0, True, 14, 2, 1, 76)]
    # C0000005 cancelled on 2024-10-15: last snapshot 2024-10-14, labelled churned
    last = bq_rows(
        builds,
        "select as_of_date, churned from `{project}.features.training_set` "
        "where customer_id = 'C0000005' order by as_of_date desc limit 1",
    )
    assert last == [{"as_of_date": date(2024, 10, 14), "churned": True}]


def test_production_settings_reach_bigquery(builds: Builds) -> None:
    # partitioned by date: the emulator keeps the time partitioning dbt declared
    for table_id, field in [
        ("intermediate.int_customer_features", "as_of_date"),
        ("staging.stg_usage__events", "event_date"),
        ("intermediate.int_customer_weeks", "as_of_date"),
        ("intermediate.int_billing_as_of", "as_of_date"),
    ]:
        table = builds.client.get_table(f"{builds.project}.{table_id}")
        assert table.time_partitioning is not None, table_id
        assert table.time_partitioning.field == field, table_id
    # clustered by customer and labelled (the emulator drops both: check the DDL dbt ran in
    # the first build; the second merges into the incremental tables)
    run_dir = builds.second_target.parent / "target_1" / "run"
    for name in ("int_customer_features", "int_customer_weeks", "int_billing_as_of"):
        ddl = next(run_dir.rglob(f"{name}.sql")).read_text().lower()
        assert "cluster by customer_id" in ddl, name
        assert "partition by as_of_date" in ddl, name
    for name, layer in [
        ("stg_crm__customers", "staging"),
        ("int_billing_as_of", "intermediate"),
        ("customer_features", "features"),
        ("at_risk_customers", "marts"),
    ]:
        ddl = next(run_dir.rglob(f"{name}.sql")).read_text()
        assert f"labels=[('system', 'churn'), ('layer', '{layer}')]" in ddl, name
    # every query job carries the cost guard and labels naming the system, layer and node
    configs = builds.job_configs
    assert len(configs) > 200
    assert all(c.maximum_bytes_billed == MAXIMUM_BYTES_BILLED for c in configs)
    assert all(c.labels.get("system") == "churn" for c in configs)
    assert all(c.labels.get("dbt_target") == "bigquery" for c in configs)
    labelled = {(c.labels.get("layer"), c.labels.get("node_id")) for c in configs}
    assert ("features", "model_churn_customer_features") in labelled
    assert ("staging", "model_churn_stg_usage__events") in labelled


def test_bytes_estimate_per_node(builds: Builds) -> None:
    # docs/bigquery_emulator.md: the emulator bills nothing, so bytes are estimated from
    # logical column sizes and the columns each compiled node reads
    from tests.bigquery.bytes_estimate import billed, node_bytes, scaled_rows, table_sizes

    sizes = table_sizes(builds.client, ["raw", "staging", "intermediate", "features", "ml"])
    features = sizes["intermediate.int_customer_features"]
    assert features.rows == len(
        bq_rows(builds, "select 1 from `{project}.intermediate.int_customer_features`")
    )
    assert features.columns["as_of_date"] == 8 * features.rows  # DATE: 8 bytes, never null
    manifest = json.loads((builds.second_target / "manifest.json").read_text())
    scanned = node_bytes(manifest, sizes)
    models = {uid for uid in manifest["nodes"] if uid.startswith("model.")}
    assert models <= set(scanned)
    # int_customer_features reads its inputs' columns (at most what they hold)
    reads = scanned["model.churn.int_customer_features"]
    assert "intermediate.int_usage_windows" in reads
    assert (
        0 < reads["intermediate.int_usage_windows"] <= sizes["intermediate.int_usage_windows"].bytes
    )
    assert billed(reads) >= 10 * 1024 * 1024 * len(reads)
    # the usage events are what the node that reads the most reads most of (a model of the
    # usage chain or a test on raw events); at 1M customers the spine has a row per
    # customer-week
    top = max(scanned, key=lambda uid: sum(scanned[uid].values()))
    assert max(scanned[top], key=scanned[top].get) in {
        "raw.usage_events",
        "staging.stg_usage__events",
    }, (top, scanned[top])
    assert scaled_rows("intermediate.int_customer_weeks", sizes) == 104_000_000
