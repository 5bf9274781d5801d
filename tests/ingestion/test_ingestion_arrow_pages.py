"""Zendesk and Stripe pages as Arrow tables: the raw tables dlt's row normaliser made, faster.

Each test loads the same pages by both paths where it matters: the Arrow path (the default on
DuckDB) must give the same columns, types, rows and values, quarantine and cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest_helpers import count, make_settings, query, variant_columns
from ingest_sources import (
    organization,
    stripe_event,
    ticket,
    write_stripe_pages,
    write_zendesk_pages,
)

from ingestion import run
from ingestion.destination import pipeline
from ingestion.recovery import run_pipeline
from ingestion.stripe import stripe_source
from ingestion.zendesk import zendesk_source
from warehouse.settings import Settings

SOURCES: dict[str, Callable[..., Any]] = {"zendesk": zendesk_source, "stripe": stripe_source}
TABLES = {
    "zendesk": ["zendesk_tickets", "zendesk_organizations", "zendesk_quarantine"],
    "stripe": ["stripe_events", "stripe_quarantine"],
}
PER_LOAD = ("_loaded_at", "_load_id", "_dlt_load_id", "_dlt_id")
TICKETS = [
    ticket(1, "2025-03-01T10:00:00Z", tags=["escalated", "billing"], via={"channel": "email"}),
    ticket(2, "2025-03-02T10:00:00Z", satisfaction_rating={"score": "bad", "comment": "Ünïcode"}),
    ticket(3, "2025-03-02T11:00:00Z", subject=123, score=3, ratio=0.5, vip=True),  # coerced
    ticket(4, "2025-03-02T12:00:00Z", id="abc"),  # quarantined
    ticket(5, "2099-01-01T00:00:00Z", priority="urgent", tags=[]),  # lands, no cursor move
    ticket(2, "2025-03-02T10:00:00Z", satisfaction_rating={"score": "bad", "comment": "Ünïcode"}),
    ticket(6, "2025-03-03T10:00:00Z", score=2.0, ratio=1, empty=None),  # coerced again
    ["not", "a", "ticket"],
]
ORGS = [
    organization(901, "C0000001", "2025-01-01T00:00:00Z"),
    {**organization(902, "C0000002", "2025-02-01T00:00:00Z"), "domain_names": ["b.example"]},
]
EVENTS = [
    stripe_event("evt_1", 1_740_000_000),
    {**stripe_event("evt_2", 1_740_000_060), "livemode": False, "pending_webhooks": 0},
    {**stripe_event("evt_3", 1_740_000_120), "created": "yesterday"},  # quarantined
    stripe_event("evt_1", 1_740_000_000),  # re-delivered in the same run
    {**stripe_event("evt_4", 1_740_000_180), "data": {"object": {"amount": 12.5, "n": None}}},
]


def _load(settings: Settings, source: str, arrow: bool) -> None:
    """Run one source by the chosen path, as `ingestion.run` would."""
    dlt_pipeline = pipeline(settings, source)
    run_pipeline(source, dlt_pipeline, SOURCES[source](settings, arrow=arrow), [])


def _columns(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    return query(
        settings,
        "select column_name, data_type, is_nullable from information_schema.columns "
        f"where table_schema = 'raw' and table_name = '{table}' order by ordinal_position",
    )


def _contents(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    keep = [c for c, _, _ in _columns(settings, table) if c not in PER_LOAD]
    return query(settings, f"select {', '.join(keep)} from raw.{table} order by all")


def _cursor(settings: Settings, source: str) -> dict[str, Any]:
    resources = pipeline(settings, source).state["sources"][source]["resources"]
    return {name: state.get("cursor") for name, state in resources.items()}


def _stripe_pages(root: Path, events: list[dict[str, Any]], size: int = 2) -> None:
    """Pages in the order given (the quarantined event has no sortable `created`)."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    for n in range(0, len(events), size):
        body = {"object": "list", "has_more": n + size < len(events), "data": events[n : n + size]}
        (root / "events" / f"page-{n // size + 1:05d}.json").write_text(json.dumps(body))


