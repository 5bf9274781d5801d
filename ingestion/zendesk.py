"""Zendesk support data: tickets (incremental cursor export) and organizations.

Reads the API when `zendesk_base_url` is set, else the export pages a release wrote to disk.
Both paths yield the same ticket dicts; dlt's incremental on `updated_at` keeps the cursor
and drops what was loaded before, and the (id, updated_at) key dedups re-deliveries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import dlt

from ingestion.common import (
    INSERT_ONLY,
    RELEASE_HINT,
    batches,
    col,
    iso_to_epoch,
    raw_schema_settings,
    unique_by,
)
from ingestion.http_client import HttpClient
from ingestion.metadata import add_metadata, metadata_hints
from ingestion.pages import read_pages
from warehouse.settings import Settings

SOURCE = "zendesk"
TICKET_KEY = ("id", "updated_at")
ORG_KEY = ("id", "updated_at")
EPOCH = "1970-01-01T00:00:00Z"

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
    )


def ticket_pages_api(settings: Settings, start_time: int) -> Iterator[list[dict[str, Any]]]:
    """Walk the cursor export from `start_time` until `end_of_stream`."""
    base = (settings.zendesk_base_url or "").rstrip("/")
    url = f"{base}/api/v2/incremental/tickets/cursor.json"
    client = _client(settings)
    try:
        params: dict[str, Any] = {"start_time": start_time}
        while True:
            page = client.get_json(url, params)
            yield page.get("tickets") or []
            cursor = page.get("after_cursor")
            if page.get("end_of_stream") or not cursor:
                return
            params = {"cursor": cursor}
    finally:
        client.close()


def organization_pages_api(settings: Settings) -> Iterator[list[dict[str, Any]]]:
    """Walk the organizations list following `next_page`."""
    base = (settings.zendesk_base_url or "").rstrip("/")
    url: str | None = f"{base}/api/v2/organizations.json"
    client = _client(settings)
    try:
        while url:
            page = client.get_json(url)
            yield page.get("organizations") or []
            next_page = page.get("next_page")
            url = urljoin(base + "/", next_page) if next_page else None
    finally:
        client.close()


def _disk_pages(settings: Settings, entity: str, key: str) -> Iterator[list[dict[str, Any]]]:
    directory = settings.zendesk_pages_path / entity
    for page in read_pages(SOURCE, directory, f"{RELEASE_HINT}, or set CHURN_ZENDESK_BASE_URL"):
        yield page.get(key) or []


@dlt.source(name="zendesk", max_table_nesting=0)
def zendesk_source(settings: Settings) -> Any:
    """Tickets and organizations into `raw.zendesk_tickets` / `raw.zendesk_organizations`."""
    raw_schema_settings()

    @dlt.resource(
        name="zendesk_tickets",
        primary_key=TICKET_KEY,
        write_disposition=INSERT_ONLY,
        columns=TICKET_COLUMNS,
    )
    def tickets(
        updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            "updated_at", initial_value=EPOCH
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        if settings.zendesk_base_url:
            pages = ticket_pages_api(settings, iso_to_epoch(updated_at.last_value or EPOCH))
        else:
            pages = _disk_pages(settings, "tickets", "tickets")
        seen = unique_by((t for page in pages for t in page), TICKET_KEY)
        yield from batches(seen)

    @dlt.resource(
        name="zendesk_organizations",
        primary_key=ORG_KEY,
        write_disposition=INSERT_ONLY,
        columns=ORG_COLUMNS,
    )
    def organizations(
        updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            "updated_at", initial_value=EPOCH
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        if settings.zendesk_base_url:
            pages = organization_pages_api(settings)
        else:
            pages = _disk_pages(settings, "organizations", "organizations")
        yield from batches(unique_by((o for page in pages for o in page), ORG_KEY))

    return (
        tickets().add_map(add_metadata),
        organizations().add_map(add_metadata),
    )
