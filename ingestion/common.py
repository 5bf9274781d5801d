"""Pieces every connector shares: write dispositions, hints and the release hint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt

# Raw rows are never updated or deleted: a key already in `raw` is skipped, a new key inserted.
INSERT_ONLY: dict[str, str] = {"disposition": "merge", "strategy": "insert-only"}

RELEASE_HINT = "run `python -m simulator release` or set CHURN_SOURCES_DIR"


def col(data_type: str, nullable: bool = True) -> dict[str, Any]:
    """A fresh dlt column hint (dlt writes into hint dicts, so they must not be shared)."""
    return {"data_type": data_type, "nullable": nullable}


def raw_schema_settings() -> None:
    """Keep ISO timestamps as strings: raw lands what the source sent (contracts.md §2)."""
    schema = dlt.current.source_schema()
    for detection in list(schema.settings.get("detections", [])):
        schema.remove_type_detection(detection)


def iso_to_epoch(value: str) -> int:
    """Unix seconds of an ISO-8601 string (`2025-03-04T09:12:33Z`); 0 when unparsable."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return max(0, int(parsed.timestamp()))
