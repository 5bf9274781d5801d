"""Customer DB: every customer version and every action lands once, typed as the DB has it."""

from __future__ import annotations

from datetime import datetime

import pytest
from ingest_helpers import column_types, count, make_settings, query
from ingest_sources import action, customer, write_customer_db
from pg_server import free_port

from ingestion import IngestionError, run
from warehouse.settings import Settings

T0 = datetime(2025, 3, 1, 9, 0, 0)
T1 = datetime(2025, 3, 2, 10, 30, 0)
T2 = datetime(2025, 3, 9, 11, 0, 0)


def _sqlite_url(settings: Settings) -> str:
    settings.sources_path.mkdir(parents=True, exist_ok=True)
    return settings.customer_db


def _customer_db_round_trip(settings: Settings, url: str) -> None:
    """First release, an unchanged re-run, then a release with updates and a new action."""
    write_customer_db(
        url,
        customers=[customer("C0000001", T0), customer("C0000002", T1, industry=None)],
        actions=[action("A00000001", "C0000001", T0), action("A00000002", "C0000002", T1)],
    )
    first = run(["customer_db"], settings)
    assert first.rows == {"crm_customers": 2, "crm_cs_actions": 2}

    again = run(["customer_db"], settings)
    assert count(settings, "raw.crm_customers") == 2
    assert count(settings, "raw.crm_cs_actions") == 2
    assert sum(again.rows.values()) <= 2  # only the boundary rows, which the key skips

    write_customer_db(
        url,
        customers=[customer("C0000001", T2, plan="enterprise", seats=25)],
        actions=[action("A00000003", "C0000001", T2, action_type="offer_made", outcome="pending")],
    )
    run(["customer_db"], settings)
    versions = query(
        settings,
        "select plan, seats, updated_at from raw.crm_customers "
        "where customer_id = 'C0000001' order by updated_at",
    )
    assert versions == [("growth", 10, T0), ("enterprise", 25, T2)]
    assert count(settings, "raw.crm_customers") == 3
    assert count(settings, "raw.crm_cs_actions") == 3
    assert query(
        settings, "select industry from raw.crm_customers where customer_id='C0000002'"
    ) == [(None,)]

    types = column_types(settings, "raw.crm_customers")
    assert types["customer_id"] == "VARCHAR"
    assert types["seats"] in ("BIGINT", "INTEGER")
    assert types["signup_date"] == "DATE"
    assert types["updated_at"] == "TIMESTAMP"
    assert types["_loaded_at"] == "TIMESTAMP"
    assert types["_load_id"] == "VARCHAR"
    assert column_types(settings, "raw.crm_cs_actions")["action_at"] == "TIMESTAMP"


def test_sqlite_customer_db_is_incremental(settings: Settings) -> None:
    _customer_db_round_trip(settings, _sqlite_url(settings))


@pytest.mark.postgres
def test_postgres_customer_db_is_incremental(tmp_path, postgres_url: str) -> None:
    settings = make_settings(tmp_path / "data", customer_db_url=postgres_url)
    _customer_db_round_trip(settings, postgres_url)


def test_app_actions_are_skipped_until_the_store_exists(settings: Settings) -> None:
    summary = run(["app_actions"], settings)
    assert summary.skipped == ["app_actions"]
    assert not settings.warehouse_file.exists()

    (settings.data_dir / "app").mkdir(parents=True)
    write_customer_db(
        settings.app_actions_db,
        actions=[action("APP0001", "C0000001", T1, action_type="offer_made")],
        only_actions=True,
    )
    run(["app_actions"], settings)
    run(["app_actions"], settings)
    assert query(settings, "select action_id, action_type from raw.app_cs_actions") == [
        ("APP0001", "offer_made")
    ]


def test_missing_sqlite_file_names_the_source(settings: Settings) -> None:
    with pytest.raises(IngestionError, match=r"^customer_db: no database file .*customer_db"):
        run(["customer_db"], settings)
    assert not (settings.sources_path / "customer_db.sqlite").exists()


def test_missing_table_names_the_table(settings: Settings) -> None:
    write_customer_db(_sqlite_url(settings), actions=[], only_actions=True)
    with pytest.raises(IngestionError, match=r"customer_db: table 'customers' not found"):
        run(["customer_db"], settings)


def test_unreachable_postgres_names_the_url(tmp_path) -> None:
    url = f"postgresql+psycopg2://churn:secret@127.0.0.1:{free_port()}/crm"
    settings = make_settings(tmp_path / "data", customer_db_url=url)
    with pytest.raises(IngestionError) as err:
        run(["customer_db"], settings)
    message = str(err.value)
    assert message.startswith("customer_db: cannot connect to postgresql+psycopg2://churn:***@")
    assert "secret" not in message
