"""Where raw data goes: the one place that picks the dlt destination and pipeline.

Everything else builds dlt sources; this module decides DuckDB or BigQuery, keeps dlt's
working directory under `settings.data_dir` (never `~/.dlt`) and makes sure local pipeline
state never outlives the warehouse it describes.

On BigQuery, dlt loads into dataset `raw` of `settings.bigquery_project` with the same
credentials the warehouse gateway uses (an OAuth token, else Application Default Credentials).
dlt builds its own google-cloud-bigquery clients and takes no endpoint, so an emulator
endpoint reaches it through `BIGQUERY_EMULATOR_HOST`, the variable google-cloud-bigquery reads.
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
# A loaded package's data files are already in the warehouse: keeping them would double the
# raw data on disk (2 GB of packages at 100k customers). Failed packages are kept whole.
os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
# An insert-only merge lands a load in `raw_staging` first; left filled until the next load,
# those tables held a second copy of the last load (4.3 GB of 27 GB after 1M customers' first
# ingest, Stripe's 23M events among them).
os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")

import dlt  # noqa: E402  (must follow the telemetry switch)

log = logging.getLogger(__name__)

DATASET = "raw"


def pipelines_dir(settings: Settings) -> Path:
    """dlt's working directory (local state, load packages) for these settings."""
    return settings.data_dir / "dlt"


def destination(settings: Settings) -> Any:
    """The dlt destination of the configured target (DuckDB file or BigQuery)."""
    if settings.target == "local":
        settings.warehouse_file.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(str(settings.warehouse_file))
    if settings.target == "bigquery":
        return _bigquery(settings)
    raise IngestionError(
        "destination",
        f"target {settings.target!r} is not supported; set CHURN_TARGET=local or bigquery",
    )


def _bigquery(settings: Settings) -> Any:
    """dlt's BigQuery destination: project, location and credentials from the settings."""
    from dlt.common.configuration.specs.gcp_credentials import (
        GcpDefaultCredentials,
        GcpServiceAccountCredentials,
    )

    from warehouse import WarehouseError
    from warehouse.bigquery_warehouse import credentials_for, use_emulator_uploads

    try:
        native, found_project = credentials_for(settings)
    except WarehouseError as exc:
        raise IngestionError("destination", str(exc)) from exc
    project = settings.bigquery_project or found_project
    if not project:
        raise IngestionError(
            "destination", "no BigQuery project: set CHURN_BIGQUERY_PROJECT for target bigquery"
        )
    if settings.bigquery_api_endpoint:
        # the emulator: dlt's clients find it through google-cloud-bigquery's variable; it
        # takes uploads typed application/octet-stream only, and reads no gzip files
        os.environ["BIGQUERY_EMULATOR_HOST"] = settings.bigquery_api_endpoint
        os.environ["NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION"] = "true"
        use_emulator_uploads()
    # the google.auth object as dlt's "default credentials" (the service-account parser
    # would insist on a key file); dlt hands it to every client it builds
    credentials = GcpServiceAccountCredentials()
    credentials.project_id = project
    GcpDefaultCredentials.parse_native_representation(credentials, native)
    return dlt.destinations.bigquery(
        credentials=credentials,
        project_id=project,
        location=settings.bigquery_location,
    )


def loads_json_from_arrow(settings: Settings) -> bool:
    """Whether the destination loads a `json` column from an Arrow table's JSON text as JSON.

    DuckDB does (Parquet text into a JSON column). dlt's BigQuery destination refuses JSON
    columns in Parquet and would load them from JSON lines as JSON strings, so on BigQuery
    API records keep going through dlt's row normaliser.
    """
    return settings.target == "local"


def _destination_has_state(settings: Settings, pipeline_name: str) -> bool:
    """True when the warehouse still holds dlt state for this pipeline."""
    if settings.target == "bigquery":
        return _bigquery_has_state(settings, pipeline_name)
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


def _bigquery_has_state(settings: Settings, pipeline_name: str) -> bool:
    """True when BigQuery's `raw._dlt_pipeline_state` has a row for this pipeline."""
    from warehouse import WarehouseError, get_warehouse

    state = f"{DATASET}._dlt_pipeline_state"
    try:
        wh = get_warehouse(settings, read_only=True)
        if not wh.table_exists(state):
            return False
        rows = wh.query(
            f"select count(*) as n from {state} where pipeline_name = ?", [pipeline_name]
        )
    except WarehouseError as exc:
        raise IngestionError("warehouse", str(exc)) from exc
    return bool(rows["n"].iloc[0])


def pipeline(settings: Settings, name: str) -> dlt.Pipeline:
    """A dlt pipeline into `raw` whose local state is dropped if the warehouse lost it.

    Without this, deleting the warehouse file would leave the ledger of loaded files and the
    cursors behind, and the next run would silently load nothing.
    """
    pipeline_name = f"raw_{name}"
    workdir = pipelines_dir(settings)
    local_state = workdir / pipeline_name
    if local_state.exists() and not _destination_has_state(settings, pipeline_name):
        log.info("%s: warehouse has no state for %s, resetting local state", name, pipeline_name)
        shutil.rmtree(local_state)
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(settings),
        dataset_name=DATASET,
        pipelines_dir=str(workdir),
    )
