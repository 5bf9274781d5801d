"""Usage files: every byte of a file lands once, as text; bad lines keep their text.

A file that grows loads its new lines, a rewritten one lands again and is flagged in
`raw.usage_file_loads`; unknown keys and undecodable bytes are kept and marked.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import dlt
import pytest
from ingest_helpers import column_types, count, query
from ingest_sources import usage_event, write_usage_file

from ingestion import IngestionError, run, usage
from ingestion.destination import pipeline
from ingestion.metadata import add_to_table
from ingestion.usage import EVENT_JSON, PARSE_ERROR, parse_lines, read_with_python
from ingestion.usage_files import source_name
from warehouse.settings import Settings

KEYS = ["event_id", "customer_id", "user_id", "event_type", "feature", "occurred_at"]
DAY = "2025-12-29"
NAME = f"dt={DAY}/events.jsonl"


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

    assert summary.rows["usage_events"] == 8
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
    assert again.rows["usage_events"] == 0
    assert count(settings, "raw.usage_events") == 8

    # the next release: all earlier files again plus a new day
    write_usage_file(settings.usage_path, "2025-03-06", [usage_event("E5"), usage_event("E4")])
    later = run(["usage"], settings)
    assert later.rows["usage_events"] == 2
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


# ---------- files that grow, are rewritten or stay the same


def _events(first: int, last: int, day: str = DAY) -> list[str]:
    return [usage_event(f"E{i}", day=day) for i in range(first, last)]


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_loads(settings: Settings) -> list[tuple[Any, ...]]:
    """(source_file, change, first_byte, last_byte, sha256, rows) in load order."""
    return query(
        settings,
        "select source_file, change, first_byte, last_byte, sha256, rows_landed "
        "from raw.usage_file_loads order by _load_id, source_file",
    )


def test_a_grown_file_loads_its_new_lines_once(settings: Settings) -> None:
    lines = _events(0, 8)
    path = write_usage_file(settings.usage_path, DAY, lines[:4])
    half = path.read_bytes()
    assert run(["usage"], settings).rows["usage_events"] == 4

    write_usage_file(settings.usage_path, DAY, lines)  # the whole file, its first half unchanged
    assert run(["usage"], settings).rows["usage_events"] == 4

    assert count(settings, "raw.usage_events") == 8
    assert count(settings, "(select distinct event_id from raw.usage_events)") == 8
    whole = path.read_bytes()
    assert _file_loads(settings) == [
        (NAME, "new", 0, len(half), _sha256(half), 4),
        (NAME, "appended", len(half), len(whole), _sha256(whole), 4),
    ]


def test_growth_and_a_new_file_in_the_same_run(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 4))
    run(["usage"], settings)
    size = path.stat().st_size

    _append(path, _events(4, 6))
    write_usage_file(settings.usage_path, "2025-12-30", _events(10, 13, "2025-12-30"))
    assert run(["usage"], settings).rows["usage_events"] == 5

    ids = query(settings, "select event_id from raw.usage_events order by event_id")
    assert [i for (i,) in ids] == sorted(f"E{i}" for i in [0, 1, 2, 3, 4, 5, 10, 11, 12])
    later = [(f, c, first, n) for f, c, first, _, _, n in _file_loads(settings)[1:]]
    assert later == [
        (NAME, "appended", size, 2),
        ("dt=2025-12-30/events.jsonl", "new", 0, 3),
    ]


def test_a_rewritten_file_is_flagged_and_lands_again(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 4))
    run(["usage"], settings)

    # longer than before, but what was loaded changed (E1's feature): not an append
    lines = _events(0, 5)
    lines[1] = usage_event("E1", day=DAY, feature="reports")
    write_usage_file(settings.usage_path, DAY, lines)
    assert run(["usage"], settings).rows["usage_events"] == 5
    rewritten = path.read_bytes()

    # shorter than what was loaded: rewritten too
    write_usage_file(settings.usage_path, DAY, _events(0, 1))
    assert run(["usage"], settings).rows["usage_events"] == 1

    loads = _file_loads(settings)
    assert [(c, first, last, n) for _, c, first, last, _, n in loads[1:]] == [
        ("rewritten", 0, len(rewritten), 5),
        ("rewritten", 0, path.stat().st_size, 1),
    ]
    assert loads[1][4] == _sha256(rewritten)
    # raw keeps every delivery; staging keeps the first one of an event id
    assert count(settings, "raw.usage_events where event_id = 'E0'") == 3
    assert count(settings, "raw.usage_events where feature = 'reports'") == 1


def test_unchanged_files_are_not_read_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 3))
    write_usage_file(settings.usage_path, "2025-12-30", _events(3, 5, "2025-12-30"))
    run(["usage"], settings)

    def no_reading(*args: Any) -> Any:
        raise AssertionError("an unchanged file was read")

    with monkeypatch.context() as patch:
        patch.setattr("ingestion.usage.scan", no_reading)
        patch.setattr("ingestion.usage.read_rest", no_reading)
        assert run(["usage"], settings).rows["usage_events"] == 0

    # touched (a new mtime, the same bytes): hashed, found unchanged, nothing lands
    mtime = path.stat().st_mtime_ns + 5 * 10**9
    os.utime(path, ns=(mtime, mtime))
    assert run(["usage"], settings).rows["usage_events"] == 0
    assert count(settings, "raw.usage_events") == 5
    assert len(_file_loads(settings)) == 2


def test_an_unterminated_last_line_waits_for_its_newline(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 2))
    partial = usage_event("E2", day=DAY)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(partial[:20])  # a writer still writing
    assert run(["usage"], settings).rows["usage_events"] == 2

    with path.open("a", encoding="utf-8") as handle:
        handle.write(partial[20:] + "\n" + usage_event("E3", day=DAY))  # E3: a whole object
    assert run(["usage"], settings).rows["usage_events"] == 2
    assert count(settings, "raw.usage_events where _raw_line is null") == 4
    assert _file_loads(settings)[-1][3] == path.stat().st_size


def test_an_unterminated_line_lands_once_its_file_stops_changing(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 2))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"event_id": "E2", "cust')  # its writer died here
    assert run(["usage"], settings).rows["usage_events"] == 2

    assert run(["usage"], settings).rows["usage_events"] == 1  # unchanged for a run: flushed
    bad = query(settings, "select _raw_line from raw.usage_events where _raw_line is not null")
    assert bad == [('{"event_id": "E2", "cust',)]
    assert run(["usage"], settings).rows["usage_events"] == 0


def test_a_file_that_changes_while_duckdb_reads_it_is_read_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_usage_file(settings.usage_path, DAY, _events(0, 3))
    read_files = usage.read_files

    def read_while_appending(paths: list[Path]) -> Any:
        table = read_files(paths)
        _append(path, _events(3, 4))  # lands after DuckDB read, before the ledger took it
        return table

    monkeypatch.setattr(usage, "read_files", read_while_appending)
    assert run(["usage"], settings).rows["usage_events"] == 4
    monkeypatch.undo()
    assert run(["usage"], settings).rows["usage_events"] == 0
    assert count(settings, "raw.usage_events") == 4
    assert count(settings, "(select distinct event_id from raw.usage_events)") == 4
    assert _file_loads(settings) == [
        (NAME, "new", 0, path.stat().st_size, _sha256(path.read_bytes()), 4)
    ]


# ---------- what the source sent is kept


def test_unknown_keys_are_kept_in_event_json(settings: Settings) -> None:
    extra = json.dumps({"event_id": "E2", "customer_id": "C1", "session": {"id": 7}})
    path = write_usage_file(settings.usage_path, DAY, [usage_event("E1"), extra, "[1, 2]"])
    run(["usage"], settings)  # the DuckDB reader
    later = '{"event_id":"E3","device":"ios"}'
    _append(path, [usage_event("E4"), later])
    run(["usage"], settings)  # the line parser on the new tail

    kept = query(
        settings,
        f"select event_id, {EVENT_JSON} from raw.usage_events order by event_id nulls last",
    )
    assert kept == [("E1", None), ("E2", extra), ("E3", later), ("E4", None), (None, None)]
    assert column_types(settings, "raw.usage_events")[EVENT_JSON] == "VARCHAR"


def test_a_line_with_invalid_utf8_is_marked_and_kept(settings: Settings) -> None:
    path = write_usage_file(settings.usage_path, DAY, [usage_event("E1")])
    with path.open("ab") as handle:
        handle.write(b'{"event_id": "E2", "feature": "caf\xe9"}\n\xff\xfe garbage\n')
    _append(path, [usage_event("E3")])
    run(["usage"], settings)

    rows = query(
        settings,
        f"select event_id, feature, _raw_line, {PARSE_ERROR} from raw.usage_events "
        "order by event_id nulls last",
    )
    assert rows == [
        ("E1", None, None, None),
        ("E2", "caf\ufffd", None, "invalid UTF-8 bytes"),
        ("E3", None, None, None),
        (None, None, "\ufffd\ufffd garbage", "invalid UTF-8 bytes"),
    ]
    assert column_types(settings, "raw.usage_events")[PARSE_ERROR] == "VARCHAR"
    fine = parse_lines(b'{"event_id": "E4"}\n', NAME)
    assert fine.column(PARSE_ERROR).to_pylist() == [None]


# ---------- the ledger of earlier versions


def _load_with_the_old_ledger(settings: Settings, paths: list[Path]) -> None:
    """What the previous version left: the files' rows in raw, their names in a list."""

    @dlt.source(name="usage", max_table_nesting=0)
    def old_usage() -> Any:
        @dlt.resource(name="usage_events", write_disposition="append")
        def usage_events() -> Any:
            dlt.current.resource_state()["loaded_files"] = [source_name(p) for p in paths]
            for path in paths:
                yield add_to_table(read_with_python(path).drop_columns([EVENT_JSON, PARSE_ERROR]))

        return usage_events

    pipeline(settings, "usage").run(old_usage())


def test_the_old_ledger_of_file_names_is_honoured(settings: Settings) -> None:
    old = write_usage_file(settings.usage_path, DAY, _events(0, 3))
    _load_with_the_old_ledger(settings, [old])
    size = old.stat().st_size
    assert count(settings, "raw.usage_events") == 3

    write_usage_file(settings.usage_path, "2025-12-30", _events(3, 5, "2025-12-30"))
    assert run(["usage"], settings).rows["usage_events"] == 2  # the new file only
    _append(old, _events(5, 6))
    assert run(["usage"], settings).rows["usage_events"] == 1  # the old file's new line

    assert count(settings, "(select distinct event_id from raw.usage_events)") == 6
    assert count(settings, "raw.usage_events") == 6
    loads = [(f, c, first, n) for f, c, first, _, _, n in _file_loads(settings)]
    assert loads == [("dt=2025-12-30/events.jsonl", "new", 0, 2), (NAME, "appended", size, 1)]
