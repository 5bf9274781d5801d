"""The customer database (any SQLAlchemy URL): tables `customers` and `cs_actions`.

A release replaces both tables' contents in one transaction, so readers see the state as of
D or the previous state, never a mix.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
)

from simulator.storage import SimPaths

metadata = MetaData()
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(16), primary_key=True),
    Column("company_name", String(200), nullable=False),
    Column("industry", String(50)),
    Column("country", String(2)),
    Column("plan", String(20), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("contract_type", String(10), nullable=False),
    Column("signup_date", Date, nullable=False),
    Column("account_owner", String(100), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
cs_actions = Table(
    "cs_actions",
    metadata,
    Column("action_id", String(16), primary_key=True),
    Column("customer_id", String(16), nullable=False),
    Column("action_type", String(20), nullable=False),
    Column("action_at", DateTime, nullable=False),
    Column("performed_by", String(100), nullable=False),
    Column("outcome", String(20)),
    Column("note", String(200)),
)


def state_as_of(paths: SimPaths, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, cs_actions) as the DB holds them on `as_of`."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    cut = f"timestamp '{as_of.isoformat()}'"
    cust = con.execute(f"""
        select * from read_parquet('{paths.customer_versions.as_posix()}')
        where updated_at < {cut}
        qualify row_number() over (partition by customer_id order by updated_at desc) = 1
        order by customer_id
    """).df()
    acts = con.execute(f"""
        select * from read_parquet('{paths.cs_actions.as_posix()}')
        where action_at < {cut} order by action_id
    """).df()
    return cust, acts


def _records(df: pd.DataFrame, dates: tuple[str, ...], stamps: tuple[str, ...]) -> list[dict]:
    out = df.astype(object).where(df.notna(), None)
    for c in dates:
        out[c] = [v.date() if v is not None else None for v in pd.to_datetime(df[c])]
    for c in stamps:
        out[c] = [v.to_pydatetime() for v in pd.to_datetime(df[c])]
    if "seats" in out:
        out["seats"] = df["seats"].astype(int).tolist()
    return out.to_dict("records")


def write(paths: SimPaths, as_of: date, url: str) -> None:
    """Replace the DB contents with the state as of `as_of` in one transaction."""
    cust, acts = state_as_of(paths, as_of)
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(delete(customers))
            conn.execute(delete(cs_actions))
            if len(cust):
                conn.execute(customers.insert(), _records(cust, ("signup_date",), ("updated_at",)))
            if len(acts):
                conn.execute(cs_actions.insert(), _records(acts, (), ("action_at",)))
    finally:
        engine.dispose()
