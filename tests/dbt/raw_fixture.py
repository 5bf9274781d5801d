"""A tiny `raw` schema (contracts.md §2) in a DuckDB file, for testing the dbt project alone.

`write_raw_fixture(path)` lands six customers over 2024-07-01..2024-12-31 with the dirt the
sources deliver: duplicated usage events, malformed timestamps, a null customer_id, an unknown
event type, a line that is not JSON, a re-delivered ticket update, failed payments, a discount,
a plan change and two churned customers. `add_future_rows(path, day)` inserts rows dated on or
after `day` into every raw table (for the point-in-time test).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

START = date(2024, 7, 1)
END = date(2024, 12, 31)  # last day with data
LOADED_AT = datetime(2025, 1, 1, 3, 0, 0)
LOAD_ID = "fixture-load-1"

# customer_id, signup, plan, seats, contract, industry, country, churn date (None = stays)
CUSTOMERS = [
    ("C0000001", date(2024, 1, 15), "enterprise", 40, "annual", "software", "US", None),
    ("C0000002", date(2024, 3, 2), "growth", 12, "monthly", "retail", "DE", date(2024, 11, 20)),
    ("C0000003", date(2024, 6, 20), "starter", 5, "monthly", None, "FR", None),
    ("C0000004", date(2024, 10, 10), "growth", 8, "monthly", "finance", "GB", None),
    ("C0000005", date(2024, 2, 1), "starter", 3, "monthly", "health", "US", date(2024, 10, 15)),
    ("C0000006", date(2024, 4, 10), "growth", 10, "annual", "education", "CA", None),
]
PRICES = {"starter": 1500, "growth": 3000, "enterprise": 6000}  # cents per seat per month
FEATURES = ["dashboards", "reports", "alerts", "api", "sharing"]

DDL = {
    "crm_customers": """customer_id varchar, company_name varchar, industry varchar,
        country varchar, plan varchar, seats integer, contract_type varchar, signup_date date,
        account_owner varchar, updated_at timestamp""",
    "crm_cs_actions": """action_id varchar, customer_id varchar, action_type varchar,
        action_at timestamp, performed_by varchar, outcome varchar, note varchar""",
    "app_cs_actions": """action_id varchar, customer_id varchar, action_type varchar,
        action_at timestamp, performed_by varchar, outcome varchar, note varchar""",
    "usage_events": """event_id varchar, customer_id varchar, user_id varchar,
        event_type varchar, feature varchar, occurred_at varchar, received_at varchar,
        _source_file varchar, _raw_line varchar, _parse_error varchar, _event_json varchar""",
    "zendesk_tickets": """id bigint, url varchar, organization_id bigint, requester_id bigint,
        subject varchar, status varchar, priority varchar, type varchar, tags json,
        satisfaction_rating json, created_at varchar, updated_at varchar""",
    "zendesk_organizations": """id bigint, external_id varchar, name varchar,
        created_at varchar, updated_at varchar""",
    "stripe_events": "id varchar, type varchar, created bigint, data json",
}


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix(ts: datetime) -> int:
    return int(ts.replace(tzinfo=UTC).timestamp())


def _at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple],
    loaded_at: datetime = LOADED_AT,
    load_id: str = LOAD_ID,
) -> None:
    if not rows:
        return
    # rows give the leading columns of DDL[table]; later ones (e.g. usage's _parse_error) are null
    names = [c.split()[0] for c in DDL[table].split(",")][: len(rows[0])]
    names += ["_loaded_at", "_load_id"]
    placeholders = ", ".join(["?"] * len(names))
    con.executemany(
        f"insert into raw.{table} ({', '.join(names)}) values ({placeholders})",
        [(*row, loaded_at, load_id) for row in rows],
    )


def _usage_rows(rng: random.Random) -> list[tuple]:
    rows: list[tuple] = []
    n = 0
    day = START
    while day <= END:
        for customer_id, signup, _plan, seats, *_rest, churn in CUSTOMERS:
            if day < signup or (churn and day >= churn):
                continue
            # C0000002 fades out before it churns
            activity = 0.15 if customer_id == "C0000002" and day > date(2024, 10, 1) else 0.6
            for user in range(min(seats, 4)):
                if rng.random() > activity:
                    continue
                for _ in range(rng.randint(1, 3)):
                    n += 1
                    kind = rng.choice(
                        ["login", "login", "feature_use", "export", "integration_sync"]
                    )
                    feature = rng.choice(FEATURES) if kind == "feature_use" else None
                    occurred = _at(day, rng.randint(0, 23), rng.randint(0, 59))
                    received = occurred + timedelta(seconds=30)
                    rows.append(
                        (
                            f"E{n:08d}",
                            customer_id,
                            f"{customer_id}-U{user}",
                            kind,
                            feature,
                            _iso(occurred),
                            _iso(received),
                            f"usage/dt={day.isoformat()}/events.jsonl",
                            None,
                        )
                    )
        day += timedelta(days=1)
    # dirt: the same event delivered twice (second time in the next day's file)
    for row in rows[100:110]:
        later = (datetime.strptime(row[7][9:19], "%Y-%m-%d") + timedelta(days=1)).date()
        rows.append(
            (
                *row[:6],
                _iso(datetime.strptime(row[6], "%Y-%m-%dT%H:%M:%SZ") + timedelta(days=1)),
                f"usage/dt={later.isoformat()}/events.jsonl",
                None,
            )
        )
    # dirt: late event, malformed timestamps, null customer, unknown type, non-JSON line
    f = "usage/dt=2024-11-05/events.jsonl"
    rows += [
        (
            "E90000001",
            "C0000001",
            "C0000001-U0",
            "login",
            None,
            "2024-11-01T08:00:00Z",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        (
            "E90000002",
            "C0000001",
            "C0000001-U0",
            "login",
            None,
            "not-a-date",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        (
            "E90000003",
            "C0000003",
            "C0000003-U1",
            "login",
            None,
            "2024-13-45T10:00:00Z",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        (
            "E90000004",
            None,
            "C0000003-U1",
            "login",
            None,
            "2024-11-04T10:00:00Z",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        # not ISO 8601: DuckDB's try_cast would read it as 2024-03-04, BigQuery's would not
        (
            "E90000006",
            "C0000001",
            "C0000001-U1",
            "login",
            None,
            "2024/03/04 09:12",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        (
            "E90000005",
            "C0000003",
            "C0000003-U1",
            "page_view",
            None,
            "2024-11-04T10:00:00Z",
            "2024-11-05T08:00:00Z",
            f,
            None,
        ),
        (None, None, None, None, None, None, None, f, '{"event_id": "E9000000'),
    ]
    return rows


def _sub(
    sub_id: str,
    cus: str,
    status: str,
    plan: str,
    seats: int,
    interval: str,
    period_start: datetime,
    percent_off: float | None = None,
    canceled_at: datetime | None = None,
) -> dict:
    months = 12 if interval == "year" else 1
    period_end = period_start + timedelta(days=365 if months == 12 else 30)
    return {
        "object": {
            "id": sub_id,
            "object": "subscription",
            "customer": cus,
            "status": status,
            "created": _unix(period_start),
            "current_period_start": _unix(period_start),
            "current_period_end": _unix(period_end),
            "cancel_at_period_end": False,
            "canceled_at": _unix(canceled_at) if canceled_at else None,
            "quantity": seats,
            "plan": {
                "id": f"price_{plan}_{interval}",
                "interval": interval,
                "amount": PRICES[plan] * months,
                "nickname": plan,
            },
            "discount": {"coupon": {"percent_off": percent_off}} if percent_off else None,
        }
    }


def _stripe_rows() -> list[tuple]:
    events: list[tuple[datetime, str, dict]] = []
    for i, (cid, signup, plan, seats, contract, *_r, churn) in enumerate(CUSTOMERS, start=1):
        cus, sub = f"cus_{i:04d}", f"sub_{i:04d}"
        interval = "year" if contract == "annual" else "month"
        t0 = _at(signup, 9)
        events.append(
            (
                t0,
                "customer.created",
                {
                    "object": {
                        "id": cus,
                        "object": "customer",
                        "email": f"billing@{cid.lower()}.example",
                        "name": cid,
                        "created": _unix(t0),
                        "metadata": {"customer_id": cid},
                    }
                },
            )
        )
        events.append(
            (
                t0,
                "customer.subscription.created",
                _sub(sub, cus, "active", plan, seats, interval, t0),
            )
        )
        # monthly invoices (paid; C0000006 fails twice in the autumn)
        month = signup
        while month <= END and (churn is None or month < churn):
            inv_t = _at(month, 11)
            failed = cid == "C0000006" and month.month in (9, 10)
            invoice = {
                "object": {
                    "id": f"in_{i:04d}_{month:%Y%m}",
                    "object": "invoice",
                    "customer": cus,
                    "subscription": sub,
                    "amount_due": PRICES[plan] * seats,
                    "amount_paid": 0 if failed else PRICES[plan] * seats,
                    "currency": "usd",
                    "status": "open" if failed else "paid",
                    "attempt_count": 1,
                    "created": _unix(inv_t),
                }
            }
            events.append((inv_t, "invoice.payment_failed" if failed else "invoice.paid", invoice))
            month = (month.replace(day=1) + timedelta(days=32)).replace(day=min(signup.day, 28))
        if cid == "C0000006":  # seat change and a discount in August
            t1 = _at(date(2024, 8, 12), 14)
            events.append(
                (
                    t1,
                    "customer.subscription.updated",
                    _sub(sub, cus, "active", plan, 14, interval, t0, percent_off=20.0),
                )
            )
            t2 = _at(date(2024, 10, 3), 14)
            events.append(
                (
                    t2,
                    "customer.subscription.updated",
                    _sub(sub, cus, "past_due", plan, 14, interval, t0, percent_off=20.0),
                )
            )
        if churn:
            tc = _at(churn, 8)
            events.append(
                (
                    tc,
                    "customer.subscription.deleted",
                    _sub(sub, cus, "canceled", plan, seats, interval, t0, canceled_at=tc),
                )
            )
    events.sort(key=lambda e: e[0])
    return [
        (f"evt_{n:06d}", kind, _unix(ts), json.dumps(obj))
        for n, (ts, kind, obj) in enumerate(events, start=1)
    ]


def _ticket(
    tid: int,
    org: int,
    status: str,
    created: datetime,
    updated: datetime,
    tags: list[str] | None = None,
    score: str = "unoffered",
) -> tuple:
    return (
        tid,
        f"https://example.zendesk.com/api/v2/tickets/{tid}.json",
        org,
        1000 + org,
        f"ticket {tid}",
        status,
        "normal",
        "question",
        json.dumps(tags or []),
        json.dumps({"score": score}),
        _iso(created),
        _iso(updated),
    )


def _zendesk_rows() -> tuple[list[tuple], list[tuple]]:
    orgs = [
        (500 + i, cid, f"Org {cid}", _iso(_at(signup)), _iso(_at(signup)))
        for i, (cid, signup, *_r) in enumerate(CUSTOMERS, start=1)
    ]
    d = _at
    tickets = [
        # C0000002: an escalated ticket, rated bad, solved; a second one still open
        _ticket(1, 502, "new", d(date(2024, 9, 2)), d(date(2024, 9, 2))),
        _ticket(1, 502, "open", d(date(2024, 9, 2)), d(date(2024, 9, 4)), ["escalated"]),
        _ticket(1, 502, "solved", d(date(2024, 9, 2)), d(date(2024, 9, 20)), ["escalated"], "bad"),
        _ticket(2, 502, "open", d(date(2024, 10, 14)), d(date(2024, 10, 14))),
        # C0000003: opened, pending, closed; the pending update is re-delivered (identical row)
        _ticket(3, 503, "new", d(date(2024, 10, 1)), d(date(2024, 10, 1))),
        _ticket(3, 503, "pending", d(date(2024, 10, 1)), d(date(2024, 10, 8))),
        _ticket(3, 503, "pending", d(date(2024, 10, 1)), d(date(2024, 10, 8))),
        _ticket(3, 503, "closed", d(date(2024, 10, 1)), d(date(2024, 11, 12)), [], "good"),
        # C0000006: open since August
        _ticket(4, 506, "open", d(date(2024, 8, 20)), d(date(2024, 8, 20)), ["billing"]),
    ]
    return tickets, orgs


def _crm_rows() -> list[tuple]:
    rows = []
    for cid, signup, plan, seats, contract, industry, country, _churn in CUSTOMERS:
        rows.append(
            (
                cid,
                f"{cid} Inc",
                industry,
                country,
                plan,
                seats,
                contract,
                signup,
                "Alice Owner",
                _at(signup, 9),
            )
        )
    # C0000006 grows to 14 seats in August (a second version)
    c6 = CUSTOMERS[5]
    rows.append(
        (
            c6[0],
            f"{c6[0]} Inc",
            c6[5],
            c6[6],
            c6[2],
            14,
            c6[4],
            c6[1],
            "Bob Owner",
            _at(date(2024, 8, 12), 14),
        )
    )
    return rows


def _cs_rows() -> tuple[list[tuple], list[tuple]]:
    crm = [
        (
            "A00000001",
            "C0000002",
            "contacted",
            _at(date(2024, 9, 25)),
            "Alice Owner",
            "pending",
            None,
        ),
        (
            "A00000002",
            "C0000002",
            "offer_made",
            _at(date(2024, 10, 9)),
            "Alice Owner",
            "churned",
            "20% off",
        ),
        ("A00000003", "C0000006", "contacted", _at(date(2024, 10, 7)), "Bob Owner", None, None),
    ]
    app = [
        (
            "A00000004",
            "C0000003",
            "contacted",
            _at(date(2024, 11, 18)),
            "Alice Owner",
            "retained",
            "from the app",
        ),
    ]
    return crm, app


def create_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the empty `raw.*` tables of contracts.md §2 (plus load metadata)."""
    con.execute("create schema if not exists raw")
    for table, columns in DDL.items():
        con.execute(
            f"create or replace table raw.{table} ({columns}, _loaded_at timestamp, "
            "_load_id varchar)"
        )


