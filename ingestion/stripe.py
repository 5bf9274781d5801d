"""Stripe billing events into `raw.stripe_events`.

The API serves events newest first and pages backwards with `starting_after`; a release on
disk has pages oldest first. Either way dlt's incremental on `created` keeps the high-water
mark and the `id` key makes a re-delivered event (the `created[gte]` boundary) a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt

from ingestion.common import (
    INSERT_ONLY,
    RELEASE_HINT,
    batches,
    col,
    raw_schema_settings,
    unique_by,
)
from ingestion.http_client import HttpClient
from ingestion.metadata import add_metadata, metadata_hints
from ingestion.pages import read_pages
from warehouse.settings import Settings

SOURCE = "stripe"
PAGE_LIMIT = 100

EVENT_COLUMNS: dict[str, Any] = {
    "id": col("text", nullable=False),
    "object": col("text"),
    "type": col("text"),
    "created": col("bigint", nullable=False),
    "data": col("json"),
    **metadata_hints(),
}


def event_pages_api(settings: Settings, created_gte: int) -> Iterator[list[dict[str, Any]]]:
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
    )
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    if created_gte:
        params["created[gte]"] = created_gte
    try:
        while True:
            page = client.get_json(f"{base}/v1/events", params)
            events = page.get("data") or []
            yield events
            if not page.get("has_more") or not events:
                return
            params["starting_after"] = events[-1]["id"]
    finally:
        client.close()


def event_pages_disk(settings: Settings) -> Iterator[list[dict[str, Any]]]:
    """The pages a release wrote (oldest first)."""
    directory = settings.stripe_pages_path / "events"
    for page in read_pages(SOURCE, directory, f"{RELEASE_HINT}, or set CHURN_STRIPE_BASE_URL"):
        yield page.get("data") or []


@dlt.source(name="stripe", max_table_nesting=0)
def stripe_source(settings: Settings) -> Any:
    """Events into `raw.stripe_events`, `data` kept whole as JSON."""
    raw_schema_settings()

    @dlt.resource(
        name="stripe_events",
        primary_key="id",
        write_disposition=INSERT_ONLY,
        columns=EVENT_COLUMNS,
    )
    def events(
        created: dlt.sources.incremental[int] = dlt.sources.incremental(  # noqa: B008
            "created", initial_value=0
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        if settings.stripe_base_url:
            pages = event_pages_api(settings, int(created.last_value or 0))
        else:
            pages = event_pages_disk(settings)
        yield from batches(unique_by((e for page in pages for e in page), ("id",)))

    return events().add_map(add_metadata)
