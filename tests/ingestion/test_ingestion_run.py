"""The entry points: `run()` over every source, its summary, and `python -m ingestion`."""

from __future__ import annotations

from datetime import datetime

import pytest
from ingest_helpers import count, query
from ingest_sources import (
    action,
    customer,
    organization,
    stripe_event,
    ticket,
    usage_event,
    write_customer_db,
    write_stripe_pages,
    write_usage_file,
    write_zendesk_pages,
)

from ingestion import IngestionError, LoadSummary, run
from ingestion.__main__ import main
from warehouse.settings import Settings

RAW_TABLES = [
    "crm_customers",
    "crm_cs_actions",
    "usage_events",
    "zendesk_tickets",
    "zendesk_organizations",
    "stripe_events",
]


def _release(settings: Settings) -> None:
    settings.sources_path.mkdir(parents=True, exist_ok=True)
    at = datetime(2025, 3, 1, 12)
    write_customer_db(
        settings.customer_db,
        customers=[customer("C0000001", at)],
        actions=[action("A00000001", "C0000001", at)],
    )
    write_usage_file(settings.usage_path, "2025-03-01", [usage_event("E1"), usage_event("E2")])
    write_zendesk_pages(
        settings.zendesk_pages_path,
        [ticket(1, "2025-03-01T10:00:00Z")],
        [organization(901, "C0000001", "2025-03-01T00:00:00Z")],
    )
    write_stripe_pages(settings.stripe_pages_path, [stripe_event("evt_1", 1_740_000_000)])


def test_run_loads_every_source_and_is_idempotent(settings: Settings) -> None:
    _release(settings)
    summary = run(settings=settings)
    assert isinstance(summary, LoadSummary)
    assert {t: summary.rows[t] for t in RAW_TABLES} == {
        "crm_customers": 1,
        "crm_cs_actions": 1,
        "usage_events": 2,
        "zendesk_tickets": 1,
        "zendesk_organizations": 1,
        "stripe_events": 1,
    }
    assert summary.skipped == ["app_actions"]
    assert summary.duration_seconds > 0
    assert "usage_events" in str(summary)

    before = {t: count(settings, f"raw.{t}") for t in RAW_TABLES}
    run(settings=settings)
    assert {t: count(settings, f"raw.{t}") for t in RAW_TABLES} == before
    for table in RAW_TABLES:
        nulls = query(
            settings,
            f"select count(*) from raw.{table} where _loaded_at is null or _load_id is null",
        )
        assert nulls[0][0] == 0, table
    # dlt's working dirs live under the data dir, one pipeline per source
    assert (settings.data_dir / "dlt" / "raw_usage" / "state.json").is_file()


def test_unknown_source_is_rejected(settings: Settings) -> None:
    with pytest.raises(IngestionError, match=r"unknown source\(s\) \['crm'\]"):
        run(["crm"], settings)


def test_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("ingestion.runner.get_settings", lambda: settings)
    assert main(["--source", "usage"]) == 1
    assert "error: usage: no directory" in capsys.readouterr().err

    _release(settings)
    assert main(["--source", "usage", "--source", "stripe"]) == 0
    out = capsys.readouterr().out
    assert "usage_events" in out and "stripe_events" in out
