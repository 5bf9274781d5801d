"""Zendesk incremental ticket export pages (cursor based) and organization list pages."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

from simulator.clock import DAY, to_day
from simulator.config import ZENDESK_BASE, ZENDESK_ORG_PAGE, ZENDESK_TICKET_PAGE
from simulator.storage import SimPaths
from simulator.writers.pages import write_pages


def _cursor(k: int) -> str:
    return base64.urlsafe_b64encode(f"page:{k}".encode()).decode().rstrip("=")


def _tickets(k: int, items: list[str], last: bool, total: int) -> str:
    cursor = _cursor(k)
    url = (
        "null"
        if last
        else json.dumps(f"{ZENDESK_BASE}/incremental/tickets/cursor.json?cursor={cursor}")
    )
    end = "true" if last else "false"
    return (
        '{"tickets": [' + ",".join(items) + f'], "after_cursor": "{cursor}", '
        f'"after_url": {url}, "before_cursor": null, "before_url": null, '
        f'"end_of_stream": {end}}}'
    )


def _organizations(k: int, items: list[str], last: bool, total: int) -> str:
    nxt = "null" if last else json.dumps(f"{ZENDESK_BASE}/organizations.json?page={k + 1}")
    return '{"organizations": [' + ",".join(items) + f'], "next_page": {nxt}, "count": {total}}}'


def write(paths: SimPaths, as_of: date, folder: Path, compress: bool = False) -> None:
    """Write ticket versions updated and organizations created before `as_of` (gzipped
    pages with `compress`)."""
    cutoff = to_day(as_of) * DAY
    write_pages(
        folder / "tickets",
        paths.tickets,
        "updated",
        cutoff,
        ZENDESK_TICKET_PAGE,
        _tickets,
        compress=compress,
    )
    write_pages(
        folder / "organizations",
        paths.organizations,
        "created",
        cutoff,
        ZENDESK_ORG_PAGE,
        _organizations,
        rewrite_all=True,
        compress=compress,
    )