def test_arrow_and_row_paths_land_the_same_tables(tmp_path: Path) -> None:
    loaded: dict[bool, Settings] = {}
    for arrow in (False, True):
        settings = make_settings(tmp_path / ("arrow" if arrow else "rows"))
        write_zendesk_pages(settings.zendesk_pages_path, TICKETS, ORGS, size=3)
        _stripe_pages(settings.stripe_pages_path, EVENTS)
        for source in SOURCES:
            _load(settings, source, arrow)
        loaded[arrow] = settings
    rows, arrow = loaded[False], loaded[True]
    for source, tables in TABLES.items():
        for table in tables:
            assert _columns(arrow, table) == _columns(rows, table), table
            assert _contents(arrow, table) == _contents(rows, table), table
        assert _cursor(arrow, source) == _cursor(rows, source)
    assert count(arrow, "raw.zendesk_tickets") == 5
    types = {c: t for c, t, _ in _columns(arrow, "zendesk_tickets")}
    assert (types["via"], types["score"], types["ratio"], types["vip"]) == (
        "JSON",
        "BIGINT",
        "DOUBLE",
        "BOOLEAN",
    )
    assert "empty" not in types  # only nulls: no column, as before
    assert query(arrow, "select subject, score, ratio from raw.zendesk_tickets where id = 6") == [
        ("Ticket 6", 2, 1.0)
    ]
    assert variant_columns(arrow) == []


def test_a_bad_record_is_still_quarantined(settings: Settings) -> None:
    write_zendesk_pages(settings.zendesk_pages_path, TICKETS[:5], ORGS, size=5)
    summary = run(["zendesk"], settings)
    assert summary.rows["zendesk_quarantine"] == 1
    assert query(settings, "select page, position, reason from raw.zendesk_quarantine") == [
        ("tickets/page-00001.json", 3, "id 'abc' is not an integer")
    ]
    assert query(settings, "select id from raw.zendesk_tickets order by id") == [
        (1,),
        (2,),
        (3,),
        (5,),
    ]


def test_re_delivered_records_land_once(settings: Settings) -> None:
    events = [stripe_event(f"evt_{n}", 1_740_000_000 + 60 * n) for n in range(1, 6)]
    write_stripe_pages(settings.stripe_pages_path, [*events, events[1]])  # twice in one run
    assert run(["stripe"], settings).rows["stripe_events"] == 5
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 5

    # the next release re-delivers the newest event (at the cursor) and brings one more
    later = stripe_event("evt_6", 1_740_000_000 + 60 * 6)
    write_stripe_pages(settings.stripe_pages_path, [*events, events[-1], later])
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 6
    assert count(settings, "raw.stripe_events where id = 'evt_5'") == 1
    cursor = _cursor(settings, "stripe")["stripe_events"]
    assert cursor == {"field": "created", "value": later["created"]}


def test_an_extra_field_is_kept_and_a_later_one_added(tmp_path: Path) -> None:
    first = [ticket(1, "2025-03-01T10:00:00Z", via={"channel": "email"}, score=3)]
    later = ticket(2, "2025-03-05T10:00:00Z", via={"channel": "web"}, brand_id=77)
    loaded: dict[bool, Settings] = {}
    for arrow in (False, True):
        settings = make_settings(tmp_path / ("arrow" if arrow else "rows"))
        write_zendesk_pages(settings.zendesk_pages_path, first, ORGS)
        _load(settings, "zendesk", arrow)
        write_zendesk_pages(settings.zendesk_pages_path, [*first, later], ORGS)
        _load(settings, "zendesk", arrow)
        loaded[arrow] = settings
    settings = loaded[True]
    assert query(
        settings,
        "select id, via ->> 'channel', score, brand_id from raw.zendesk_tickets order by 1",
    ) == [(1, "email", 3, None), (2, "web", None, 77)]
    types = {c: t for c, t, _ in _columns(settings, "zendesk_tickets")}
    assert (types["via"], types["score"], types["brand_id"]) == ("JSON", "BIGINT", "BIGINT")
    assert _columns(settings, "zendesk_tickets") == _columns(loaded[False], "zendesk_tickets")
    assert _contents(settings, "zendesk_tickets") == _contents(loaded[False], "zendesk_tickets")
    assert variant_columns(settings) == []
