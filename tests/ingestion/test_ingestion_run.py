"""The entry points: `run()` over every source, its summary, and `python -m ingestion`."""

from __future__ import annotations

import pytest
from ingest_helpers import count, query
from ingest_sources import (
    release_one_of_each,
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


def test_run_loads_every_source_and_is_idempotent(settings: Settings) -> None:
    release_one_of_each(settings)
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

    release_one_of_each(settings)
    assert main(["--source", "usage", "--source", "stripe"]) == 0
    out = capsys.readouterr().out
    assert "usage_events" in out and "stripe_events" in out
