"""The DuckDB gateway when other connections hold the file: writes wait for readers' short
connections, reads fail at once with a message that says what to do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from warehouse import WarehouseError
from warehouse.duckdb_warehouse import DuckDBWarehouse


def _warehouse(tmp_path: Path, wait: float) -> DuckDBWarehouse:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb", write_wait_seconds=wait)
    wh.write_table(pd.DataFrame({"x": [1]}), "main.t")
    return wh


def test_a_write_waits_for_a_reader_of_this_process_and_loses_nothing(tmp_path):
    wh = _warehouse(tmp_path, wait=10)
    reader = duckdb.connect(str(wh.path), read_only=True)
    timer = threading.Timer(0.5, reader.close)
    timer.start()
    started = time.monotonic()
    wh.append_rows(pd.DataFrame({"x": [2]}), "main.t")
    timer.join()
    assert time.monotonic() - started >= 0.4  # it did wait for the reader
    assert sorted(wh.read_table("main.t")["x"]) == [1, 2]


def test_a_write_gives_up_after_its_wait_naming_the_file(tmp_path):
    wh = _warehouse(tmp_path, wait=0.3)
    code = textwrap.dedent(
        f"""
        import sys, duckdb
        con = duckdb.connect({str(wh.path)!r}, read_only=True)
        print("holding", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        with pytest.raises(WarehouseError, match="Another process may be writing") as err:
            wh.append_rows(pd.DataFrame({"x": [2]}), "main.t")
        assert str(wh.path) in str(err.value)
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
    assert list(wh.read_table("main.t")["x"]) == [1]


def test_a_read_fails_at_once_while_this_process_writes(tmp_path):
    wh = _warehouse(tmp_path, wait=10)
    with wh.connect(read_only=False):
        started = time.monotonic()
        with pytest.raises(WarehouseError, match="cannot open warehouse"):
            wh.query("select 1")
        assert time.monotonic() - started < 2
