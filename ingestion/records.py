"""From pages of JSON records to what a dlt resource yields: records and quarantine rows.

Shared by the Zendesk and Stripe resources, on both the disk and the API path: each record
is checked (quarantined with its page, position and reason if it cannot land), skipped if it
is before the stored cursor, fed to the cursor, and deduplicated on its key within the run.
The records that land are yielded as typed Arrow tables (ingestion/arrow_records.py), or as
dicts for dlt's row normaliser where the destination cannot load Arrow's JSON text as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dlt

from ingestion.arrow_records import DLT_ID, as_item, records_table
from ingestion.checks import Check, ColumnGuard
from ingestion.cursor import Cursor
from ingestion.errors import IngestionError
from ingestion.pages import Page
from ingestion.quarantine import quarantine_row, record_text, table_name

log = logging.getLogger(__name__)

BATCH_SIZE = 1000  # dict rows per item for the row normaliser
ARROW_BATCH_SIZE = 50_000  # rows per Arrow table: fewer, larger Parquet row groups


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


def _landing(
    records: list[dict[str, Any]], target: Target, guard: ColumnGuard, table_is_new: bool
) -> Any:
    """A batch as an Arrow table, or as dict rows if Arrow cannot type it as dlt would."""
    built = records_table(records, target.columns, guard, table_is_new)
    if built is None:
        log.info("%s: a batch of %s goes through dlt's row normaliser", target.source, target.table)
        return records
    return as_item(*built)


def screen_page(
    page: Page, target: Target, guard: ColumnGuard
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`screen`, checking a page column by column first: when every record passes that way
    (the usual page), the record-by-record checks are skipped; otherwise `screen` decides."""
    page_passes = getattr(target.check, "page_passes", None)
    if page.error or page.odd_unicode or not page.records or page_passes is None:
        return screen(page, target, guard)
    records = page.records
    columns: dict[str, list[Any]] = {}

    def column(key: str) -> list[Any]:
        if key not in columns:
            columns[key] = [record.get(key) for record in records]
        return columns[key]

    if not page_passes(records, column):
        return screen(page, target, guard)
    for key in set().union(*records):
        column(key)
    if not guard.page_fits(columns):
        return screen(page, target, guard)
    return records, []


def admitted(target: Target, records: list[dict[str, Any]], cursor: Cursor | None) -> list[Any]:
    """The records at or after the stored cursor, moving it as `Cursor.admits`/`observe`
    record by record would."""
    if cursor is None or not target.cursor_field:
        return records
    field = target.cursor_field
    keep = cursor.admit_all([record.get(field) for record in records])
    return [record for record, ok in zip(records, keep, strict=True) if ok]


def _land_rows(
    target: Target,
    records: list[dict[str, Any]],
    cursor: Cursor | None,
    seen: set[Any],
) -> list[dict[str, Any]]:
    """The screened records of one page that are new to this run, record by record."""
    fresh: list[dict[str, Any]] = []
    for record in records:
        if cursor is not None and target.cursor_field:
            value = record.get(target.cursor_field)
            if not cursor.admits(value):
                continue
            cursor.observe(value)
        key = tuple(record.get(k) for k in target.key)
        if key in seen:
            continue
        seen.add(key)
        fresh.append(record)
    return fresh


def _land_columns(
    target: Target,
    records: list[dict[str, Any]],
    cursor: Cursor | None,
    seen: set[Any],
) -> list[dict[str, Any]]:
    """`_land_rows`, with the cursor and key read column by column."""
    records = admitted(target, records, cursor)
    if len(target.key) == 1:
        field = target.key[0]
        keys: list[Any] = [record.get(field) for record in records]
    else:
        keys = [tuple(record.get(k) for k in target.key) for record in records]
    fresh: list[dict[str, Any]] = []
    for record, key in zip(records, keys, strict=True):
        if key not in seen:
            seen.add(key)
            fresh.append(record)
    return fresh


def land(
    target: Target, pages: Iterable[Page], cursor: Cursor | None, arrow: bool = True
) -> Iterator[Any]:
    """Yield batches of records for `target.table` (Arrow tables when `arrow`, else lists of
    dicts) and marked quarantine rows.

    A record before the stored cursor was loaded by an earlier run and is skipped; one at or
    after it is yielded (an equal one again: the insert-only key skips it in raw). A repeated
    key or quarantined record within this run is yielded once. After a page that could not
    be read at all, the cursor stops moving for this run (see `Cursor.hold`). Both forms
    check, skip and deduplicate the same records; the Arrow one does it a page at a time.
    """
    guard = ColumnGuard(target.table, target.columns)
    quarantine = table_name(target.source)
    seen: set[Any] = set()
    seen_bad: set[str] = set()
    batch: list[dict[str, Any]] = []
    size = ARROW_BATCH_SIZE if arrow else BATCH_SIZE
    table_is_new = DLT_ID not in guard.types  # no earlier load created the raw table
    check_page = screen_page if arrow else screen
    new_records = _land_columns if arrow else _land_rows
    for page in pages:
        try:
            good, bad = check_page(page, target, guard)
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
        batch += new_records(target, good, cursor, seen)
        while len(batch) >= size:
            yield _landing(batch[:size], target, guard, table_is_new) if arrow else batch[:size]
            batch, table_is_new = batch[size:], False
    if batch:
        yield _landing(batch, target, guard, table_is_new) if arrow else batch
