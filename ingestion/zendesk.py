"""Zendesk support data: tickets (incremental cursor export) and organizations.

Reads the API when `zendesk_base_url` is set, else the export pages a release wrote to disk.
Both paths yield the same pages of dicts. The `updated_at` cursor is ours (ingestion/cursor.py:
a ticket dated in the future lands but never moves it), a record that cannot land goes to
`raw.zendesk_quarantine`, and the (id, updated_at) key dedups re-deliveries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import dlt

from ingestion.checks import integer, record_check, string
from ingestion.common import INSERT_ONLY, RELEASE_HINT, col, iso_to_epoch, raw_schema_settings
from ingestion.cursor import Cursor, epoch, iso_key, load_bound
from ingestion.destination import loads_json_from_arrow
from ingestion.http_client import HttpClient
from ingestion.metadata import add_metadata, current_load, metadata_hints
from ingestion.pages import Page, api_page, disk_pages
from ingestion.quarantine import with_quarantine
from ingestion.records import Target, land
from warehouse.settings import Settings

SOURCE = "zendesk"
TICKET_KEY = ("id", "updated_at")
ORG_KEY = ("id", "updated_at")
TICKETS_ENDPOINT = "/api/v2/incremental/tickets/cursor.json"
ORGS_ENDPOINT = "/api/v2/organizations.json"
# Zendesk refuses an export start_time less than a minute old
MIN_START_AGE_SECONDS = 60

TICKET_COLUMNS: dict[str, Any] = {
    "id": col("bigint", nullable=False),
    "url": col("text"),
    "organization_id": col("bigint"),
    "requester_id": col("bigint"),
    "subject": col("text"),
    "status": col("text"),
    "priority": col("text"),
    "type": col("text"),
    "tags": col("json"),
    "satisfaction_rating": col("json"),
    "created_at": col("text"),
    "updated_at": col("text", nullable=False),
    **metadata_hints(),
}
ORG_COLUMNS: dict[str, Any] = {
    "id": col("bigint", nullable=False),
    "external_id": col("text"),
    "name": col("text"),
    "created_at": col("text"),
    "updated_at": col("text", nullable=False),
    **metadata_hints(),
}
TICKETS = Target(
    SOURCE,
    "zendesk_tickets",
    TICKET_KEY,
    TICKET_COLUMNS,
    record_check(
        integer("id"),
        integer("organization_id", nullable=True),
        integer("requester_id", nullable=True),
        string("updated_at"),
    ),
    cursor_field="updated_at",
)
ORGANIZATIONS = Target(
    SOURCE,
    "zendesk_organizations",
    ORG_KEY,
    ORG_COLUMNS,
    record_check(integer("id"), string("updated_at")),
    cursor_field="updated_at",
)


def _client(settings: Settings) -> HttpClient:
    """API client with basic auth `{email}/token:{token}` when credentials are set."""
    auth = None
    if settings.zendesk_email and settings.zendesk_api_token:
        auth = (f"{settings.zendesk_email}/token", settings.zendesk_api_token.get_secret_value())
    return HttpClient(
        SOURCE,
        auth=auth,
        timeout=settings.ingestion_http_timeout_seconds,
        max_retries=settings.ingestion_http_max_retries,
        backoff=settings.ingestion_http_backoff_seconds,
        base_url=settings.zendesk_base_url,
    )


def ticket_pages_api(settings: Settings, start_time: int) -> Iterator[Page]:
    """Walk the cursor export from `start_time` until `end_of_stream`."""
    base = (settings.zendesk_base_url or "").rstrip("/")
    client = _client(settings)
    try:
        params: dict[str, Any] = {"start_time": start_time}
        number = 0
        while True:
            number += 1
            page = client.get_json(base + TICKETS_ENDPOINT, params)
            yield api_page(SOURCE, f"{TICKETS_ENDPOINT} page {number}", page, "tickets")
            cursor = page.get("after_cursor")
            if page.get("end_of_stream") or not cursor:
                return
            params = {"cursor": cursor}
    finally:
        client.close()


def organization_pages_api(settings: Settings) -> Iterator[Page]:
    """Walk the organizations list following `next_page`, on the configured host only."""
    base = (settings.zendesk_base_url or "").rstrip("/")
    url: str | None = base + ORGS_ENDPOINT
    client = _client(settings)
    try:
        number = 0
        while url:
            number += 1
            page = client.get_json(url)
            yield api_page(SOURCE, f"{ORGS_ENDPOINT} page {number}", page, "organizations")
            next_page = page.get("next_page")
            url = urljoin(base + "/", next_page) if next_page else None
            if url:  # the Basic credentials go wherever we follow: only to our host
                client.check_origin(url, f"next_page of {ORGS_ENDPOINT} page {number}")
    finally:
        client.close()


def _disk_pages(settings: Settings, entity: str) -> Iterator[Page]:
    """The pages a release wrote that no earlier run read as they are."""
    hint = f"{RELEASE_HINT}, or set CHURN_ZENDESK_BASE_URL"
    state = dlt.current.resource_state()
    return disk_pages(SOURCE, settings.zendesk_pages_path, entity, entity, hint, state)


def export_start_time(cursor: Cursor) -> int:
    """`start_time` for the export: the stored cursor, but at least a minute before the load
    started (the cursor may be up to the clock skew ahead, which Zendesk would refuse)."""
    started = int(epoch(current_load()[1]))
    return min(iso_to_epoch(cursor.start or ""), started - MIN_START_AGE_SECONDS)


def _cursor(settings: Settings) -> Cursor:
    return Cursor(dlt.current.resource_state(), "updated_at", iso_key, load_bound(settings))


@dlt.source(name="zendesk", max_table_nesting=0)
def zendesk_source(settings: Settings, arrow: bool | None = None) -> Any:
    """Tickets and organizations into `raw.zendesk_tickets` / `raw.zendesk_organizations`.

    `arrow` picks Arrow tables or dict rows for dlt (ingestion/records.py); by default the
    destination decides.
    """
    raw_schema_settings()
    arrow = loads_json_from_arrow(settings) if arrow is None else arrow

    @dlt.resource(
        name=TICKETS.table,
        primary_key=TICKET_KEY,
        write_disposition=INSERT_ONLY,
        columns=TICKET_COLUMNS,
    )
    def tickets() -> Iterator[Any]:
        cursor = _cursor(settings)
        if settings.zendesk_base_url:
            pages = ticket_pages_api(settings, export_start_time(cursor))
        else:
            pages = _disk_pages(settings, "tickets")
        yield from land(TICKETS, pages, cursor, arrow)

    @dlt.resource(
        name=ORGANIZATIONS.table,
        primary_key=ORG_KEY,
        write_disposition=INSERT_ONLY,
        columns=ORG_COLUMNS,
    )
    def organizations() -> Iterator[Any]:
        cursor = _cursor(settings)
        if settings.zendesk_base_url:
            pages = organization_pages_api(settings)
        else:
            pages = _disk_pages(settings, "organizations")
        yield from land(ORGANIZATIONS, pages, cursor, arrow)

    return (
        with_quarantine(tickets(), SOURCE).add_map(add_metadata),
        with_quarantine(organizations(), SOURCE).add_map(add_metadata),
    )
