"""Gzip usage files (`events.jsonl.gz`) and API pages (`page-*.json.gz`): same rows as plain.

A gzip usage file is a unit: a touch loads nothing, any change to its bytes lands all of it
again as rewritten (staging keeps the first delivery of an event id), and one that does not
decompress to its end waits for the next run. A release of a large simulation is gzipped.
"""

from __future__ import annotations

import base64
import gzip
import logging
import os
from datetime import date
from pathlib import Path

import pytest
from ingest_helpers import count, make_settings, query
from ingest_sources import (
    organization,
    stripe_event,
    ticket,
    usage_event,
    write_stripe_pages,
    write_usage_file,
    write_zendesk_pages,
)

from ingestion import run
from simulator import generate, release
from warehouse.settings import Settings

DAY = "2025-03-04"
GZ_NAME = f"dt={DAY}/events.jsonl.gz"
LINES = [
    usage_event("E1"),
    usage_event("E2", cid=None, feature="reports"),
    "{not json at all",
    usage_event("E3", plan="growth"),  # a key beyond the known ones
    usage_event("E1"),  # delivered twice
]
COLUMNS = (
    "event_id, customer_id, user_id, event_type, feature, occurred_at, received_at, "
    "_raw_line, _event_json, _parse_error"
)


def _write_gz(usage_dir: Path, day: str, lines: list[str], members: int = 1) -> Path:
    """`dt=<day>/events.jsonl.gz`, the lines split over `members` gzip members."""
    path = usage_dir / f"dt={day}" / "events.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [line.encode("utf-8") + b"\n" for line in lines]
    step = -(-len(data) // members)
    path.write_bytes(
        b"".join(gzip.compress(b"".join(data[i : i + step])) for i in range(0, len(data), step))
    )
    return path


def _rows(settings: Settings) -> list[tuple[object, ...]]:
    return query(settings, f"select {COLUMNS} from raw.usage_events order by all")


def test_a_gzip_file_lands_the_same_rows_as_its_jsonl(tmp_path: Path) -> None:
    plain = make_settings(tmp_path / "plain")
    write_usage_file(plain.usage_path, DAY, LINES)
    packed = make_settings(tmp_path / "packed")
    _write_gz(packed.usage_path, DAY, LINES, members=2)

    assert run(["usage"], plain).rows["usage_events"] == len(LINES)
    assert run(["usage"], packed).rows["usage_events"] == len(LINES)
    assert _rows(packed) == _rows(plain)
    assert query(packed, "select distinct _source_file from raw.usage_events") == [(GZ_NAME,)]
    assert count(packed, "raw.usage_events where _raw_line = '{not json at all'") == 1
    loads = query(
        packed, "select source_file, change, first_byte, last_byte from raw.usage_file_loads"
    )
    size = (packed.usage_path / GZ_NAME).stat().st_size
    assert loads == [(GZ_NAME, "new", 0, size)]


def test_bad_bytes_in_a_gzip_file_are_flagged_and_the_rest_lands(settings: Settings) -> None:
    path = _write_gz(settings.usage_path, DAY, [usage_event("E1"), usage_event("E2")])
    bad = b'{"event_id": "E9", "user_id": "caf\xe9"}'  # Latin-1, not UTF-8
    path.write_bytes(path.read_bytes() + gzip.compress(bad + b"\n"))
    run(["usage"], settings)
    assert query(
        settings, "select event_id, user_id, _parse_error from raw.usage_events order by 1"
    ) == [("E1", "U1", None), ("E2", "U1", None), ("E9", "caf\ufffd", "invalid UTF-8 bytes")]


def test_a_touched_gzip_loads_nothing_and_a_changed_one_lands_whole(settings: Settings) -> None:
    path = _write_gz(settings.usage_path, DAY, [usage_event("E1"), usage_event("E2")])
    run(["usage"], settings)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert run(["usage"], settings).rows.get("usage_events", 0) == 0
    assert count(settings, "raw.usage_file_loads") == 1

    # a gzip member appended: the file changed, so all of it lands again
    path.write_bytes(path.read_bytes() + gzip.compress((usage_event("E3") + "\n").encode()))
    assert run(["usage"], settings).rows["usage_events"] == 3
    assert query(
        settings, "select event_id, count(*) from raw.usage_events group by 1 order by 1"
    ) == [("E1", 2), ("E2", 2), ("E3", 1)]
    changes = query(settings, "select change, rows_landed from raw.usage_file_loads order by 2")
    assert changes == [("new", 2), ("rewritten", 3)]
    assert run(["usage"], settings).rows.get("usage_events", 0) == 0


def test_an_unfinished_gzip_waits_for_the_next_run(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    whole = gzip.compress("".join(usage_event(f"E{i}") + "\n" for i in range(200)).encode())
    path = settings.usage_path / f"dt={DAY}" / "events.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(whole[: len(whole) // 2])
    write_usage_file(settings.usage_path, "2025-03-05", [usage_event("F1")])

    with caplog.at_level(logging.WARNING, logger="ingestion"):
        run(["usage"], settings)
    assert query(settings, "select event_id from raw.usage_events") == [("F1",)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(GZ_NAME in m and "not a whole gzip file" in m for m in warnings)

    path.write_bytes(whole)
    assert run(["usage"], settings).rows["usage_events"] == 200
    assert count(settings, f"raw.usage_file_loads where source_file = '{GZ_NAME}'") == 1


# ---------- API pages on disk may be gzipped too


def _gzip_pages(root: Path) -> None:
    """Replace every `page-*.json` under `root` by its `page-*.json.gz`."""
    for page in sorted(root.rglob("page-*.json")):
        page.with_name(page.name + ".gz").write_bytes(gzip.compress(page.read_bytes()))
        page.unlink()


def test_gzipped_pages_land_like_plain_pages(tmp_path: Path) -> None:
    tickets = [ticket(n, f"2025-03-0{n}T10:00:00Z") for n in range(1, 6)]
    orgs = [organization(901, "C0000001", "2025-01-01T00:00:00Z")]
    events = [stripe_event(f"evt_{n}", 1_740_000_000 + n) for n in range(1, 6)]
    loaded = []
    for packed in (False, True):
        settings = make_settings(tmp_path / ("packed" if packed else "plain"))
        write_zendesk_pages(settings.zendesk_pages_path, tickets, orgs)
        write_stripe_pages(settings.stripe_pages_path, events)
        if packed:
            _gzip_pages(settings.sources_path)
        run(["zendesk", "stripe"], settings)
        loaded.append(settings)
    for table in ("zendesk_tickets", "zendesk_organizations", "stripe_events"):
        sql = f"select * exclude (_loaded_at, _load_id, _dlt_load_id, _dlt_id) from raw.{table}"
        assert query(loaded[1], sql + " order by all") == query(loaded[0], sql + " order by all")
    assert count(loaded[1], "raw.zendesk_tickets") == 5


def test_a_cut_short_gzip_page_is_quarantined_and_read_again(settings: Settings) -> None:
    tickets = [ticket(n, f"2025-03-0{n}T10:00:00Z") for n in range(1, 5)]
    orgs = [organization(901, "C0000001", "2025-01-01T00:00:00Z")]
    write_zendesk_pages(settings.zendesk_pages_path, tickets, orgs)
    _gzip_pages(settings.sources_path)
    page = settings.zendesk_pages_path / "tickets" / "page-00002.json.gz"
    whole = page.read_bytes()
    page.write_bytes(whole[:-12])
    run(["zendesk"], settings)
    assert query(settings, "select id from raw.zendesk_tickets order by 1") == [(1,), (2,)]
    rows = query(settings, "select page, reason, record from raw.zendesk_quarantine")
    assert [(p, r.split(" (")[0]) for p, r, _ in rows] == [
        ("tickets/page-00002.json.gz", "page is not a whole gzip file")
    ]
    assert base64.b64decode(rows[0][2]) == whole[:-12]  # nothing of it is lost

    page.write_bytes(whole)  # the cursor held: the whole page lands next run
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4


def test_a_large_release_is_gzipped_and_ingests_like_a_plain_one(tmp_path: Path) -> None:
    sim = generate(
        customers=60, seed=3, start=date(2024, 1, 1), end=date(2024, 2, 15), out=tmp_path / "sim"
    )
    as_of = date(2024, 2, 1)
    plain = release(as_of, sim, tmp_path / "plain")
    packed = release(as_of, sim, tmp_path / "packed", compress=True)
    assert not list(packed.rglob("*.json")) and not list(packed.rglob("*.jsonl"))
    for path in plain.rglob("*.json*"):
        twin = packed / path.relative_to(plain)
        assert gzip.decompress(twin.with_name(twin.name + ".gz").read_bytes()) == path.read_bytes()

    counts = []
    for out in (plain, packed):
        settings = make_settings(tmp_path / f"wh_{out.name}", sources_dir=out)
        summary = run(["usage", "zendesk", "stripe"], settings)
        counts.append({t: n for t, n in summary.rows.items() if t != "usage_file_loads"})
    assert counts[0] == counts[1] and counts[0]["usage_events"] > 1000
