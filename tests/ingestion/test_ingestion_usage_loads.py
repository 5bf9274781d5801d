"""A first load of many usage files lands in several loads: each finished load stays when a
later one fails, and the next run takes the rest, every event once."""

from __future__ import annotations

import pytest
from ingest_helpers import count, query
from ingest_sources import usage_event, write_usage_file

from ingestion import IngestionError, run, usage
from warehouse.settings import Settings

DAYS = [f"2025-03-{d:02d}" for d in range(1, 8)]


def _release(settings: Settings) -> None:
    for i, day in enumerate(DAYS):
        lines = [usage_event(f"E{i}-{k}", day=day) for k in range(40)]
        write_usage_file(settings.usage_path, day, lines)


def _loads(settings: Settings) -> int:
    return query(settings, "select count(distinct _load_id) from raw.usage_events")[0][0]


def test_files_beyond_the_byte_budget_go_in_further_loads_of_one_run(settings: Settings) -> None:
    _release(settings)
    size = (settings.usage_path / f"dt={DAYS[0]}" / "events.jsonl").stat().st_size
    chunked = settings.model_copy(update={"ingestion_usage_bytes_per_load": 2 * size})

    summary = run(["usage"], chunked)

    assert summary.rows["usage_events"] == 40 * len(DAYS)
    assert count(settings, "raw.usage_events") == 40 * len(DAYS)
    assert count(settings, "(select distinct event_id from raw.usage_events)") == 40 * len(DAYS)
    assert _loads(settings) == 4  # 2 + 2 + 2 + 1 files
    assert count(settings, "raw.usage_file_loads") == len(DAYS)
    assert run(["usage"], chunked).rows["usage_events"] == 0


def test_a_failed_load_keeps_the_loads_before_it_and_the_next_run_takes_the_rest(
    settings: Settings, monkeypatch
) -> None:
    _release(settings)
    size = (settings.usage_path / f"dt={DAYS[0]}" / "events.jsonl").stat().st_size
    chunked = settings.model_copy(update={"ingestion_usage_bytes_per_load": 3 * size})
    read_batch = usage.read_batch

    def fail_on_the_fifth_day(batch):
        if any(DAYS[4] in todo.name for todo in batch):
            raise OSError("disk went away")
        return read_batch(batch)

    monkeypatch.setattr(usage, "read_batch", fail_on_the_fifth_day)
    with pytest.raises(IngestionError):
        run(["usage"], chunked)
    assert count(settings, "raw.usage_events") == 40 * 3  # the first load (3 files) stayed

    monkeypatch.setattr(usage, "read_batch", read_batch)
    summary = run(["usage"], chunked)
    assert summary.rows["usage_events"] == 40 * 4
    assert count(settings, "(select distinct event_id from raw.usage_events)") == 40 * len(DAYS)
    assert count(settings, "raw.usage_events") == 40 * len(DAYS)
