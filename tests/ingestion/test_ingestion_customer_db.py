"""Customer DB: every customer version and every action lands once, typed as the DB has it."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from ingest_helpers import WarehouseLock, column_types, count, make_settings, query
from ingest_sources import action, customer, write_customer_db
from pg_server import free_port

from ingestion import IngestionError, run
from ingestion.destination import pipeline
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


# ---------- cursors a future date cannot poison

FUTURE = datetime(2099, 1, 1)
LATE = datetime(2025, 12, 30, 8, 0, 0)


def _future_rows_round_trip(settings: Settings, url: str) -> None:
    """A row dated 2099 lands and the rows updated after it still land in the next runs."""
    write_customer_db(
        url,
        customers=[customer("C0000001", T0), customer("C0000009", FUTURE)],
        actions=[action("A00000001", "C0000001", T0), action("A00000009", "C0000009", FUTURE)],
    )
    run(["customer_db"], settings)
    assert count(settings, "raw.crm_customers") == 2
    assert count(settings, "raw.crm_cs_actions") == 2

    write_customer_db(
        url,
        customers=[customer("C0000001", LATE, plan="enterprise")],
        actions=[action("A00000002", "C0000001", LATE)],
    )
    run(["customer_db"], settings)
    assert query(
        settings, "select updated_at from raw.crm_customers order by updated_at, customer_id"
    ) == [(T0,), (LATE,), (FUTURE,)]
    assert count(settings, "raw.crm_cs_actions") == 3
    run(["customer_db"], settings)
    assert count(settings, "raw.crm_customers") == 3
    assert count(settings, "raw.crm_cs_actions") == 3


def test_sqlite_future_updated_at_does_not_hide_later_rows(settings: Settings) -> None:
    _future_rows_round_trip(settings, _sqlite_url(settings))


@pytest.mark.postgres
def test_postgres_future_updated_at_does_not_hide_later_rows(tmp_path, postgres_url: str) -> None:
    settings = make_settings(tmp_path / "data", customer_db_url=postgres_url)
    _future_rows_round_trip(settings, postgres_url)


def test_sqlite_cursor_state_never_passes_the_bound(settings: Settings) -> None:
    write_customer_db(
        _sqlite_url(settings), customers=[customer("C0000001", T0), customer("C2", FUTURE)]
    )
    run(["customer_db"], settings)
    state = pipeline(settings, "customer_db").state["sources"]["customer_db"]["resources"]
    assert state["crm_customers"]["cursor"] == {"field": "updated_at", "value": T0.isoformat()}


# ---------- a failed load does not wedge the source


@pytest.mark.postgres
def test_postgres_failed_load_is_re_extracted_next_run(tmp_path, postgres_url: str) -> None:
    """The warehouse gets locked while the extraction waits on a locked source table."""
    settings = make_settings(tmp_path / "data", customer_db_url=postgres_url)
    write_customer_db(postgres_url, customers=[customer("C0000001", T0)], actions=[])
    run(["customer_db"], settings)
    write_customer_db(
        postgres_url,
        customers=[customer("C0000002", T1)],
        actions=[action("A00000001", "C0000002", T1)],
    )

    engine = sa.create_engine(postgres_url)
    holder = engine.connect()
    holder.begin()
    holder.execute(sa.text("lock table customers in access exclusive mode"))
    locks: list[WarehouseLock] = []

    def lock_warehouse_then_release_table() -> None:
        deadline = time.monotonic() + 60
        with engine.connect() as probe:
            while time.monotonic() < deadline:
                waiting = probe.execute(
                    sa.text(
                        "select count(*) from pg_stat_activity "
                        "where wait_event_type = 'Lock' and query ilike '%customers%'"
                    )
                ).scalar()
                probe.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting:
                    break
                time.sleep(0.05)
        locks.append(WarehouseLock(settings.warehouse_file))
        holder.rollback()

    helper = threading.Thread(target=lock_warehouse_then_release_table, daemon=True)
    helper.start()
    try:
        with pytest.raises(IngestionError) as err:
            run(["customer_db"], settings)
    finally:
        helper.join(timeout=60)
        holder.close()
        engine.dispose()
        for lock in locks:
            lock.release()
    assert str(err.value).startswith("customer_db: loading raw.crm_customers")
    assert "the next run re-extracts it" in str(err.value)

    run(["customer_db"], settings)
    assert count(settings, "raw.crm_customers") == 2
    assert count(settings, "raw.crm_cs_actions") == 1
