"""Ingestion into BigQuery `raw` with the same dlt pipelines, against the emulator.

The test sources are the ingestion tests' own (tests/ingestion/ingest_sources.py): a
customer DB, usage files, Zendesk and Stripe pages on disk. dlt reaches the emulator through
`BIGQUERY_EMULATOR_HOST`, which `ingestion.destination` sets from the settings.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingestion"))

from ingest_helpers import make_settings  # noqa: E402
from ingest_sources import (  # noqa: E402
    customer,
    release_one_of_each,
    stripe_event,
    usage_event,
    write_customer_db,
    write_stripe_pages,
    write_usage_file,
)

from ingestion import run  # noqa: E402
from ingestion.destination import (  # noqa: E402
    _destination_has_state,
    destination,
    pipeline,
    pipelines_dir,
)
from warehouse.bigquery_warehouse import BigQueryWarehouse  # noqa: E402
from warehouse.settings import Settings  # noqa: E402

# a project of its own on the shared emulator: these tests drop and rebuild `raw`, which
# other suites (dbt on BigQuery) load in the emulator's default project
PROJECT = "ingestion-tests"
RAW_TABLES = {
    "crm_customers": 1,
    "crm_cs_actions": 1,
    "usage_events": 2,
    "zendesk_tickets": 1,
    "zendesk_organizations": 1,
    "stripe_events": 1,
}


@pytest.fixture
def settings(bq_emulator, tmp_path, monkeypatch) -> Settings:
    """Target bigquery on the emulator; the variables ingestion sets are undone after."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.endpoint)
    monkeypatch.setenv("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")
    return make_settings(
        tmp_path / "data",
        target="bigquery",
        bigquery_project=PROJECT,
        bigquery_api_endpoint=bq_emulator.endpoint,
    )


@pytest.fixture
def raw(settings) -> BigQueryWarehouse:
    """The gateway on the emulator; `raw` (one dataset per session) starts empty."""
    wh = BigQueryWarehouse(settings)
    for name in ("raw", "raw_staging"):
        wh.client.delete_dataset(f"{PROJECT}.{name}", delete_contents=True, not_found_ok=True)
    return wh


def _counts(wh: BigQueryWarehouse) -> dict[str, int]:
    return {t: int(wh.query(f"select count(*) as n from raw.{t}")["n"][0]) for t in RAW_TABLES}


def test_sources_land_in_bigquery_raw_and_a_rerun_adds_nothing(settings, raw):
    release_one_of_each(settings)
    summary = run(settings=settings)
    assert {t: summary.rows[t] for t in RAW_TABLES} == RAW_TABLES
    assert _counts(raw) == RAW_TABLES
    for table in RAW_TABLES:
        nulls = raw.query(
            f"select count(*) as n from raw.{table} where _loaded_at is null or _load_id is null"
        )
        assert nulls["n"][0] == 0, table

    # typed columns on BigQuery, as on DuckDB
    types = {
        f.name: f.field_type for f in raw.client.get_table(f"{PROJECT}.raw.crm_customers").schema
    }
    assert types["signup_date"] == "DATE" and types["updated_at"] == "TIMESTAMP"
    assert types["seats"] == "INTEGER"
    customers = raw.read_table("raw.crm_customers")
    assert customers["customer_id"].tolist() == ["C0000001"]

    run(settings=settings)
    assert _counts(raw) == RAW_TABLES
    assert _destination_has_state(settings, "raw_usage")
    assert not _destination_has_state(settings, "raw_nothing")

    # incremental: a new customer version and a new customer land (key: id x updated_at),
    # a new usage file lands, nothing loaded before is loaded again
    later = datetime(2025, 3, 2, 12)
    write_customer_db(
        settings.customer_db,
        customers=[customer("C0000001", later, seats=99), customer("C0000002", later)],
    )
    write_usage_file(settings.usage_path, "2025-03-02", [usage_event("E3", day="2025-03-02")])
    # Stripe re-delivers evt_1 (twice) beside a new event: ids stay unique (merge on `id`)
    first = stripe_event("evt_1", 1_740_000_000)
    new = stripe_event("evt_2", 1_740_000_005)
    write_stripe_pages(settings.stripe_pages_path, [first, first, new], size=1)
    run(["customer_db", "usage", "stripe"], settings)
    grown = {"crm_customers": 3, "usage_events": 3, "stripe_events": 2}
    assert _counts(raw) == {**RAW_TABLES, **grown}
    dups = raw.query("select id from raw.stripe_events group by id having count(*) > 1")
    assert dups.empty
    seats = raw.query(
        "select seats from raw.crm_customers where customer_id = ? order by updated_at",
        ["C0000001"],
    )
    assert seats["seats"].tolist() == [10, 99]


def test_insert_only_merge_skips_a_redelivered_key_on_bigquery(settings, raw):
    """What the sources rely on when a key comes again past the incremental cursor: dlt's
    insert-only merge on BigQuery (staging dataset + MERGE) keeps the first row per key."""
    import dlt

    from ingestion.common import INSERT_ONLY

    def rows(version: int) -> dlt.sources.DltResource:
        data = [{"id": "a", "v": version}, {"id": f"n{version}", "v": version}]
        return dlt.resource(data, name="probe", primary_key="id", write_disposition=INSERT_ONLY)

    probe = pipeline(settings, "probe")
    probe.run(rows(1))
    probe.run(rows(2))
    got = raw.query("select id, v from raw.probe order by id")
    assert got.values.tolist() == [["a", 1], ["n1", 1], ["n2", 2]]


def test_local_state_is_reset_when_bigquery_lost_it(settings, raw):
    release_one_of_each(settings)
    run(["usage"], settings)
    assert (pipelines_dir(settings) / "raw_usage").is_dir()
    raw.client.delete_dataset(f"{PROJECT}.raw", delete_contents=True)
    assert not _destination_has_state(settings, "raw_usage")
    # without the reset, the local ledger of loaded files would make this load nothing
    summary = run(["usage"], settings)
    assert summary.rows["usage_events"] == 2
    assert int(raw.query("select count(*) as n from raw.usage_events")["n"][0]) == 2


def test_destination_is_configured_from_the_settings(tmp_path, monkeypatch):
    """No endpoint: dlt's BigQuery destination gets the project, location and token."""
    from google.oauth2.credentials import Credentials

    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        target="bigquery",
        bigquery_project="prod-proj",
        bigquery_location="EU",
        bigquery_token="ya29.token",
    )
    dest = destination(settings)
    config = dest.configuration(None, accept_partial=True)
    assert dest.destination_type.endswith("bigquery")
    assert (config.project_id, config.location) == ("prod-proj", "EU")
    assert config.credentials.project_id == "prod-proj"
    native = config.credentials.to_native_credentials()
    assert isinstance(native, Credentials) and native.token == "ya29.token"
    assert pipeline(settings, f"x{uuid.uuid4().hex[:6]}").dataset_name == "raw"
