"""Session fixtures for the BigQuery production target: the two emulators, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bigquery.emulators import BigQueryEmulator, GCSEmulator


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """A running bqemulator (installed into .venv-emulators on first use)."""
    with BigQueryEmulator(tmp_path_factory.mktemp("bqemulator")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSEmulator]:
    """A running in-memory GCS emulator."""
    with GCSEmulator(tmp_path_factory.mktemp("gcs_emulator")) as emulator:
        yield emulator
