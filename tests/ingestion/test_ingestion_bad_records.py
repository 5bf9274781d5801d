"""Page files that cannot be read whole: bad bytes and broken JSON go to quarantine, loudly."""

from __future__ import annotations

import json
import logging

import pytest
from ingest_helpers import count, query, variant_columns
from ingest_sources import organization, stripe_event, ticket, write_zendesk_pages

from ingestion import run
from warehouse.settings import Settings

ORGS = [organization(901, "C0000001", "2025-01-01T00:00:00Z")]


def _page(tickets: list[object]) -> bytes:
    return json.dumps({"tickets": tickets, "end_of_stream": True}, ensure_ascii=False).encode()


def test_records_with_bytes_that_are_not_utf8_are_quarantined(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, [ticket(1, "2025-03-01T10:00:00Z")], ORGS)
    tickets = [
        ticket(2, "2025-03-02T10:00:00Z", subject="SUBJECT"),
        ticket(3, "2025-03-03T10:00:00Z", subject="café"),  # valid UTF-8 lands
        ticket(4, "2025-03-04T10:00:00Z"),
    ]
    data = _page(tickets).replace(b"SUBJECT", b"caf\xe9 \xff")  # Latin-1 bytes
    (settings.zendesk_pages_path / "tickets" / "page-00002.json").write_bytes(data)

    with caplog.at_level(logging.WARNING, logger="ingestion"):
        summary = run(["zendesk"], settings)
    assert summary.rows["zendesk_quarantine"] == 1
    assert query(settings, "select id, subject from raw.zendesk_tickets order by id") == [
        (1, "Ticket 1"),
        (3, "café"),
        (4, "Ticket 4"),
    ]
    rows = query(settings, "select page, position, reason, record from raw.zendesk_quarantine")
    assert [r[:3] for r in rows] == [("tickets/page-00002.json", 0, "invalid UTF-8 bytes")]
    assert json.loads(rows[0][3])["subject"] == "caf\ufffd \ufffd"
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "zendesk" in m and "tickets/page-00002.json" in m and "1 record(s)" in m for m in warning
    )

    run(["zendesk"], settings)  # read again every run, quarantined once
    assert count(settings, "raw.zendesk_quarantine") == 1
    assert variant_columns(settings) == []


def test_a_page_that_is_not_json_is_one_quarantine_row(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    tickets = [ticket(n, f"2025-03-0{n}T10:00:00Z") for n in (1, 2, 3)]
    write_zendesk_pages(settings.zendesk_pages_path, tickets, ORGS, size=1)
    broken = settings.zendesk_pages_path / "tickets" / "page-00002.json"
    broken.write_text('{"tickets": [{"id": 2, "updated_at": "2025-03-02T1', encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="ingestion"):
        run(["zendesk"], settings)
    assert query(settings, "select id from raw.zendesk_tickets order by id") == [(1,), (3,)]
    rows = query(settings, "select page, position, reason, record from raw.zendesk_quarantine")
    assert len(rows) == 1
    page, position, reason, record = rows[0]
    assert (page, position) == ("tickets/page-00002.json", None)
    assert reason.startswith("page is not valid JSON: Unterminated string")
    assert record == broken.read_text(encoding="utf-8")
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("zendesk" in m and "tickets/page-00002.json" in m for m in warning)

    # fixed in the next release: the page's ticket lands
    write_zendesk_pages(settings.zendesk_pages_path, tickets, ORGS, size=1)
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 3
    assert count(settings, "raw.zendesk_quarantine") == 1


def test_stripe_pages_with_bad_bytes_or_no_json(settings: Settings) -> None:
    events = settings.stripe_pages_path / "events"
    events.mkdir(parents=True)
    good = [stripe_event("evt_1", 1_740_000_000), stripe_event("evt_2", 1_740_000_060)]
    page = json.dumps({"object": "list", "data": good}).encode()
    (events / "page-00001.json").write_bytes(page.replace(b"invoice.paid", b"invoice.p\xe4id", 1))
    (events / "page-00002.json").write_bytes(b"\x00\x01 not json")
    (events / "page-00003.json").write_text(json.dumps({"object": "list", "data": {"x": 1}}))
    (events / "page-00004.json").write_text(
        json.dumps({"data": [stripe_event("evt_3", 1_740_000_120)]})
    )
    run(["stripe"], settings)
    assert query(settings, "select id from raw.stripe_events order by id") == [
        ("evt_2",),
        ("evt_3",),
    ]
    reasons = query(
        settings, "select page, position, reason from raw.stripe_quarantine order by page"
    )
    assert reasons[0] == ("events/page-00001.json", 0, "invalid UTF-8 bytes")
    assert reasons[1][:2] == ("events/page-00002.json", None)
    assert reasons[1][2].startswith("page is not valid JSON")
    assert reasons[2] == (
        "events/page-00003.json",
        None,
        "page is not a JSON object with a 'data' list",
    )
    assert variant_columns(settings) == []
