"""Run the extract-load of chosen sources and say what landed.

A flow calls `run()`; the CLI (`python -m ingestion`) wraps it. One dlt pipeline per source,
so a failing source leaves the others' state and pending packages alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingestion.customer_db import app_actions_source, app_store_ready, customer_db_source
from ingestion.destination import pipeline
from ingestion.errors import IngestionError
from ingestion.quarantine import table_name as quarantine_table
from ingestion.recovery import load_failure, run_pipeline
from ingestion.stripe import stripe_source
from ingestion.usage import UsageRun, usage_source
from ingestion.zendesk import zendesk_source
from warehouse.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _app_actions(settings: Settings) -> Any | None:
    return app_actions_source(settings) if app_store_ready(settings) else None


SOURCES: dict[str, Callable[[Settings], Any | None]] = {
    "customer_db": customer_db_source,
    "app_actions": _app_actions,
    "usage": usage_source,
    "zendesk": zendesk_source,
    "stripe": stripe_source,
}


@dataclass
class LoadSummary:
    """What one run did: rows handed to `raw` per table, time per source, skipped sources.

    `rows` counts extracted rows; a re-delivered key among them is then skipped by the
    insert-only merge, so the table may grow by less.
    """

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows over all tables."""
        return sum(self.rows.values())

    def __str__(self) -> str:
        lines = [f"{table:<24} {n:>12,d}" for table, n in sorted(self.rows.items())]
        lines += [f"{name:<24} skipped" for name in self.skipped]
        lines.append(f"{'total':<24} {self.total_rows:>12,d}  in {self.duration_seconds:.1f} s")
        lines.append(", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items()))
        return "\n".join(lines)


def run_source(name: str, settings: Settings, summary: LoadSummary) -> None:
    """Extract and load one source into `raw`, adding its row counts to `summary`.

    Usage files go in loads of at most `ingestion_usage_bytes_per_load` each (`UsageRun`):
    a run stopped midway keeps the loads it finished. A failure raises `IngestionError`
    naming the source and table and leaves no pending load package behind
    (ingestion/recovery.py), so the next run starts clean.
    """
    started = time.monotonic()
    usage_run = UsageRun(settings.ingestion_usage_bytes_per_load) if name == "usage" else None
    tables: dict[str, int] = {}
    while True:
        try:
            source = usage_source(settings, usage_run) if usage_run else SOURCES[name](settings)
        except IngestionError:
            raise
        except Exception as exc:
            raise load_failure(name, None, exc, []) from exc
        if source is None:
            summary.skipped.append(name)
            return
        for table in source.resources.selected:
            tables.setdefault(table, 0)
        dlt_pipeline = pipeline(settings, name)
        run_pipeline(name, dlt_pipeline, source, list(source.resources.selected))
        trace = dlt_pipeline.last_trace
        normalize = trace.last_normalize_info if trace else None
        counts = normalize.row_counts if normalize else {}
        for table in {*tables, quarantine_table(name)}:
            if counts.get(table):
                tables[table] = tables.get(table, 0) + int(counts[table])
        if usage_run is None or not usage_run.left:
            break
    summary.rows.update(tables)
    summary.seconds[name] = time.monotonic() - started
    log.info("%s: %s in %.1f s", name, tables, summary.seconds[name])


def run(sources: list[str] | None = None, settings: Settings | None = None) -> LoadSummary:
    """Load the given sources (all by default) into `raw`; idempotent and incremental."""
    settings = settings or get_settings()
    names = list(sources or SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise IngestionError(
            "ingestion", f"unknown source(s) {unknown}; choose from {sorted(SOURCES)}"
        )
    summary = LoadSummary()
    started = time.monotonic()
    for name in names:
        run_source(name, settings, summary)
    summary.duration_seconds = time.monotonic() - started
    return summary
