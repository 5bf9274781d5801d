"""Test helpers: the small simulation's dates, and reading a release back like a connector."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd

START, END = date(2024, 1, 1), date(2024, 5, 31)
D1, D2 = date(2024, 3, 4), date(2024, 4, 1)
DIRT = 0.02


def usage_lines(src: Path) -> list[tuple[str, str]]:
    """(file day, raw line) of every usage line."""
    out = []
    for f in sorted((src / "usage").glob("dt=*/events.jsonl")):
        day = f.parent.name[3:]
        out += [(day, line) for line in f.read_text().splitlines()]
    return out


def usage_events(src: Path) -> pd.DataFrame:
    """Parsed JSON usage lines with their file day (non-JSON lines dropped)."""
    rows = []
    for day, line in usage_lines(src):
        try:
            rows.append({**json.loads(line), "_day": day})
        except json.JSONDecodeError:
            continue
    return pd.DataFrame(rows)


def pages(folder: Path) -> list[dict]:
    """Every page of a paged source, in order."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("page-*.json"))]


def stripe_events(src: Path) -> list[dict]:
    """All Stripe events in page order."""
    return [e for p in pages(src / "stripe" / "events") for e in p["data"]]


def tickets(src: Path) -> list[dict]:
    """All ticket versions in page order."""
    return [t for p in pages(src / "zendesk" / "tickets") for t in p["tickets"]]


def db_table(src: Path, table: str) -> pd.DataFrame:
    """A table of the SQLite customer DB."""
    with sqlite3.connect(src / "customer_db.sqlite") as con:
        return pd.read_sql(f"select * from {table}", con)
