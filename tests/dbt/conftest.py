"""Fixtures for the dbt project tests: the raw fixture built once, and private copies of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbt_helpers import DbtRun, run_dbt
from raw_fixture import write_raw_fixture


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, DbtRun]]:
    """The raw fixture built once with `dbt build`; yields (a copy-safe path, the run)."""
    root = tmp_path_factory.mktemp("dbt_build")
    warehouse = root / "warehouse.duckdb"
    write_raw_fixture(warehouse)
    run = run_dbt(["build"], warehouse, root / "target")
    yield warehouse, run


@pytest.fixture()
def warehouse_copy(built_warehouse: tuple[Path, DbtRun], tmp_path: Path) -> Path:
    """A private copy of the built warehouse that a test may change."""
    src, _run = built_warehouse
    dst = tmp_path / "warehouse.duckdb"
    shutil.copy(src, dst)
    return dst