def write_raw_fixture(path: str | Path, seed: int = 7) -> None:
    """Create and fill every `raw.*` table in the DuckDB file at `path`."""
    rng = random.Random(seed)
    con = duckdb.connect(str(path))
    try:
        create_raw_schema(con)
        tickets, orgs = _zendesk_rows()
        crm_actions, app_actions = _cs_rows()
        _insert(con, "crm_customers", _crm_rows())
        _insert(con, "crm_cs_actions", crm_actions)
        _insert(con, "app_cs_actions", app_actions)
        _insert(con, "usage_events", _usage_rows(rng))
        _insert(con, "zendesk_tickets", tickets)
        _insert(con, "zendesk_organizations", orgs)
        _insert(con, "stripe_events", _stripe_rows())
    finally:
        con.close()


def add_future_rows(path: str | Path, day: date) -> None:
    """Insert rows dated on or after `day` into every raw table (none dated before `day`)."""
    con = duckdb.connect(str(path))
    at = _at(day, 0, 0)
    later = {"loaded_at": LOADED_AT + timedelta(days=60), "load_id": "fixture-load-2"}
    try:
        _insert(
            con,
            "crm_customers",
            [
                (
                    "C0000001",
                    "C0000001 Inc",
                    "manufacturing",
                    "MX",
                    "starter",
                    2,
                    "monthly",
                    date(2024, 1, 15),
                    "Zed Owner",
                    at,
                ),
                (
                    "C0000007",
                    "C0000007 Inc",
                    "software",
                    "US",
                    "growth",
                    9,
                    "monthly",
                    day,
                    "Zed Owner",
                    at,
                ),
            ],
            **later,
        )
        _insert(
            con,
            "crm_cs_actions",
            [("A00000101", "C0000001", "contacted", at, "Zed Owner", "pending", None)],
            **later,
        )
        _insert(
            con,
            "app_cs_actions",
            [
                (
                    "A00000102",
                    "C0000001",
                    "offer_made",
                    at + timedelta(days=1),
                    "Zed Owner",
                    None,
                    None,
                )
            ],
            **later,
        )
        usage = []
        for k, cid in enumerate(["C0000001", "C0000003", "C0000004", "C0000006", "C0000007"]):
            for offset in range(0, 40, 3):
                ts = at + timedelta(days=offset, hours=k)
                usage.append(
                    (
                        f"F{k}{offset:04d}",
                        cid,
                        f"{cid}-U9",
                        "login",
                        None,
                        _iso(ts),
                        _iso(ts),
                        f"usage/dt={ts.date().isoformat()}/events.jsonl",
                        None,
                    )
                )
                usage.append(
                    (
                        f"G{k}{offset:04d}",
                        cid,
                        f"{cid}-U8",
                        "feature_use",
                        "brand-new",
                        _iso(ts),
                        _iso(ts),
                        f"usage/dt={ts.date().isoformat()}/events.jsonl",
                        None,
                    )
                )
        _insert(con, "usage_events", usage, **later)
        _insert(
            con,
            "zendesk_tickets",
            [
                _ticket(2, 502, "solved", _at(date(2024, 10, 14)), at),  # the open one gets solved
                _ticket(4, 506, "closed", _at(date(2024, 8, 20)), at, ["billing"], "bad"),
                _ticket(9, 501, "open", at, at, ["escalated"], "bad"),
            ],
            **later,
        )
        _insert(
            con,
            "zendesk_organizations",
            [
                (501, "C0000001", "Org renamed", _iso(_at(date(2024, 1, 15))), _iso(at)),
                (507, "C0000007", "Org C0000007", _iso(at), _iso(at)),
            ],
            **later,
        )
        stripe_future = [
            (
                "evt_f00001",
                "customer.subscription.updated",
                _unix(at),
                json.dumps(_sub("sub_0001", "cus_0001", "active", "starter", 2, "month", at, 50.0)),
            ),
            (
                "evt_f00002",
                "invoice.payment_failed",
                _unix(at + timedelta(hours=1)),
                json.dumps(
                    {
                        "object": {
                            "id": "in_f1",
                            "object": "invoice",
                            "customer": "cus_0006",
                            "subscription": "sub_0006",
                            "amount_due": 100,
                            "amount_paid": 0,
                            "currency": "usd",
                            "status": "open",
                            "attempt_count": 1,
                            "created": _unix(at),
                        }
                    }
                ),
            ),
            (
                "evt_f00003",
                "customer.subscription.deleted",
                _unix(at + timedelta(days=2)),
                json.dumps(
                    _sub(
                        "sub_0003",
                        "cus_0003",
                        "canceled",
                        "starter",
                        5,
                        "month",
                        at,
                        canceled_at=at + timedelta(days=2),
                    )
                ),
            ),
        ]
        _insert(con, "stripe_events", stripe_future, **later)
    finally:
        con.close()


