"""Where raw data goes: the one place that picks the dlt destination and pipeline.

Everything else builds dlt sources; this module decides DuckDB or (later) BigQuery, keeps dlt's
working directory under `settings.data_dir` (never `~/.dlt`) and makes sure local pipeline
state never outlives the warehouse it describes.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ingestion.errors import IngestionError
from warehouse.settings import Settings

# dlt would otherwise phone home (no network here) and write an id under ~/.dlt.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402  (must follow the telemetry switch)

log = logging.getLogger(__name__)

DATASET = "raw"


def pipelines_dir(settings: Settings) -> Path:
    """dlt's working directory (local state, load packages) for these settings."""
    return settings.data_dir / "dlt"


def destination(settings: Settings) -> Any:
    """The dlt destination of the configured target; a BigQuery variant extends this branch."""
    if settings.target == "local":
        settings.warehouse_file.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(str(settings.warehouse_file))
    raise IngestionError(
        "destination",
        f"target {settings.target!r} is not supported by ingestion yet; set CHURN_TARGET=local",
    )


def _destination_has_state(settings: Settings, pipeline_name: str) -> bool:
    """True when the warehouse still holds dlt state for this pipeline (local target)."""
    import duckdb

    path = settings.warehouse_file
    if not path.exists():
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise IngestionError(
            "warehouse", f"cannot open {path}: {exc}. Another process may be writing it."
        ) from exc
    try:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = '_dlt_pipeline_state'",
            [DATASET],
        ).fetchone()
        if not found or not found[0]:
            return False
        rows = con.execute(
            f"select count(*) from {DATASET}._dlt_pipeline_state where pipeline_name = ?",
            [pipeline_name],
        ).fetchone()
        return bool(rows and rows[0])
    finally:
        con.close()


def pipeline(settings: Settings, name: str) -> dlt.Pipeline:
    """A dlt pipeline into `raw` whose local state is dropped if the warehouse lost it.

    Without this, deleting the warehouse file would leave the ledger of loaded files and the
    cursors behind, and the next run would silently load nothing.
    """
    pipeline_name = f"raw_{name}"
    workdir = pipelines_dir(settings)
    local_state = workdir / pipeline_name
    if (
        settings.target == "local"
        and local_state.exists()
        and not _destination_has_state(settings, pipeline_name)
    ):
        log.info("%s: warehouse has no state for %s, resetting local state", name, pipeline_name)
        shutil.rmtree(local_state)
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(settings),
        dataset_name=DATASET,
        pipelines_dir=str(workdir),
    )
