"""Stripe events as `GET /v1/events` list pages, oldest first, 100 events per page."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from simulator.clock import DAY, to_day
from simulator.config import STRIPE_PAGE
from simulator.storage import SimPaths
from simulator.writers.pages import write_pages


def _render(k: int, items: list[str], last: bool, total: int) -> str:
    more = "false" if last else "true"
    return (
        '{"object": "list", "url": "/v1/events", "has_more": '
        + more
        + ', "data": ['
        + ",".join(items)
        + "]}"
    )


def write(paths: SimPaths, as_of: date, folder: Path, compress: bool = False) -> int:
    """Write the event pages of events created before `as_of` (gzipped with `compress`);
    returns the page count."""
    cutoff = to_day(as_of) * DAY
    return write_pages(
        folder, paths.stripe, "created", cutoff, STRIPE_PAGE, _render, compress=compress
    )
