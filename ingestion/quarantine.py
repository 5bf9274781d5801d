"""Records that cannot land in their raw table go to a quarantine table of their source.

`raw.<source>_quarantine` keeps each such record as JSON text with where it came from and
why it was refused, so one bad record neither fails the load nor wedges the source, and
nothing of what the source sent is lost. Rows are insert-only on (resource, record_sha256):
a page read again every run does not add the same record twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ingestion.common import INSERT_ONLY, col
from ingestion.metadata import metadata_hints

KEY = ("resource", "record_sha256")
COLUMNS: dict[str, Any] = {
    "resource": col("text", nullable=False),
    "page": col("text"),
    "position": col("bigint"),
    "reason": col("text", nullable=False),
    "record": col("text", nullable=False),
    "record_sha256": col("text", nullable=False),
    **metadata_hints(),
}


def table_name(source: str) -> str:
    """The quarantine table of a source: `zendesk_quarantine`, `stripe_quarantine`."""
    return f"{source}_quarantine"


def record_text(record: Any) -> str:
    """The record as compact JSON text (what the source sent, keys in their order)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def quarantine_row(
    resource: str, page: str, position: int | None, reason: str, text: str
) -> dict[str, Any]:
    """One quarantine row; `text` is the record's JSON (or the unreadable page's text)."""
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {
        "resource": resource,
        "page": page,
        "position": position,
        "reason": reason,
        "record": text.encode("utf-8", errors="backslashreplace").decode("utf-8"),
        "record_sha256": digest,
    }


def with_quarantine(resource: Any, source: str) -> Any:
    """Give `resource` a quarantine table next to its own, for items marked with its name.

    Items yielded as `dlt.mark.with_table_name(rows, table_name(source))` land there. dlt
    starts a table variant from a copy of the resource's hints, so the copied columns and
    key are cleared first; otherwise the quarantine table would get the data table's columns.
    """
    name = table_name(source)
    resource.apply_hints(table_name=name, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=name,
        columns=COLUMNS,
        primary_key=list(KEY),
        write_disposition=INSERT_ONLY,
        create_table_variant=True,
    )
    return resource
