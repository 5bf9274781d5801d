"""The app reads a published copy of the marts, so a pipeline run holding the warehouse file
read-write (which locks every other DuckDB process out) never stops it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.snapshot import (
    APP_TABLES,
    publish_app_snapshot,
    read_app_table,
    snapshot_published_at,
)
from warehouse import WarehouseError
from warehouse.duckdb_warehouse import DuckDBWarehouse

pytestmark = pytest.mark.slow

AT_RISK_PAGE = Path(__file__).resolve().parents[2] / "dashboards" / "pages" / "at_risk_customers.py"


class HeldWarehouse:
    """Another process that opens the warehouse read-write and keeps it open, as dbt or a
    scoring job does while it writes."""

    def __init__(self, path: Path) -> None:
        code = textwrap.dedent(
            f"""
            import sys, time, duckdb
            con = duckdb.connect({str(path)!r})
            con.execute("create schema if not exists scratch")
            con.execute("create or replace table scratch.writing as select 1 as x")
            print("holding", flush=True)
            sys.stdin.readline()
            con.close()
            """
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> HeldWarehouse:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "holding"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=30)


def test_snapshot_has_every_app_mart_and_no_temp_files(app_data):
    snapshot = Path(app_data.settings.app_snapshot_file)
    assert snapshot.exists()
    for table in APP_TABLES:
        assert read_app_table(table, app_data.settings) is not None, table
    assert read_app_table("at_risk_customers", app_data.settings).shape[0] > 100
    leftovers = [p.name for p in snapshot.parent.iterdir() if p.name.endswith((".tmp", ".wal"))]
    assert leftovers == []
    assert snapshot_published_at(app_data.settings) is not None


def test_app_reads_while_another_process_writes_the_warehouse(app_env):
    settings = app_env.settings
    with HeldWarehouse(Path(settings.warehouse_file)):
        # the warehouse itself is locked for every other process, readers included...
        with pytest.raises(WarehouseError, match="Another process may be writing"):
            DuckDBWarehouse(settings.warehouse_file).query("select 1")
        # ...but the app's data is not
        frame = read_app_table("at_risk_customers", settings)
        assert frame is not None and len(frame) > 100
        at = AppTest.from_file(str(AT_RISK_PAGE), default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("accounts**" in m.value for m in at.markdown)


def test_publish_while_locked_fails_clearly_and_keeps_the_previous_snapshot(app_data, tmp_path):
    settings = app_data.settings.model_copy(
        update={"app_snapshot_path": tmp_path / "app" / "marts.duckdb"}
    )
    first = publish_app_snapshot(settings)
    assert first.rows["at_risk_customers"] > 100
    before = settings.app_snapshot_file.stat().st_mtime_ns
    with HeldWarehouse(Path(settings.warehouse_file)):
        with pytest.raises(WarehouseError, match="Another process is writing"):
            publish_app_snapshot(settings)
        assert settings.app_snapshot_file.stat().st_mtime_ns == before
        assert len(read_app_table("at_risk_customers", settings)) == first.rows["at_risk_customers"]
    assert [p.name for p in settings.app_snapshot_file.parent.iterdir()] == ["marts.duckdb"]


def test_publish_replaces_the_file_a_reader_has_open(app_data, tmp_path):
    import duckdb

    settings = app_data.settings.model_copy(update={"app_snapshot_path": tmp_path / "marts.duckdb"})
    publish_app_snapshot(settings)
    reader = duckdb.connect(str(settings.app_snapshot_file), read_only=True)
    try:
        second = publish_app_snapshot(settings)  # atomic rename under an open reader
        assert reader.execute("select count(*) from snapshot_info.tables").fetchone()[0] > 0
    finally:
        reader.close()
    assert len(read_app_table("risk_trends", settings)) == second.rows["risk_trends"]


def test_publish_without_a_warehouse_says_what_to_run(tmp_path):
    from warehouse.settings import Settings

    settings = Settings(data_dir=tmp_path, warehouse_path=tmp_path / "warehouse.duckdb")
    with pytest.raises(WarehouseError, match="churn demo"):
        publish_app_snapshot(settings)
    assert not (tmp_path / "app" / "marts.duckdb").exists()
