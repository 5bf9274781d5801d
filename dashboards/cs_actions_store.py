"""The CS app's own store of CS actions: one SQLAlchemy table, SQLite by default.

The app writes here (never to the warehouse, which a pipeline run may be writing); ingestion's
`app_actions` source lands the table in `raw.app_cs_actions`, and `stg_cs__actions` unions it
with the CRM's actions, so what CS logs reaches the features (cs_contacts_90d,
days_since_last_cs_contact) and the save rate. Columns are those of contracts.md `cs_actions`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from warehouse.settings import Settings, get_settings

ACTION_TYPES = ("contacted", "offer_made")
OUTCOMES = ("pending", "retained", "churned")
MAX_NOTE = 2000
MAX_NAME = 120

metadata = sa.MetaData()
cs_actions = sa.Table(
    "cs_actions",
    metadata,
    sa.Column("action_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(16), nullable=False, index=True),
    sa.Column("action_type", sa.String(20), nullable=False),
    sa.Column("action_at", sa.DateTime, nullable=False),
    sa.Column("performed_by", sa.String(MAX_NAME), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)


class ActionInvalid(ValueError):
    """The action was refused; `problems` says what to fix, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CsAction:
    """One CS action as the form collects it.

    `action_date` is the day CS says it happened (the form's date): stored as the current
    time when it is today, else as the start of that day, since a call logged late is still
    a call of that day for the features and the save rate. Without it, `action_at` (UTC), and
    without either, now.
    """

    customer_id: str
    action_type: str
    performed_by: str
    outcome: str | None = None
    note: str | None = None
    action_at: datetime | None = None
    action_id: str | None = None
    action_date: date | None = None


def new_action_id() -> str:
    """An id that cannot collide with the CRM's `A00000001` ids."""
    return f"APP-{uuid.uuid4().hex[:16].upper()}"


def _clock() -> datetime:
    """The only place the app reads the clock: now, aware, in this machine's time zone (the
    app listens on loopback, so this machine is the CS manager's)."""
    return datetime.now().astimezone()


def now() -> datetime:
    """Now, aware (for audit events and the age of a sign-in)."""
    return _clock()


def stored_utc(moment: datetime) -> datetime:
    """`moment` as the store keeps times: UTC, naive (a naive one is taken as UTC already)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _now() -> datetime:
    """Now in UTC, naive, as action_at is stored."""
    return stored_utc(_clock())


def today() -> date:
    """The CS manager's date today: the latest day an action may be dated."""
    return _clock().date()


def action_time(action: CsAction) -> datetime:
    """When the action is stored as having happened (UTC): see `CsAction`."""
    if action.action_date is not None:
        now = _clock()
        if action.action_date == now.date():
            return stored_utc(now)
        return datetime.combine(action.action_date, time())
    return action.action_at or _now()


def validate(action: CsAction, known_customers: set[str] | None = None) -> list[str]:
    """What is wrong with `action` ([] = it may be saved)."""
    problems = []
    customer = (action.customer_id or "").strip()
    if not customer:
        problems.append("Choose a customer.")
    elif known_customers is not None and customer not in known_customers:
        problems.append(f"Customer {customer} is not on the at-risk list.")
    if action.action_type not in ACTION_TYPES:
        problems.append(f"Action must be one of: {', '.join(ACTION_TYPES)}.")
    who = (action.performed_by or "").strip()
    if not who:
        problems.append("Say who performed the action.")
    elif len(who) > MAX_NAME:
        problems.append(f"'Performed by' is longer than {MAX_NAME} characters.")
    if action.outcome not in (None, *OUTCOMES):
        problems.append(f"Outcome must be one of: {', '.join(OUTCOMES)}, or empty.")
    if action.note and len(action.note) > MAX_NOTE:
        problems.append(f"The note is longer than {MAX_NOTE} characters.")
    if action.action_date is not None and action.action_date > today():
        problems.append(
            f"The action's date {action.action_date:%Y-%m-%d} is in the future "
            f"(today is {today():%Y-%m-%d})."
        )
    elif action.action_at is not None and action.action_at > _now() + timedelta(minutes=5):
        problems.append("The action cannot be in the future.")
    return problems


def engine(settings: Settings | None = None) -> sa.Engine:
    """An engine on the store, creating the SQLite file's folder and the table if needed."""
    settings = settings or get_settings()
    url = sa.engine.make_url(settings.app_actions_db)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    eng = sa.create_engine(url)
    metadata.create_all(eng)
    return eng


def record_action(
    action: CsAction,
    settings: Settings | None = None,
    known_customers: set[str] | None = None,
) -> str:
    """Validate and save one action; returns its action_id.

    Saving the same action_id twice (a double click, a rerun) keeps one row. Raises
    ActionInvalid with every problem when the input is refused; nothing is written then.
    """
    problems = validate(action, known_customers)
    if problems:
        raise ActionInvalid(problems)
    action_id = action.action_id or new_action_id()
    row = {
        "action_id": action_id,
        "customer_id": action.customer_id.strip(),
        "action_type": action.action_type,
        "action_at": action_time(action),
        "performed_by": action.performed_by.strip(),
        "outcome": action.outcome,
        "note": (action.note or "").strip() or None,
    }
    eng = engine(settings)
    try:
        with eng.begin() as con:
            exists = con.execute(
                sa.select(sa.func.count())
                .select_from(cs_actions)
                .where(cs_actions.c.action_id == action_id)
            ).scalar_one()
            if not exists:
                con.execute(cs_actions.insert().values(**row))
    finally:
        eng.dispose()
    return action_id


def list_actions(settings: Settings | None = None, customer_id: str | None = None) -> pd.DataFrame:
    """Actions in the store, newest first (empty, with the columns, when there is no store)."""
    settings = settings or get_settings()
    columns = [c.name for c in cs_actions.columns]
    url = sa.engine.make_url(settings.app_actions_db)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return pd.DataFrame(columns=columns)
    eng = engine(settings)
    try:
        query = sa.select(cs_actions).order_by(cs_actions.c.action_at.desc())
        if customer_id is not None:
            query = query.where(cs_actions.c.customer_id == customer_id)
        with eng.connect() as con:
            return pd.DataFrame(con.execute(query).mappings().all(), columns=columns)
    finally:
        eng.dispose()
