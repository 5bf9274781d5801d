"""Fixtures for ingestion tests: isolated settings, a real PostgreSQL, a fake HTTP API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path (rootdir conftest without __init__.py), where the folder
# tests/ingestion would shadow the real `ingestion` package as a namespace package. Putting
# the repository root first makes `import ingestion` find the package (a `pythonpath = ["."]`
# pytest setting would do the same for every test directory).
ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))
for name in [m for m in sys.modules if m == "ingestion" or m.startswith("ingestion.")]:
    if getattr(sys.modules[name], "__file__", None) is None:
        del sys.modules[name]

from fake_api import FakeApi, FakeApiServer  # noqa: E402
from ingest_helpers import make_settings  # noqa: E402
from pg_server import PostgresServer, find_bin_dir  # noqa: E402

from warehouse.settings import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose data dir (warehouse, dlt state, sources) is a fresh tmp dir."""
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped when not installed)."""
    if find_bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database on the session server, per test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name).lower()[:50]
    return postgres_server.create_database(name)


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    """The fake Zendesk + Stripe API on a free local port."""
    with FakeApiServer(FakeApi()) as server:
        yield server
