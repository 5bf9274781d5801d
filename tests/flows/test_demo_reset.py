"""A rerun of the demo starts clean, and touches nothing but its own paths."""

from __future__ import annotations

from pathlib import Path

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
