"""Helpers shared by the ingestion tests: settings in a tmp dir and warehouse queries."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from warehouse.settings import Settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings rooted in a tmp dir, ignoring any .env file, with fast HTTP retries."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "ingestion_http_backoff_seconds": 0.01,
        "ingestion_http_max_retries": 2,
        "ingestion_http_timeout_seconds": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query against the test warehouse (read-only, closed right away)."""
    con = duckdb.connect(str(settings.warehouse_file), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def count(settings: Settings, table: str) -> int:
    """Row count of a raw table."""
    return int(query(settings, f"select count(*) from {table}")[0][0])


def column_types(settings: Settings, table: str) -> dict[str, str]:
    """`describe` of a table as {column: type}."""
    return {row[0]: row[1] for row in query(settings, f"describe {table}")}


def variant_columns(settings: Settings) -> list[tuple[str, str]]:
    """(table, column) of every dlt variant column (`*__v_*`) in raw: there must be none."""
    return [
        (table, column)
        for table, column in query(
            settings,
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'raw'",
        )
        if "__v_" in column
    ]


class WarehouseLock:
    """Another process holding the DuckDB warehouse read-write, as a second job would.

    DuckDB lets one process open a file read-write and locks every other process out, so a
    load into it fails for real. `release()` ends the process (closing its stdin).
    """

    def __init__(self, path: Path) -> None:
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); sys.stdin.read()"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "locked":
            self.release()
            raise RuntimeError(f"could not lock {path}: {line!r}")

    def release(self) -> None:
        """Let go of the warehouse and wait for the process to end."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)


class LockWhenRead:
    """A page file that locks the warehouse when ingestion reads it (a named pipe).

    The warehouse is locked after the extraction has started, so the run fails at the load
    step with its data extracted: the situation that used to leave a pending load package.
    `restore()` releases the lock and puts the page back as an ordinary file.
    """

    def __init__(self, page: Path, content: bytes, warehouse: Path, timeout: float = 60) -> None:
        self.page = page
        self.content = content
        self.warehouse = warehouse
        self.lock: WarehouseLock | None = None
        page.parent.mkdir(parents=True, exist_ok=True)
        page.unlink(missing_ok=True)
        os.mkfifo(page)
        self.thread = threading.Thread(target=self._serve, args=(timeout,), daemon=True)
        self.thread.start()

    def _serve(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fd = os.open(self.page, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO: no reader yet
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.01)
                continue
            self.lock = WarehouseLock(self.warehouse)
            os.set_blocking(fd, True)
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.content)
            return

    def restore(self) -> None:
        """Release the warehouse and make the page a plain file with the same content."""
        self.thread.join(timeout=30)
        if self.lock is not None:
            self.lock.release()
        self.page.unlink(missing_ok=True)
        self.page.write_bytes(self.content)


class LockOnRequest:
    """A fake-API `on_request` hook that locks the warehouse at the first request.

    The extraction is under way by then, so the run fails at the load step (see
    `LockWhenRead`); `release()` lets go of the warehouse.
    """

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self.lock: WarehouseLock | None = None

    def __call__(self, path: str, query: dict[str, list[str]]) -> None:
        if self.lock is None:
            self.lock = WarehouseLock(self.warehouse)

    def release(self) -> None:
        """Release the warehouse if it was locked."""
        if self.lock is not None:
            self.lock.release()
