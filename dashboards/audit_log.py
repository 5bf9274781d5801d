"""Who did what in the CS app: one row per sign-in, refused access and logged action.

The table lives in the app's own store beside `cs_actions` (same database,
CHURN_APP_ACTIONS_DB_URL), so ingestion lands it the same way, in `raw.app_audit_events`.
Event ids are derived from what they record (the sign-in's token issue time, the action's
id), so a rerun or a reload writes each event once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from dashboards.cs_actions_store import MAX_NAME, engine, metadata, stored_utc
from warehouse.settings import Settings, get_settings

EVENT_TYPES = ("sign_in", "access_refused", "action_logged")

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("event_type", sa.String(20), nullable=False),
    sa.Column("event_at", sa.DateTime, nullable=False),
    sa.Column("identity", sa.String(MAX_NAME), nullable=False),
    sa.Column("role", sa.String(20), nullable=True),
    sa.Column("customer_id", sa.String(16), nullable=True),
    sa.Column("action_id", sa.String(40), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)


@dataclass(frozen=True)
class AuditEvent:
    """One event; `key` makes its id (the same key is the same event, written once)."""

    event_type: str
    identity: str
    key: str
    event_at: datetime
    role: str | None = None
    customer_id: str | None = None
    action_id: str | None = None
    detail: str | None = None

    @property
    def event_id(self) -> str:
        digest = hashlib.sha256(f"{self.event_type}|{self.identity}|{self.key}".encode())
        return digest.hexdigest()[:40]


def record_event(event: AuditEvent, settings: Settings | None = None) -> bool:
    """Write the event unless it is already there; True when it was written."""
    if event.event_type not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {event.event_type!r}")
    row = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_at": stored_utc(event.event_at),
        "identity": event.identity[:MAX_NAME],
        "role": event.role,
        "customer_id": event.customer_id,
        "action_id": event.action_id,
        "detail": event.detail,
    }
    eng = engine(settings or get_settings())
    try:
        with eng.begin() as con:
            exists = con.execute(
                sa.select(sa.func.count())
                .select_from(audit_events)
                .where(audit_events.c.event_id == row["event_id"])
            ).scalar_one()
            if exists:
                return False
            con.execute(audit_events.insert().values(**row))
            return True
    finally:
        eng.dispose()


def list_events(settings: Settings | None = None) -> pd.DataFrame:
    """Every audit event, oldest first."""
    columns = [c.name for c in audit_events.columns]
    eng = engine(settings or get_settings())
    try:
        with eng.connect() as con:
            rows = con.execute(sa.select(audit_events).order_by(audit_events.c.event_at))
            return pd.DataFrame(rows.mappings().all(), columns=columns)
    finally:
        eng.dispose()
