"""Zendesk: cursor export over HTTP and pages on disk; each ticket version lands once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_api import Failure, FakeApiServer
from ingest_helpers import (
    LockOnRequest,
    LockWhenRead,
    column_types,
    count,
    make_settings,
    query,
    variant_columns,
)
from ingest_sources import organization, ticket, write_zendesk_pages
from pg_server import free_port

from ingestion import IngestionError, run
from ingestion.common import iso_to_epoch
from ingestion.destination import pipeline
from warehouse.settings import Settings

TICKETS = [
    ticket(1, "2025-03-01T10:00:00Z", tags=["escalated", "billing"]),
    ticket(2, "2025-03-02T10:00:00Z", priority="high", satisfaction_rating={"score": "bad"}),
    ticket(3, "2025-03-03T10:00:00Z"),
]
ORGS = [organization(901, "C0000001", "2025-01-01T00:00:00Z")]


def _api_settings(tmp_path: Path, server: FakeApiServer) -> Settings:
    server.api.zendesk_auth = ("ops@example.com", "tok123")
    return make_settings(
        tmp_path / "data",
        zendesk_base_url=server.url,
        zendesk_email="ops@example.com",
        zendesk_api_token="tok123",
    )


def test_types_follow_the_contract(settings: Settings) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, ORGS)
    run(["zendesk"], settings)
    types = column_types(settings, "raw.zendesk_tickets")
    expected = {
        "id": "BIGINT",
        "organization_id": "BIGINT",
        "requester_id": "BIGINT",
        "url": "VARCHAR",
        "subject": "VARCHAR",
        "status": "VARCHAR",
        "priority": "VARCHAR",
        "type": "VARCHAR",
        "created_at": "VARCHAR",
        "updated_at": "VARCHAR",
        "tags": "JSON",
        "satisfaction_rating": "JSON",
        "_loaded_at": "TIMESTAMP",
        "_load_id": "VARCHAR",
    }
    assert {k: types[k] for k in expected} == expected
    orgs = column_types(settings, "raw.zendesk_organizations")
    assert orgs["id"] == "BIGINT"
    assert orgs["external_id"] == orgs["created_at"] == orgs["updated_at"] == "VARCHAR"
    row = query(
        settings,
        "select tags, satisfaction_rating ->> 'score', updated_at from raw.zendesk_tickets "
        "where id = 2",
    )
    assert (json.loads(row[0][0]), row[0][1], row[0][2]) == (
        ["billing"],
        "bad",
        TICKETS[1]["updated_at"],
    )


def test_disk_pages_are_incremental_and_redelivery_merges(settings: Settings) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, ORGS)
    first = run(["zendesk"], settings)
    assert first.rows == {"zendesk_tickets": 3, "zendesk_organizations": 1}
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 3

    # next release: ticket 2 updated, ticket 3 re-delivered identically, ticket 4 new
    later = [
        *TICKETS,
        ticket(2, "2025-03-08T10:00:00Z", status="solved"),
        TICKETS[2],
        ticket(4, "2025-03-09T10:00:00Z"),
    ]
    orgs = [*ORGS, organization(902, "C0000002", "2025-03-05T00:00:00Z")]
    write_zendesk_pages(settings.zendesk_pages_path, later, orgs)
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 5
    assert count(settings, "raw.zendesk_tickets where id = 3") == 1
    assert query(
        settings, "select status from raw.zendesk_tickets where id = 2 order by updated_at"
    ) == [
        ("open",),
        ("solved",),
    ]
    assert count(settings, "raw.zendesk_organizations") == 2


def test_api_cursor_export_with_auth_and_pagination(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.tickets = list(TICKETS)
    fake_api.api.organizations = [
        organization(900 + i, f"C000000{i}", "2025-01-01T00:00:00Z") for i in range(1, 4)
    ]
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 3
    assert count(settings, "raw.zendesk_organizations") == 3
    paths = [(p, q) for p, q in fake_api.api.requests if p.endswith("cursor.json")]
    assert paths[0][1] == {"start_time": ["0"]}
    assert all("cursor" in q for _, q in paths[1:]) and len(paths) == 2
    assert len([p for p, _ in fake_api.api.requests if p.endswith("organizations.json")]) == 2

    # next run: a re-delivered ticket at the boundary and one update
    fake_api.api.requests.clear()
    fake_api.api.tickets += [ticket(1, "2025-03-10T00:00:00Z", status="pending")]
    run(["zendesk"], settings)
    first_call = next(q for p, q in fake_api.api.requests if p.endswith("cursor.json"))
    assert first_call == {"start_time": [str(iso_to_epoch("2025-03-03T10:00:00Z"))]}
    assert count(settings, "raw.zendesk_tickets") == 4
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4


def test_wrong_credentials_name_endpoint_and_status(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    settings = settings.model_copy(update={"zendesk_email": "intruder@example.com"})
    with pytest.raises(
        IngestionError,
        match=r"^zendesk: GET .*/api/v2/incremental/tickets/cursor\.json returned HTTP 401",
    ):
        run(["zendesk"], settings)


def test_429_retry_after_is_honoured(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.tickets = list(TICKETS)
    fake_api.api.failures = [Failure("/api/v2/incremental", 429, 1, {"Retry-After": "1"})]
    started = time.monotonic()
    run(["zendesk"], settings)
    assert time.monotonic() - started >= 1.0
    assert count(settings, "raw.zendesk_tickets") == 3


def test_persistent_500_fails_clearly(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.failures = [Failure("/api/v2/organizations", 500, -1)]
    with pytest.raises(
        IngestionError,
        match=r"zendesk: GET .*/api/v2/organizations\.json returned HTTP 500 after 3 attempt",
    ):
        run(["zendesk"], settings)


def test_unreachable_url_names_source_and_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path / "data", zendesk_base_url=url)
    with pytest.raises(IngestionError, match=rf"^zendesk: cannot reach {url}/api/v2/"):
        run(["zendesk"], settings)


def test_missing_pages_directory_names_the_source(settings: Settings) -> None:
    with pytest.raises(IngestionError, match=r"^zendesk: no directory .*zendesk.tickets"):
        run(["zendesk"], settings)


# ---------- cursors a future date cannot poison


def test_future_updated_at_lands_and_later_tickets_still_load(settings: Settings) -> None:
    pages = settings.zendesk_pages_path
    first = [
        ticket(1, "2025-03-01T10:00:00Z"),
        ticket(9, "2099-01-01T00:00:00Z"),
        ticket(7, "garbage"),  # unreadable: lands as sent, never moves the cursor
    ]
    write_zendesk_pages(pages, first, ORGS)
    run(["zendesk"], settings)
    assert query(settings, "select id, updated_at from raw.zendesk_tickets order by id") == [
        (1, "2025-03-01T10:00:00Z"),
        (7, "garbage"),
        (9, "2099-01-01T00:00:00Z"),
    ]

    # the next release: two real updates after the future-dated ticket's page
    later = [ticket(2, "2025-12-30T08:00:00Z"), ticket(3, "2025-12-30T09:00:00Z")]
    write_zendesk_pages(pages, [*first, *later], ORGS)
    summary = run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 5
    assert count(settings, "raw.zendesk_tickets where id in (2, 3)") == 2
    assert summary.rows["zendesk_tickets"] >= 2
    assert run(["zendesk"], settings).rows["zendesk_tickets"] < 5  # older pages skipped
    assert count(settings, "raw.zendesk_tickets") == 5


def test_future_org_updated_at_does_not_hide_later_orgs(settings: Settings) -> None:
    orgs = [organization(901, "C1", "2099-01-01T00:00:00Z")]
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, orgs)
    run(["zendesk"], settings)
    orgs.append(organization(902, "C2", "2025-12-30T00:00:00Z"))
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, orgs)
    run(["zendesk"], settings)
    assert query(settings, "select id from raw.zendesk_organizations order by id") == [
        (901,),
        (902,),
    ]


def test_api_start_time_never_jumps_to_a_future_ticket(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.tickets = [*TICKETS, ticket(9, "2099-01-01T00:00:00Z")]
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4

    fake_api.api.requests.clear()
    fake_api.api.tickets += [ticket(5, "2025-12-30T08:00:00Z"), ticket(6, "2025-12-30T09:00:00Z")]
    run(["zendesk"], settings)
    first_call = next(q for p, q in fake_api.api.requests if p.endswith("cursor.json"))
    assert first_call == {"start_time": [str(iso_to_epoch("2025-03-03T10:00:00Z"))]}
    assert count(settings, "raw.zendesk_tickets") == 6
    # the cursor now is the newest real update; the 2099 ticket comes again and is skipped
    fake_api.api.requests.clear()
    run(["zendesk"], settings)
    first_call = next(q for p, q in fake_api.api.requests if p.endswith("cursor.json"))
    assert first_call == {"start_time": [str(iso_to_epoch("2025-12-30T09:00:00Z"))]}
    assert count(settings, "raw.zendesk_tickets") == 6


def test_a_poisoned_dlt_incremental_state_is_left_behind(settings: Settings) -> None:
    """A pipeline whose old dlt cursor says 2099 re-reads the pages once and catches up."""
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, ORGS)
    run(["zendesk"], settings)
    dlt_pipeline = pipeline(settings, "zendesk")
    with dlt_pipeline.managed_state() as state:
        tickets = state["sources"]["zendesk"]["resources"]["zendesk_tickets"]
        tickets.clear()
        tickets["incremental"] = {
            "updated_at": {"initial_value": "1970-01-01T00:00:00Z", "last_value": "2099-01-01"}
        }

    write_zendesk_pages(
        settings.zendesk_pages_path, [*TICKETS, ticket(4, "2025-12-30T08:00:00Z")], ORGS
    )
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4
    assert count(settings, "raw.zendesk_tickets where id = 4") == 1


# ---------- records that cannot land go to quarantine


def test_a_non_integer_id_is_quarantined_and_the_source_keeps_loading(
    settings: Settings,
) -> None:
    bad = ticket(2, "2025-03-02T10:00:00Z", id="abc")
    write_zendesk_pages(settings.zendesk_pages_path, [TICKETS[0], bad, TICKETS[2]], ORGS, size=3)
    summary = run(["zendesk"], settings)
    assert summary.rows["zendesk_quarantine"] == 1
    assert query(settings, "select id from raw.zendesk_tickets order by id") == [(1,), (3,)]
    rows = query(
        settings,
        "select resource, page, position, reason, record, record_sha256 "
        "from raw.zendesk_quarantine",
    )
    assert [r[:4] for r in rows] == [
        ("zendesk_tickets", "tickets/page-00001.json", 1, "id 'abc' is not an integer")
    ]
    assert json.loads(rows[0][4]) == bad
    assert len(rows[0][5]) == 64
    assert variant_columns(settings) == []

    # the bad page stays: the next runs succeed, quarantine no row twice, load new tickets
    run(["zendesk"], settings)
    newer = ticket(4, "2025-03-09T10:00:00Z")
    write_zendesk_pages(
        settings.zendesk_pages_path, [TICKETS[0], bad, TICKETS[2], newer], ORGS, size=3
    )
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_quarantine") == 1
    assert count(settings, "raw.zendesk_tickets") == 3

    # and once the bad page is gone
    (settings.zendesk_pages_path / "tickets" / "page-00001.json").unlink()
    write_zendesk_pages(settings.zendesk_pages_path, [ticket(5, "2025-03-10T10:00:00Z")], ORGS)
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4
    assert variant_columns(settings) == []


BAD_TICKETS = [
    ({"id": 1.5}, "id 1.5 is not an integer"),
    ({"id": True}, "id True is not an integer"),
    ({"id": None}, "id is missing"),
    ({"organization_id": "org-1"}, "organization_id 'org-1' is not an integer"),
    ({"requester_id": 2.5}, "requester_id 2.5 is not an integer"),
    ({"updated_at": 1740000000}, "updated_at 1740000000 is not a string"),
    ({"tags": "billing"}, "tags 'billing' does not fit its json column"),
    ({"id": 2**70}, f"id {2**70} is out of the 64-bit integer range"),
]


def test_unreadable_keys_and_types_are_quarantined(settings: Settings) -> None:
    bad = [
        {**ticket(10 + n, f"2025-03-02T10:00:{n:02d}Z"), **changes}
        for n, (changes, _) in enumerate(BAD_TICKETS)
    ]
    write_zendesk_pages(settings.zendesk_pages_path, [TICKETS[0], *bad], ORGS, size=20)
    run(["zendesk"], settings)
    rows = query(settings, "select position, reason from raw.zendesk_quarantine order by 1")
    assert rows == [(n + 1, reason) for n, (_, reason) in enumerate(BAD_TICKETS)]
    assert query(settings, "select id from raw.zendesk_tickets") == [(1,)]
    assert variant_columns(settings) == []


def test_a_field_changing_type_is_quarantined_not_a_variant(settings: Settings) -> None:
    """A column the contract does not name keeps the type its first value gave it."""
    first = ticket(1, "2025-03-01T10:00:00Z", via={"channel": "email"}, score=3)
    write_zendesk_pages(settings.zendesk_pages_path, [first], ORGS)
    run(["zendesk"], settings)
    odd = ticket(2, "2025-03-02T10:00:00Z", via={"channel": "web"}, score="high")
    write_zendesk_pages(settings.zendesk_pages_path, [first, odd], ORGS)
    run(["zendesk"], settings)
    assert query(settings, "select reason from raw.zendesk_quarantine") == [
        ("score 'high' does not fit its bigint column",)
    ]
    assert variant_columns(settings) == []


def test_a_record_that_is_not_an_object_is_quarantined(settings: Settings) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, [TICKETS[0], ["not", "a", "ticket"]], ORGS)
    run(["zendesk"], settings)
    assert query(settings, "select reason, record from raw.zendesk_quarantine") == [
        ("record is not a JSON object", '["not","a","ticket"]')
    ]


def test_api_bad_id_is_quarantined_with_endpoint_and_page(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.tickets = [*TICKETS, ticket(4, "2025-03-04T10:00:00Z", id="abc")]
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 3
    assert query(settings, "select page, position, reason from raw.zendesk_quarantine") == [
        ("/api/v2/incremental/tickets/cursor.json page 2", 1, "id 'abc' is not an integer")
    ]
    assert variant_columns(settings) == []
    fake_api.api.tickets.append(ticket(5, "2025-03-05T10:00:00Z"))
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4
    assert count(settings, "raw.zendesk_quarantine") == 1


# ---------- a failed load does not wedge the source


def test_api_failed_load_leaves_nothing_pending(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.tickets = list(TICKETS)
    fake_api.api.organizations = ORGS
    run(["zendesk"], settings)  # the warehouse and pipeline exist
    fake_api.api.tickets.append(ticket(4, "2025-03-09T10:00:00Z"))

    fake_api.api.on_request = hook = LockOnRequest(settings.warehouse_file)
    try:
        with pytest.raises(IngestionError) as err:
            run(["zendesk"], settings)
    finally:
        fake_api.api.on_request = None
        hook.release()
    message = str(err.value)
    assert message.startswith("zendesk: loading raw.zendesk_tickets")
    assert "at dlt's load step" in message and "lock" in message
    assert "the next run re-extracts it" in message
    assert not pipeline(settings, "zendesk").has_pending_data

    # the cursor rolled back with the dropped package: the next run asks for ticket 4 again
    fake_api.api.requests.clear()
    run(["zendesk"], settings)
    first_call = next(q for p, q in fake_api.api.requests if p.endswith("cursor.json"))
    assert first_call == {"start_time": [str(iso_to_epoch("2025-03-03T10:00:00Z"))]}
    assert count(settings, "raw.zendesk_tickets") == 4


def test_disk_failed_load_is_re_extracted_next_run(settings: Settings) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS, ORGS)
    run(["zendesk"], settings)
    page = settings.zendesk_pages_path / "tickets" / "page-00002.json"
    later = [*TICKETS, ticket(4, "2025-03-09T10:00:00Z")]
    write_zendesk_pages(settings.zendesk_pages_path, later, ORGS)
    trap = LockWhenRead(page, page.read_bytes(), settings.warehouse_file)
    try:
        with pytest.raises(IngestionError, match=r"^zendesk: loading raw\.zendesk_tickets"):
            run(["zendesk"], settings)
    finally:
        trap.restore()
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 4
