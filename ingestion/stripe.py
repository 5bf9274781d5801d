"""Stripe billing events into `raw.stripe_events`.

The API serves events newest first and pages backwards with `starting_after`; a release on
disk has pages oldest first. Either way our cursor on `created` (ingestion/cursor.py: an
event dated in the future lands but never moves it) feeds `created[gte]`, an event that cannot
land goes to `raw.stripe_quarantine`, and the `id` key makes a re-delivered event a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt

from ingestion.checks import integer, record_check, string
from ingestion.common import INSERT_ONLY, RELEASE_HINT, col, raw_schema_settings
from ingestion.cursor import Cursor, epoch_key, load_bound
from ingestion.destination import loads_json_from_arrow
from ingestion.errors import IngestionError
from ingestion.http_client import HttpClient
from ingestion.metadata import add_metadata, metadata_hints
from ingestion.pages import Page, api_page, disk_pages
from ingestion.quarantine import with_quarantine
from ingestion.records import Target, land
from warehouse.settings import Settings

SOURCE = "stripe"
PAGE_LIMIT = 100
EVENTS_ENDPOINT = "/v1/events"

EVENT_COLUMNS: dict[str, Any] = {
    "id": col("text", nullable=False),
    "object": col("text"),
    "type": col("text"),
    "created": col("bigint", nullable=False),
    "data": col("json"),
    **metadata_hints(),
}
EVENTS = Target(
    SOURCE,
    "stripe_events",
    ("id",),
    EVENT_COLUMNS,
    record_check(string("id"), integer("created")),
    cursor_field="created",
)


def event_pages_api(settings: Settings, created_gte: int) -> Iterator[Page]:
    """Page through `/v1/events` (newest first) down to `created_gte`."""
    base = (settings.stripe_base_url or "").rstrip("/")
    headers = {}
    if settings.stripe_api_key:
        headers["Authorization"] = f"Bearer {settings.stripe_api_key.get_secret_value()}"
    client = HttpClient(
        SOURCE,
        headers=headers,
        timeout=settings.ingestion_http_timeout_seconds,
        max_retries=settings.ingestion_http_max_retries,
        backoff=settings.ingestion_http_backoff_seconds,
        base_url=settings.stripe_base_url,  # the Bearer key never leaves this host
    )
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    if created_gte:
        params["created[gte]"] = created_gte
    try:
        number = 0
        while True:
            number += 1
            body = client.get_json(base + EVENTS_ENDPOINT, params)
            page = api_page(SOURCE, f"{EVENTS_ENDPOINT} page {number}", body, "data")
            yield page
            if not body.get("has_more") or not page.records:
                return
            params["starting_after"] = last_id(page)
    finally:
        client.close()


def last_id(page: Page) -> str:
    """The id to continue after: the last event of the page that has one."""
    for record in reversed(page.records):
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            return record["id"]
    raise IngestionError(SOURCE, f"{page.name}: no event with an id to page on from")


def event_pages_disk(settings: Settings, state: dict[str, Any]) -> Iterator[Page]:
    """The pages a release wrote (oldest first) that no earlier run read as they are."""
    hint = f"{RELEASE_HINT}, or set CHURN_STRIPE_BASE_URL"
    return disk_pages(SOURCE, settings.stripe_pages_path, "events", "data", hint, state)


@dlt.source(name="stripe", max_table_nesting=0)
def stripe_source(settings: Settings, arrow: bool | None = None) -> Any:
    """Events into `raw.stripe_events`, `data` kept whole as JSON.

    `arrow` picks Arrow tables or dict rows for dlt (ingestion/records.py); by default the
    destination decides.
    """
    raw_schema_settings()
    arrow = loads_json_from_arrow(settings) if arrow is None else arrow

    @dlt.resource(
        name=EVENTS.table,
        primary_key="id",
        write_disposition=INSERT_ONLY,
        columns=EVENT_COLUMNS,
    )
    def events() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor = Cursor(state, "created", epoch_key, load_bound(settings))
        if settings.stripe_base_url:
            pages = event_pages_api(settings, int(cursor.start or 0))
        else:
            pages = event_pages_disk(settings, state)
        yield from land(EVENTS, pages, cursor, arrow)

    return with_quarantine(events(), SOURCE).add_map(add_metadata)
