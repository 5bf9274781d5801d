"""The entry points: `run()` over every source, its summary, and `python -m ingestion`."""

from __future__ import annotations

import gc
import logging

import dlt
import pytest
from ingest_helpers import count, query
from ingest_sources import organization, release_one_of_each, ticket, write_zendesk_pages

from ingestion import IngestionError, LoadSummary, run
from ingestion.__main__ import main
from ingestion.common import INSERT_ONLY, col
from ingestion.destination import pipeline
from ingestion.recovery import run_pipeline
from ingestion.zendesk import zendesk_source
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


# ---------- what an interrupted run leaves behind


def test_data_left_pending_by_a_crashed_run_is_loaded_first(settings: Settings) -> None:
    """A process killed between extraction and load leaves a normalized package."""
    release_one_of_each(settings)
    run(["zendesk"], settings)
    write_zendesk_pages(
        settings.zendesk_pages_path,
        [ticket(1, "2025-03-01T10:00:00Z"), ticket(2, "2025-03-02T10:00:00Z")],
        [organization(901, "C0000001", "2025-03-01T00:00:00Z")],
    )
    crashed = pipeline(settings, "zendesk")
    crashed.extract(zendesk_source(settings))
    crashed.normalize()
    (load_id,) = crashed.list_normalized_load_packages()

    # the next run loads the leftover package and still extracts what came since
    write_zendesk_pages(
        settings.zendesk_pages_path,
        [ticket(n, f"2025-03-0{n}T10:00:00Z") for n in (1, 2, 3)],
        [organization(901, "C0000001", "2025-03-01T00:00:00Z")],
    )
    run(["zendesk"], settings)
    assert query(settings, "select id from raw.zendesk_tickets order by id") == [
        (1,),
        (2,),
        (3,),
    ]
    loaded = query(settings, f"select status from raw._dlt_loads where load_id = '{load_id}'")
    assert loaded == [(0,)]
    assert not pipeline(settings, "zendesk").has_pending_data


def test_a_pending_package_that_cannot_load_is_dropped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #13: a package with `id: "abc"` failed on NOT NULL at every run, for good."""
    release_one_of_each(settings)
    run(["zendesk"], settings)
    old = pipeline(settings, "zendesk")
    bad = dlt.resource(
        [{"id": "abc", "updated_at": "2025-03-01T10:00:00Z"}],
        name="zendesk_tickets",
        columns={"id": col("bigint", nullable=False), "updated_at": col("text", nullable=False)},
        primary_key=("id", "updated_at"),
        write_disposition=INSERT_ONLY,
    )
    old.extract(bad)
    old.normalize()
    load_id = old.list_normalized_load_packages()[0]

    write_zendesk_pages(
        settings.zendesk_pages_path,
        [ticket(1, "2025-03-01T10:00:00Z"), ticket(2, "2025-03-02T10:00:00Z")],
        [organization(901, "C0000001", "2025-03-01T00:00:00Z")],
    )
    with caplog.at_level(logging.WARNING, logger="ingestion"):
        run(["zendesk"], settings)
    assert query(settings, "select id from raw.zendesk_tickets order by id") == [(1,), (2,)]
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert f"zendesk: load package {load_id} (zendesk_tickets)" in warning
    assert "could not be loaded" in warning and "NOT NULL" in warning
    assert "dropped it" in warning
    assert not pipeline(settings, "zendesk").has_pending_data
    run(["zendesk"], settings)  # and it stays unwedged


def test_a_run_leaves_the_cycle_collector_as_it_found_it(settings: Settings) -> None:
    """Paused while pages are extracted (ingestion/recovery.py), on again after a run,
    a failed one too."""
    seen: list[bool] = []

    @dlt.resource(name="probe")
    def probe():
        seen.append(gc.isenabled())
        yield {"a": 1}

    run_pipeline("probe", pipeline(settings, "probe"), probe(), ["probe"])
    assert seen == [False] and gc.isenabled()
    release_one_of_each(settings)
    run(["stripe"], settings)
    assert gc.isenabled()
    (settings.stripe_pages_path / "events").rename(settings.stripe_pages_path / "gone")
    settings.stripe_pages_path.joinpath("events").write_text("not a directory")
    with pytest.raises(IngestionError):
        run(["stripe"], settings)
    assert gc.isenabled()
    gc.disable()
    try:
        run(["zendesk"], settings)
        assert not gc.isenabled()  # left off, as the caller had it
    finally:
        gc.enable()