BAD_LOADED_AT = LOADED_AT + timedelta(days=1)


def add_badly_dated_rows(path: str | Path) -> dict[str, str]:
    """Insert, in a later load, one row per source dated far outside any plausible window.

    Each would change features, the spine, a label or a mart if it were believed: a usage
    event in 2099 (stretches the spine) and one in 1900 (moves its start), a ticket update and
    a CRM version stamped 2099 (would become the customer's current state), a subscription
    cancelled in 2099 (a churn) and a CS action in 2099. Returns staging model -> expected reason.
    """
    far = datetime(2099, 1, 1)
    ancient = datetime(1900, 1, 1)
    later = {"loaded_at": BAD_LOADED_AT, "load_id": "fixture-load-bad"}
    con = duckdb.connect(str(path))
    try:
        _insert(
            con,
            "usage_events",
            [
                (
                    "E9990001",
                    "C0000001",
                    "U1",
                    "login",
                    None,
                    _iso(far),
                    _iso(BAD_LOADED_AT),
                    "dt=2099-01-01/events.jsonl",
                    None,
                ),
                (
                    "E9990002",
                    "C0000001",
                    "U1",
                    "login",
                    None,
                    _iso(ancient),
                    _iso(BAD_LOADED_AT),
                    "dt=1900-01-01/events.jsonl",
                    None,
                ),
            ],
            **later,
        )
        _insert(
            con,
            "zendesk_tickets",
            [_ticket(4, 506, "solved", _at(date(2024, 8, 20)), far)],
            **later,
        )
        cancel = _sub(
            "sub_0001",
            "cus_0001",
            "canceled",
            "enterprise",
            40,
            "year",
            _at(date(2024, 1, 15)),
            canceled_at=far,
        )
        _insert(
            con,
            "stripe_events",
            [("evt_bad_1", "customer.subscription.deleted", _unix(far), json.dumps(cancel))],
            **later,
        )
        _insert(
            con,
            "crm_customers",
            [
                (
                    "C0000001",
                    "C0000001 Inc",
                    "software",
                    "US",
                    "starter",
                    1,
                    "monthly",
                    date(2024, 1, 15),
                    "Zed Owner",
                    far,
                )
            ],
            **later,
        )
        _insert(
            con,
            "crm_cs_actions",
            [("A00000999", "C0000001", "contacted", far, "Zed Owner", "saved", None)],
            **later,
        )
    finally:
        con.close()
    return {
        "stg_usage__events": "occurred_at after its load",
        "stg_zendesk__ticket_versions": "updated_at after its load",
        "stg_stripe__events": "created after its load",
        "stg_crm__customer_versions": "updated_at after its load",
        "stg_cs__actions": "action_at after its load",
    }
