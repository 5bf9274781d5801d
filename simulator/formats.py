"""Turn the simulator's numeric records into the exact source formats of contracts.md §1.

DuckDB does the string and JSON building (vectorised, ~1M rows/s), so generate stays fast at
1M customers. The history builders (Stripe events, ticket versions, organizations) stream
their rows into Parquet under a memory limit, spilling to disk: built in memory, the 23M
Stripe events of 1M customers ran a 24 GiB machine out of memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from simulator import config as C

_ISO = "%Y-%m-%dT%H:%M:%SZ"


# share of the machine's memory DuckDB may take: the simulation's own arrays stay in Python
MEMORY_SHARE = 0.4


def connect(spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB in UTC with the lookup tables registered, limited to a share of
    the machine's memory; it spills to `spill_dir` when given."""
    con = duckdb.connect()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    con.execute(f"SET memory_limit = '{int(memory * MEMORY_SHARE) // 2**20}MB'")
    if spill_dir is not None:
        con.execute(f"SET temp_directory = {_sql_string(str(spill_dir))}")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone='UTC'")
    con.execute("SET preserve_insertion_order=true")
    lookups = {
        "plans": C.PLANS,
        "industries": C.INDUSTRIES,
        "countries": C.COUNTRIES,
        "managers": C.CS_MANAGERS,
        "prio": C.TICKET_PRIORITIES,
        "ttypes": C.TICKET_TYPES,
        "etypes": C.EVENT_TYPES + C.UNKNOWN_EVENT_TYPES,
        "features": C.FEATURES + C.EXPORT_FEATURES + C.INTEGRATIONS,
        "badts": C.MALFORMED_TIMESTAMPS,
    }
    for name, values in lookups.items():
        con.register(name, pd.DataFrame({"code": np.arange(len(values)), "name": list(values)}))
    return con


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    """Stream a query's rows into a Parquet file in their order (small row groups let
    readers skip by `seq`), without holding them in Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY ({sql}) TO {_sql_string(str(path))} "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)"
    )


def _iso(col: str) -> str:
    return f"strftime(make_timestamp({col}::bigint * 1000000), '{_ISO}')"


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_sql_string(v) for v in values) + "]"


def usage_lines_query(parquets: list[str]) -> str:
    """One JSON line per delivered event of private usage days, as the collector writes them.

    Columns: dt (arrival day), line. The private files are already in delivery order (non-JSON
    dirt lines last in their day) and the query keeps that order (no joins, no sort).
    """
    files = ", ".join(f"'{p}'" for p in parquets)
    etypes = _sql_list(C.EVENT_TYPES + C.UNKNOWN_EVENT_TYPES)
    feats = _sql_list(C.FEATURES + C.EXPORT_FEATURES + C.INTEGRATIONS)
    bad = _sql_list(C.MALFORMED_TIMESTAMPS)
    return f"""
    with x as (
        select
            strftime(e.received, '%Y-%m-%d') as dt, e.raw,
            to_json({{
                'event_id': 'ev_' || substr(md5(e.event_id::varchar), 1, 20),
                'customer_id': case when e.cust >= 0 then 'C' || lpad((e.cust + 1)::varchar, 7,
                    '0') end,
                'user_id': 'U' || lpad((abs(e.cust) + 1)::varchar, 7, '0') || '-'
                    || lpad((e.user + 1)::varchar, 4, '0'),
                'event_type': {etypes}[e.etype + 1],
                'feature': case when e.feature >= 0 then {feats}[e.feature + 1] end,
                'occurred_at': case when e.bad_ts >= 0 then {bad}[e.bad_ts + 1]
                    else strftime(e.occurred, '{_ISO}') end,
                'received_at': strftime(e.received, '{_ISO}')}})::varchar as j
        from read_parquet([{files}]) e
    )
    select dt, case when raw then left(j, length(j) // 2) else j end as line from x
    """


def stripe_events(
    con: duckdb.DuckDBPyConnection,
    ids: pd.DataFrame,
    subs: pd.DataFrame,
    invoices: pd.DataFrame,
    created: pd.DataFrame,
    seed: int,
    path: Path,
) -> None:
    """Write Stripe event JSON per event to `path`: columns seq, created, cust, type, json
    (ascending)."""
    con.register("ids", ids)
    con.register("subs", subs)
    con.register("invoices", invoices)
    con.register("cus_created", created)
    plan = """{'id': 'price_' || p.name || '_' || case when i.annual then 'year' else 'month' end,
        'interval': case when i.annual then 'year' else 'month' end,
        'amount': case when i.annual then pp.price * 100 * 10 else pp.price * 100 end,
        'nickname': p.name}"""
    prices = pd.DataFrame({"code": range(3), "price": list(C.PRICE_PER_SEAT_MONTH)})
    con.register("prices", prices)
    sql = f"""
    with sub_ev as (
        select s.ts as created, s.cust, 1 + s.kind as rank,
            'customer.subscription.' || ['created', 'updated', 'deleted'][s.kind + 1] as type,
            to_json({{'id': i.sub, 'object': 'subscription', 'customer': i.cus,
                'status': ['active', 'past_due', 'canceled'][s.status + 1],
                'created': i.signup_ts + 30,
                'current_period_start': s.pstart * 86400 + i.signup_ts % 86400,
                'current_period_end': s.pend * 86400 + i.signup_ts % 86400,
                'cancel_at_period_end': false,
                'canceled_at': case when s.canceled_at >= 0 then s.canceled_at end,
                'quantity': s.seats,
                'plan': {plan},
                'discount': case when s.discount > 0
                    then {{'coupon': {{'percent_off': s.discount}}}} end}}) as obj
        from subs s join ids i on i.cust = s.cust
        join plans p on p.code = s.plan join prices pp on pp.code = s.plan
    ), inv_ev as (
        select v.ts as created, v.cust, 5 as rank,
            case when v.paid then 'invoice.paid' else 'invoice.payment_failed' end as type,
            to_json({{'id': 'in_' || substr(md5('in' || v.inv::varchar || '{seed}'), 1, 24),
                'object': 'invoice', 'customer': i.cus, 'subscription': i.sub,
                'amount_due': v.due, 'amount_paid': case when v.paid then v.due else 0 end,
                'currency': 'usd', 'status': case when v.paid then 'paid' else 'open' end,
                'attempt_count': v.attempt, 'created': v.created}}) as obj
        from invoices v join ids i on i.cust = v.cust
    ), cus_ev as (
        select c.ts as created, c.cust, 0 as rank, 'customer.created' as type,
            to_json({{'id': i.cus, 'object': 'customer', 'email': i.email, 'name': i.name,
                'created': c.ts, 'metadata': {{'customer_id': i.customer_id}}}}) as obj
        from cus_created c join ids i on i.cust = c.cust
    ), ev as (
        select * from sub_ev union all select * from inv_ev union all select * from cus_ev
    ), ordered as (
        select *, row_number() over (order by created, rank, cust, obj) as seq from ev
    )
    select seq, created, cust, type,
        to_json({{'id': 'evt_' || substr(md5('evt' || seq::varchar || '{seed}'), 1, 24),
            'object': 'event', 'type': type, 'created': created,
            'data': {{'object': obj}}}})::varchar as json
    from ordered order by seq
    """
    copy_to_parquet(con, sql, path)


def ticket_versions(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, path: Path) -> None:
    """Write Zendesk ticket objects per version to `path`: columns seq, id, updated, cust,
    dup, json."""
    con.register("trows", rows)
    base = C.ZENDESK_BASE
    sql = f"""
    with t as (
        select r.*, ['billing', 'bug', 'how_to', 'integration', 'performance', 'account'][r.tag + 1]
            as tagname
        from trows r
    )
    select row_number() over (order by t.updated, t.id, t.dup) as seq,
        t.id, t.updated, t.cust, t.dup,
        to_json({{'id': t.id, 'url': '{base}/tickets/' || t.id || '.json',
            'organization_id': 360000000 + t.cust, 'requester_id': 900000000 + t.requester,
            'subject': ['Cannot log in', 'Export is failing', 'Sync with CRM stopped',
                'Invoice question', 'Dashboard is slow', 'How do I add users?',
                'Feature request', 'Error 500 on reports', 'SSO setup', 'Data looks wrong',
                'Cancel or change plan', 'API rate limits'][t.subject + 1],
            'status': ['new', 'open', 'pending', 'solved', 'closed'][t.status + 1],
            'priority': p.name, 'type': y.name,
            'tags': case when t.escalated then [t.tagname, 'escalated'] else [t.tagname] end,
            'satisfaction_rating': {{'score': ['unoffered', 'offered', 'good', 'bad'][t.sat + 1]}},
            'created_at': {_iso("t.created")}, 'updated_at': {_iso("t.updated")}}})::varchar
            as json
    from t left join prio p on p.code = t.priority left join ttypes y on y.code = t.ttype
    order by t.updated, t.id, t.dup
    """
    copy_to_parquet(con, sql, path)


def organizations(con: duckdb.DuckDBPyConnection, ids: pd.DataFrame, path: Path) -> None:
    """Write Zendesk organization objects to `path`: columns seq, id, created, json."""
    con.register("ids", ids)
    sql = f"""
    select row_number() over (order by cust) as seq, 360000000 + cust as id,
        signup_ts as created,
        to_json({{'id': 360000000 + cust, 'external_id': customer_id, 'name': name,
            'created_at': {_iso("signup_ts")}, 'updated_at': {_iso("signup_ts")}}})::varchar
            as json
    from ids order by id
    """
    copy_to_parquet(con, sql, path)
