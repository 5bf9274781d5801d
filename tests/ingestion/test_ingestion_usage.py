"""Usage files: every line lands once per file, as text; bad lines keep their text."""

from __future__ import annotations

import pytest
from ingest_helpers import column_types, count, query
from ingest_sources import usage_event, write_usage_file

from ingestion import IngestionError, run
from ingestion.usage import read_with_python
from warehouse.settings import Settings

KEYS = ["event_id", "customer_id", "user_id", "event_type", "feature", "occurred_at"]


def _first_release(settings: Settings) -> None:
    write_usage_file(
        settings.usage_path,
        "2025-03-04",
        [
            usage_event("E1"),
            usage_event("E2", cid=None, feature="reports", event_type="teleport"),
            "{not json at all",
            usage_event("E1"),  # the same event delivered twice in one file
            '["a", "list"]',
            '{"event_id": "E3", "occurred_at": "not-a-date"}',  # missing keys -> null
            "",
        ],
    )
    write_usage_file(settings.usage_path, "2025-03-05", [usage_event("E1"), usage_event("E4")])


def test_lines_land_as_text_with_source_file_and_raw_line(settings: Settings) -> None:
    _first_release(settings)
    summary = run(["usage"], settings)

    assert summary.rows == {"usage_events": 8}
    assert count(settings, "raw.usage_events") == 8
    types = column_types(settings, "raw.usage_events")
    for key in [*KEYS, "received_at", "_source_file", "_raw_line", "_load_id"]:
        assert types[key] == "VARCHAR", key
    assert types["_loaded_at"] == "TIMESTAMP"

    bad = query(
        settings,
        "select _raw_line, event_id, customer_id, _source_file from raw.usage_events "
        "where _raw_line is not null order by _raw_line",
    )
    assert bad == [
        ('["a", "list"]', None, None, "dt=2025-03-04/events.jsonl"),
        ("{not json at all", None, None, "dt=2025-03-04/events.jsonl"),
    ]
    # duplicates stay in raw (staging dedups), in the same file and across files
    assert count(settings, "raw.usage_events where event_id = 'E1'") == 3
    e3 = query(settings, "select occurred_at, user_id from raw.usage_events where event_id='E3'")
    assert e3 == [("not-a-date", None)]
    # the load id is dlt's, so it joins raw._dlt_loads
    joined = query(
        settings,
        "select count(*) from raw.usage_events u join raw._dlt_loads l on u._load_id = l.load_id",
    )
    assert joined[0][0] == 8


def test_each_file_is_loaded_once(settings: Settings) -> None:
    _first_release(settings)
    run(["usage"], settings)
    again = run(["usage"], settings)
    assert again.rows == {"usage_events": 0}
    assert count(settings, "raw.usage_events") == 8

    # the next release: all earlier files again plus a new day
    write_usage_file(settings.usage_path, "2025-03-06", [usage_event("E5"), usage_event("E4")])
    later = run(["usage"], settings)
    assert later.rows == {"usage_events": 2}
    assert count(settings, "raw.usage_events") == 10
    loads = query(settings, "select count(distinct _load_id) from raw.usage_events")
    assert loads[0][0] == 2


def test_state_resets_when_the_warehouse_is_deleted(settings: Settings) -> None:
    _first_release(settings)
    run(["usage"], settings)
    settings.warehouse_file.unlink()
    run(["usage"], settings)
    assert count(settings, "raw.usage_events") == 8


def test_undecodable_bytes_fall_back_to_the_line_parser(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, "2025-03-04", [usage_event("E1")])
    with path.open("ab") as handle:
        handle.write(b'{"event_id": "E2", "feature": "caf\xe9"}\n\xff\xfe garbage\n')
    table = read_with_python(path)
    assert table.column("event_id").to_pylist() == ["E1", "E2", None]
    assert table.column("_raw_line").to_pylist()[:2] == [None, None]

    run(["usage"], settings)
    assert count(settings, "raw.usage_events") == 3
    assert count(settings, "raw.usage_events where _raw_line is not null") == 1


def test_missing_directory_names_the_source(settings: Settings) -> None:
    with pytest.raises(IngestionError, match=r"^usage: no directory .*usage.*simulator release"):
        run(["usage"], settings)
