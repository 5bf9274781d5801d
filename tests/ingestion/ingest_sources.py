"""Tiny source systems in the contract formats (docs/contracts.md §1), written by tests.

Independent of simulator/ on purpose: these tests pin down what ingestion accepts.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

META = sa.MetaData()
CUSTOMERS = sa.Table(
    "customers",
    META,
    sa.Column("customer_id", sa.String(16), primary_key=True),
    sa.Column("company_name", sa.String, nullable=False),
    sa.Column("industry", sa.String),
    sa.Column("country", sa.String(2)),
    sa.Column("plan", sa.String, nullable=False),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("contract_type", sa.String, nullable=False),
    sa.Column("signup_date", sa.Date, nullable=False),
    sa.Column("account_owner", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
CS_ACTIONS = sa.Table(
    "cs_actions",
    META,
    sa.Column("action_id", sa.String, primary_key=True),
    sa.Column("customer_id", sa.String, nullable=False),
    sa.Column("action_type", sa.String, nullable=False),
    sa.Column("action_at", sa.DateTime, nullable=False),
    sa.Column("performed_by", sa.String, nullable=False),
    sa.Column("outcome", sa.String),
    sa.Column("note", sa.String),
)


def customer(cid: str, updated_at: datetime, **changes: Any) -> dict[str, Any]:
    """One customers row with sensible defaults."""
    row = {
        "customer_id": cid,
        "company_name": f"Company {cid}",
        "industry": "retail",
        "country": "DE",
        "plan": "growth",
        "seats": 10,
        "contract_type": "annual",
        "signup_date": date(2024, 1, 15),
        "account_owner": "Ada",
        "updated_at": updated_at,
    }
    row.update(changes)
    return row


def action(aid: str, cid: str, at: datetime, **changes: Any) -> dict[str, Any]:
    """One cs_actions row."""
    row = {
        "action_id": aid,
        "customer_id": cid,
        "action_type": "contacted",
        "action_at": at,
        "performed_by": "Ada",
        "outcome": None,
        "note": None,
    }
    row.update(changes)
    return row


def write_customer_db(
    url: str,
    customers: list[dict[str, Any]] | None = None,
    actions: list[dict[str, Any]] | None = None,
    only_actions: bool = False,
) -> None:
    """Create the tables if needed, upsert customers in place and insert actions."""
    engine = sa.create_engine(url)
    try:
        tables = [CS_ACTIONS] if only_actions else [CUSTOMERS, CS_ACTIONS]
        META.create_all(engine, tables=tables)
        with engine.begin() as con:
            for row in customers or []:
                con.execute(CUSTOMERS.delete().where(CUSTOMERS.c.customer_id == row["customer_id"]))
                con.execute(CUSTOMERS.insert().values(**row))
            if actions:
                con.execute(CS_ACTIONS.insert(), list(actions))
    finally:
        engine.dispose()


def usage_event(eid: str, cid: str | None = "C0000001", day: str = "2025-03-04", **kw: Any) -> str:
    """One JSONL line of a usage event (all values strings or null)."""
    row = {
        "event_id": eid,
        "customer_id": cid,
        "user_id": "U1",
        "event_type": "login",
        "feature": None,
        "occurred_at": f"{day}T09:12:33Z",
        "received_at": f"{day}T09:12:35Z",
    }
    row.update(kw)
    return json.dumps(row)


def write_usage_file(usage_dir: Path, day: str, lines: list[str]) -> Path:
    """`usage/dt=<day>/events.jsonl` with the given lines."""
    path = usage_dir / f"dt={day}" / "events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def ticket(tid: int, updated_at: str, **kw: Any) -> dict[str, Any]:
    """One Zendesk ticket as the incremental export returns it."""
    row = {
        "id": tid,
        "url": f"https://acme.zendesk.com/api/v2/tickets/{tid}.json",
        "organization_id": 900 + tid,
        "requester_id": 500 + tid,
        "subject": f"Ticket {tid}",
        "status": "open",
        "priority": None,
        "type": "question",
        "tags": ["billing"],
        "satisfaction_rating": {"score": "unoffered"},
        "created_at": "2025-01-01T08:00:00Z",
        "updated_at": updated_at,
    }
    row.update(kw)
    return row


def organization(oid: int, customer_id: str, updated_at: str) -> dict[str, Any]:
    """One Zendesk organization."""
    return {
        "id": oid,
        "external_id": customer_id,
        "name": f"Org {oid}",
        "created_at": "2024-12-01T00:00:00Z",
        "updated_at": updated_at,
    }


def _chunks(rows: list[Any], size: int) -> list[list[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]


def write_zendesk_pages(
    root: Path, tickets: list[dict[str, Any]], orgs: list[dict[str, Any]], size: int = 2
) -> None:
    """`zendesk/tickets/page-NNNNN.json` and `zendesk/organizations/...` (cumulative)."""
    for sub in ("tickets", "organizations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    pages = _chunks(tickets, size)
    for n, chunk in enumerate(pages, 1):
        last = n == len(pages)
        page = {
            "tickets": chunk,
            "after_cursor": f"cur{n}",
            "after_url": None if last else f"https://acme.zendesk.com/x?cursor=cur{n}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": last,
        }
        (root / "tickets" / f"page-{n:05d}.json").write_text(json.dumps(page))
    org_pages = _chunks(orgs, size)
    for n, chunk in enumerate(org_pages, 1):
        nxt = None if n == len(org_pages) else f"https://acme.zendesk.com/x?page={n + 1}"
        page = {"organizations": chunk, "next_page": nxt, "count": len(orgs)}
        (root / "organizations" / f"page-{n:05d}.json").write_text(json.dumps(page))


def stripe_event(eid: str, created: int, type_: str = "invoice.paid") -> dict[str, Any]:
    """One Stripe event with an invoice object."""
    return {
        "id": eid,
        "object": "event",
        "type": type_,
        "created": created,
        "data": {
            "object": {
                "id": f"in_{eid}",
                "object": "invoice",
                "customer": "cus_1",
                "amount_due": 1000,
                "amount_paid": 1000,
                "currency": "usd",
                "status": "paid",
                "created": created,
            }
        },
    }


def write_stripe_pages(root: Path, events: list[dict[str, Any]], size: int = 2) -> None:
    """`stripe/events/page-NNNNN.json`, oldest first, as a release writes them."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    ordered = sorted(events, key=lambda e: e["created"])
    pages = _chunks(ordered, size)
    for n, chunk in enumerate(pages, 1):
        page = {"object": "list", "url": "/v1/events", "has_more": n < len(pages), "data": chunk}
        (root / "events" / f"page-{n:05d}.json").write_text(json.dumps(page))


def release_one_of_each(settings: Any) -> None:
    """A small release of all four sources under `settings.sources_path`: one customer and
    CS action, two usage events, one ticket and organization, one Stripe event."""
    settings.sources_path.mkdir(parents=True, exist_ok=True)
    at = datetime(2025, 3, 1, 12)
    write_customer_db(
        settings.customer_db,
        customers=[customer("C0000001", at)],
        actions=[action("A00000001", "C0000001", at)],
    )
    write_usage_file(settings.usage_path, "2025-03-01", [usage_event("E1"), usage_event("E2")])
    write_zendesk_pages(
        settings.zendesk_pages_path,
        [ticket(1, "2025-03-01T10:00:00Z")],
        [organization(901, "C0000001", "2025-03-01T00:00:00Z")],
    )
    write_stripe_pages(settings.stripe_pages_path, [stripe_event("evt_1", 1_740_000_000)])
