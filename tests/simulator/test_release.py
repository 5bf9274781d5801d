"""Releases: nothing from the future, cumulative and consistent, contract formats."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sim_helpers import (
    D1,
    D2,
    DIRT,
    db_table,
    pages,
    stripe_events,
    tickets,
    usage_events,
    usage_lines,
)
from sqlalchemy import create_engine, inspect

from simulator import release
from simulator.storage import SimPaths
from simulator.writers.usage import forget_released

EVENT_KEYS = {
    "event_id",
    "customer_id",
    "user_id",
    "event_type",
    "feature",
    "occurred_at",
    "received_at",
}


ISO = "%Y-%m-%dT%H:%M:%SZ"


def _ts(d) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def test_nothing_dated_on_or_after_release_day(releases: dict[str, Path]) -> None:
    src, cut = releases["d1"], D1.isoformat()
    ev = usage_events(src)
    assert (ev["_day"] < cut).all()
    assert (ev["received_at"] < cut).all()
    occurred = pd.to_datetime(ev["occurred_at"], format=ISO, errors="coerce").dropna()
    assert len(occurred) > 0.9 * len(ev)
    assert (occurred < pd.Timestamp(D1)).all()
    assert all(t["updated_at"] < cut and t["created_at"] < cut for t in tickets(src))
    assert all(e["created"] < _ts(D1) for e in stripe_events(src))
    orgs = [o for p in pages(src / "zendesk" / "organizations") for o in p["organizations"]]
    assert all(o["updated_at"] < cut for o in orgs)
    assert (db_table(src, "customers")["updated_at"] < cut).all()
    assert (db_table(src, "cs_actions")["action_at"] < cut).all()


def test_later_release_is_a_superset(releases: dict[str, Path]) -> None:
    a, b = releases["d1"], releases["d2"]
    assert {e["id"] for e in stripe_events(a)} < {e["id"] for e in stripe_events(b)}
    key = lambda t: json.dumps(t, sort_keys=True)  # noqa: E731
    assert {key(t) for t in tickets(a)} <= {key(t) for t in tickets(b)}
    files_a = {f.relative_to(a) for f in (a / "usage").rglob("*.jsonl")}
    for f in files_a:
        assert (a / f).read_bytes() == (b / f).read_bytes()
    ca, cb = db_table(a, "customers"), db_table(b, "customers")
    assert set(ca.customer_id) <= set(cb.customer_id)
    both = ca.merge(cb, on="customer_id", suffixes=("_a", "_b"))
    assert (both.updated_at_b >= both.updated_at_a).all()
    assert set(db_table(a, "cs_actions").action_id) <= set(db_table(b, "cs_actions").action_id)


def _same_files(a: Path, b: Path, under: str = "") -> list[Path]:
    """Assert that `a` and `b` hold the same JSON files (under `under`), byte for byte;
    return their paths relative to each."""
    files = sorted(p.relative_to(a) for p in (a / under).rglob("*.json*"))
    assert files == sorted(p.relative_to(b) for p in (b / under).rglob("*.json*"))
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    return files


def test_incremental_release_equals_fresh_release(releases: dict[str, Path]) -> None:
    fresh, inc = releases["d2"], releases["inc"]
    _same_files(fresh, inc)
    pd.testing.assert_frame_equal(db_table(fresh, "customers"), db_table(inc, "customers"))


def test_usage_format(releases: dict[str, Path]) -> None:
    ev = usage_events(releases["d1"])
    assert set(ev.columns) == EVENT_KEYS | {"_day"}
    for col in EVENT_KEYS:
        assert ev[col].map(lambda v: v is None or isinstance(v, str)).all(), col
    assert {"login", "feature_use", "export", "integration_sync"} <= set(ev.event_type)
    parsed = pd.to_datetime(ev.occurred_at, format=ISO, errors="coerce")
    assert parsed.notna().mean() > 0.9
    assert (ev.received_at.str[:10] == ev._day).all()


def test_zendesk_pages(releases: dict[str, Path]) -> None:
    tp = pages(releases["d2"] / "zendesk" / "tickets")
    for i, p in enumerate(tp):
        assert set(p) == {
            "tickets",
            "after_cursor",
            "after_url",
            "before_cursor",
            "before_url",
            "end_of_stream",
        }
        assert p["end_of_stream"] == (i == len(tp) - 1)
        assert (p["after_url"] is None) == p["end_of_stream"]
    t = tp[0]["tickets"][0]
    assert set(t) == {
        "id",
        "url",
        "organization_id",
        "requester_id",
        "subject",
        "status",
        "priority",
        "type",
        "tags",
        "satisfaction_rating",
        "created_at",
        "updated_at",
    }
    all_t = tickets(releases["d2"])
    assert [x["updated_at"] for x in all_t] == sorted(x["updated_at"] for x in all_t)
    assert {x["status"] for x in all_t} <= {"new", "open", "pending", "solved", "closed"}
    assert {x["satisfaction_rating"]["score"] for x in all_t} <= {
        "good",
        "bad",
        "offered",
        "unoffered",
    }
    assert any("escalated" in x["tags"] for x in all_t)
    op = pages(releases["d2"] / "zendesk" / "organizations")
    assert set(op[0]) == {"organizations", "next_page", "count"}
    assert set(op[0]["organizations"][0]) == {
        "id",
        "external_id",
        "name",
        "created_at",
        "updated_at",
    }
    assert op[0]["count"] == sum(len(p["organizations"]) for p in op)


def test_stripe_pages(releases: dict[str, Path]) -> None:
    sp = pages(releases["d2"] / "stripe" / "events")
    assert all(set(p) == {"object", "url", "has_more", "data"} for p in sp)
    assert [p["has_more"] for p in sp] == [True] * (len(sp) - 1) + [False]
    ev = [e for p in sp for e in p["data"]]
    assert [e["created"] for e in ev] == sorted(e["created"] for e in ev)
    types = {e["type"] for e in ev}
    assert types == {
        "customer.created",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
    for e in ev:
        assert e["id"].startswith("evt_") and e["object"] == "event"
        obj = e["data"]["object"]
        if e["type"].startswith("customer.subscription"):
            assert obj["plan"]["nickname"] in {"starter", "growth", "enterprise"}
            assert obj["plan"]["interval"] in {"month", "year"}
            assert obj["status"] in {"active", "past_due", "canceled"}
            assert (obj["canceled_at"] is not None) == (e["type"].endswith("deleted"))
        elif e["type"].startswith("invoice"):
            assert obj["currency"] == "usd" and obj["status"] in {"paid", "open"}
        else:
            assert obj["metadata"]["customer_id"].startswith("C")


def test_churned_customers_have_no_later_activity(releases: dict[str, Path]) -> None:
    src = releases["d2"]
    ev = stripe_events(src)
    cus = {
        e["data"]["object"]["id"]: e["data"]["object"]["metadata"]["customer_id"]
        for e in ev
        if e["type"] == "customer.created"
    }
    churned = {
        cus[e["data"]["object"]["customer"]]: e["created"]
        for e in ev
        if e["type"] == "customer.subscription.deleted"
    }
    assert churned
    for e in ev:
        c = cus[e["data"]["object"]["customer"]] if e["type"] != "customer.created" else None
        if c in churned and e["type"] != "customer.subscription.deleted":
            assert e["created"] < churned[c]
    usage = usage_events(src)
    at = pd.to_datetime(usage.occurred_at, format=ISO, errors="coerce")
    limit = usage.customer_id.map({c: pd.Timestamp(t, unit="s") for c, t in churned.items()})
    assert not (at >= limit).any()


def test_customer_db_types_and_contents(releases: dict[str, Path]) -> None:
    src = releases["d2"]
    engine = create_engine(f"sqlite:///{src / 'customer_db.sqlite'}")
    cols = {c["name"]: str(c["type"]) for c in inspect(engine).get_columns("customers")}
    assert cols["seats"] == "INTEGER" and cols["signup_date"] == "DATE"
    assert cols["updated_at"] == "DATETIME"
    engine.dispose()
    c = db_table(src, "customers")
    assert c.customer_id.is_unique and c.customer_id.str.match(r"^C\d{7}$").all()
    assert set(c.plan) <= {"starter", "growth", "enterprise"}
    assert set(c.contract_type) == {"monthly", "annual"}
    assert c.industry.isna().any() or c.country.isna().any()
    a = db_table(src, "cs_actions")
    assert set(a.action_type) == {"contacted", "offer_made"}
    assert set(a.outcome.dropna()) <= {"retained", "churned", "pending"}


def test_release_into_other_url(sim_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    release(D1, sim_dir, tmp_path / "src", customer_db_url=f"sqlite:///{db}")
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from customers").fetchone()[0] > 500


def test_dirt_at_roughly_the_configured_rate(releases: dict[str, Path]) -> None:
    lines = usage_lines(releases["d2"])
    ev = usage_events(releases["d2"])
    n = len(ev)
    broken = len(lines) - n
    assert 0 < broken < n * DIRT
    rates = {
        "null customer": ev.customer_id.isna().mean(),
        "unknown type": (
            ~ev.event_type.isin(["login", "feature_use", "export", "integration_sync"])
        ).mean(),
        "bad timestamp": (
            ~ev.occurred_at.str.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
        ).mean(),
        "duplicate": ev.event_id.duplicated().mean(),
    }
    first = ~ev.event_id.duplicated()
    delay = pd.to_datetime(ev.received_at[first], format=ISO) - pd.to_datetime(
        ev.occurred_at[first], format=ISO, errors="coerce"
    )
    rates["late"] = (delay.dropna() > pd.Timedelta(days=1)).mean()
    for name, r in rates.items():
        assert 0.5 * DIRT < r < 1.6 * DIRT, (name, r)
    t = [json.dumps(x, sort_keys=True) for x in tickets(releases["d2"])]
    assert len(t) > len(set(t))  # re-delivered identical tickets


def test_a_release_in_small_reads_writes_the_same_files(
    sim_dir: Path, releases: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    """Usage days grouped by a tiny row budget and pages read two at a time (what keeps a
    million customers' release within memory) give byte-identical sources."""
    from simulator.writers import pages as pages_writer
    from simulator.writers import usage as usage_writer

    monkeypatch.setattr(usage_writer, "ROWS_PER_QUERY", 1)
    monkeypatch.setattr(pages_writer, "PAGES_PER_READ", 2)
    small = release(D1, sim=sim_dir, out=tmp_path / "small")
    default = releases["d1"]
    files = _same_files(default, small)
    assert len([f for f in files if f.parts[0] == "stripe"]) > 2


def test_forgotten_released_history_leaves_the_next_release_unchanged(
    sim_dir: Path, releases: dict[str, Path], tmp_path: Path
) -> None:
    sim = tmp_path / "sim"
    shutil.copytree(sim_dir, sim)
    out = release(D1, sim, tmp_path / "src")
    kept_before = sorted(p.stem for p in SimPaths(sim).usage_dir.glob("*.parquet"))

    freed = forget_released(SimPaths(sim), out / "usage")

    kept = sorted(p.stem for p in SimPaths(sim).usage_dir.glob("*.parquet"))
    assert freed > 0 and kept and all(day >= D1.isoformat() for day in kept)
    assert kept == [day for day in kept_before if day >= D1.isoformat()]
    # the next release writes the days after D1 from what is kept, byte for byte as a release
    # from the whole history does
    release(D2, sim, out)
    assert _same_files(releases["d2"], out, "usage")
