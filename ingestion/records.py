"""From pages of JSON records to what a dlt resource yields: records and quarantine rows.

Shared by the Zendesk and Stripe resources, on both the disk and the API path: each record
is checked (quarantined with its page, position and reason if it cannot land), skipped if it
is before the stored cursor, fed to the cursor, and deduplicated on its key within the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dlt

from ingestion.checks import Check, ColumnGuard
from ingestion.cursor import Cursor
from ingestion.errors import IngestionError
from ingestion.pages import Page
from ingestion.quarantine import quarantine_row, record_text, table_name

log = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Target:
    """Where a resource's records go and how they are told apart."""

    source: str
    table: str
    key: Sequence[str]
    columns: dict[str, Any]
    check: Check
    cursor_field: str | None = None


def unicode_problem(page: Page, record: Any) -> str | None:
    """Why a record of a page with odd bytes cannot land as text (None when it can)."""
    if not page.odd_unicode:
        return None
    text = record_text(record)
    if page.bad_utf8 and "\ufffd" in text:
        return "invalid UTF-8 bytes"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired UTF-16 surrogate (not valid Unicode)"
    return None


def screen(
    page: Page, target: Target, guard: ColumnGuard
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a page into records that may land and quarantine rows for the others."""
    if page.error:
        text = page.text if page.text is not None else ""
        return [], [quarantine_row(target.table, page.name, None, page.error, text)]
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for position, record in enumerate(page.records):
        reason = target.check(record) or unicode_problem(page, record) or guard(record)
        if reason:
            text = record_text(record)
            bad.append(quarantine_row(target.table, page.name, position, reason, text))
        else:
            good.append(record)
    return good, bad


def _warn(target: Target, page: Page, bad: list[dict[str, Any]]) -> None:
    quarantine = table_name(target.source)
    if page.error:
        log.warning(
            "%s: %s could not be read (%s): 1 row (the whole page) put in raw.%s",
            target.source,
            page.name,
            page.error,
            quarantine,
        )
        return
    reasons = sorted({row["reason"] for row in bad})
    log.warning(
        "%s: %s: %d record(s) of %s put in raw.%s (%s)",
        target.source,
        page.name,
        len(bad),
        target.table,
        quarantine,
        "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else ""),
    )


def land(target: Target, pages: Iterable[Page], cursor: Cursor | None) -> Iterator[Any]:
    """Yield batches of records for `target.table` and marked quarantine rows.

    A record before the stored cursor was loaded by an earlier run and is skipped; one at or
    after it is yielded (an equal one again: the insert-only key skips it in raw). A repeated
    key or quarantined record within this run is yielded once. After a page that could not
    be read at all, the cursor stops moving for this run (see `Cursor.hold`).
    """
    guard = ColumnGuard(target.table, target.columns)
    quarantine = table_name(target.source)
    seen: set[tuple[Any, ...]] = set()
    seen_bad: set[str] = set()
    batch: list[dict[str, Any]] = []
    for page in pages:
        try:
            good, bad = screen(page, target, guard)
        except Exception as exc:
            raise IngestionError(
                target.source, f"{page.name}: cannot check its {target.table} records: {exc}"
            ) from exc
        if page.error and cursor is not None:
            cursor.hold()
        if bad:
            _warn(target, page, bad)
            fresh = [row for row in bad if row["record_sha256"] not in seen_bad]
            seen_bad.update(row["record_sha256"] for row in fresh)
            if fresh:
                yield dlt.mark.with_table_name(fresh, quarantine)
        for record in good:
            if cursor is not None and target.cursor_field:
                value = record.get(target.cursor_field)
                if not cursor.admits(value):
                    continue
                cursor.observe(value)
            key = tuple(record.get(k) for k in target.key)
            if key in seen:
                continue
            seen.add(key)
            batch.append(record)
            if len(batch) >= BATCH_SIZE:
                yield batch
                batch = []
    if batch:
        yield batch
