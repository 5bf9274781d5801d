"""A rerun of the demo starts clean, and touches nothing but its own paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flows.demo import DemoPlan, reset_demo_state
from warehouse.settings import Settings


def test_reset_removes_only_the_demo_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for folder in ("sim", "sources/usage", "dlt", "app", "mlartifacts", "logs", "keep_me"):
        (data / folder).mkdir(parents=True)
    (data / "mlflow.db").write_text("x")
    (data / "warehouse.duckdb").write_text("x")
    (data / "notes.txt").write_text("mine")
    outside = tmp_path / "elsewhere.duckdb"
    outside.write_text("x")

    removed = reset_demo_state(Settings(data_dir=data))
    assert {p.name for p in removed} == {
        "sim",
        "sources",
        "dlt",
        "app",
        "mlartifacts",
        "logs",
        "mlflow.db",
        "warehouse.duckdb",
    }
    assert (data / "keep_me").is_dir() and (data / "notes.txt").exists()

    (data / "sim").mkdir()
    reset_demo_state(Settings(data_dir=data, warehouse_path=outside))
    assert outside.exists(), "a warehouse outside the data directory is never deleted"


def test_demo_weeks_are_consecutive_mondays() -> None:
    mondays = DemoPlan(weeks=3).mondays
    assert len(mondays) == 4 and all(d.weekday() == 0 for d in mondays)
    assert all((b - a).days == 7 for a, b in zip(mondays, mondays[1:], strict=False))


def test_the_list_driven_loop_starts_before_week_0() -> None:
    """With the list-driven CS team the lead weeks run as weekly cycles before week 0; the
    self-driven team's backfill is scored at once; either way they are the Mondays before."""
    listed, own = DemoPlan(lead_weeks=2), DemoPlan(cs_team="self", backfill_weeks=8)
    week0 = listed.mondays[0]
    assert listed.past_mondays == [week0 - timedelta(weeks=2), week0 - timedelta(weeks=1)]
    assert len(own.past_mondays) == 8 and own.past_mondays[-1] == week0 - timedelta(weeks=1)
    # the first list's episodes reach their 28-day horizon before the last Monday's data
    last = listed.mondays[-1]
    assert listed.past_mondays[0] + timedelta(days=28) < last
    with pytest.raises(ValueError, match="cs_team"):
        DemoPlan(cs_team="nobody")
