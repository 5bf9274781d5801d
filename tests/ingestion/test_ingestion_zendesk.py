"""Zendesk: cursor export over HTTP and pages on disk; each ticket version lands once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_api import Failure, FakeApiServer
from ingest_helpers import column_types, count, make_settings, query
from ingest_sources import organization, ticket, write_zendesk_pages
from pg_server import free_port

from ingestion import IngestionError, run
from ingestion.common import iso_to_epoch
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
