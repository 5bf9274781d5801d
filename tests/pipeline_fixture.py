"""A small, real pipeline built once per test session and copied for tests that change it.

simulate 1,000 customers -> two releases a fortnight apart, each ingested -> dbt build (all
but the marts) -> train a champion -> score two Mondays. Tests that mutate state copy the
directory first (`copy_pipeline`), so each starts from the same known warehouse.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from warehouse.settings import Settings

START = date(2024, 1, 1)
END = date(2026, 1, 1)
TRAIN_AS_OF = date(2025, 12, 22)
SCORED = (date(2025, 12, 15), date(2025, 12, 22))


def build_pipeline(data: Path) -> Settings:
    """Build the whole small pipeline into `data`; returns its settings."""
    import ingestion
    import models_ml
    import simulator
    from flows.dbt_runner import run_dbt
    from flows.jobs import MARTS

    settings = Settings(data_dir=data)
    simulator.generate(customers=1_000, seed=7, start=START, end=END, out=data / "sim")
    for as_of in (END - timedelta(days=14), END):
        simulator.release(
            as_of=as_of,
            sim=data / "sim",
            out=settings.sources_path,
            customer_db_url=settings.customer_db,
        )
        ingestion.run(settings=settings)
    run_dbt(["build", "--exclude", MARTS], settings)
    models_ml.train(TRAIN_AS_OF, settings=settings)
    for monday in SCORED:
        models_ml.score(monday, settings=settings)
    return settings


def copy_pipeline(base: Settings, target: Path) -> Settings:
    """A private copy of the built pipeline (MLflow artifacts stay shared, read-only)."""
    shutil.copytree(base.data_dir, target, symlinks=True)
    return Settings(data_dir=target)
