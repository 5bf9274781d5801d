"""Drivers of a tree champion's in-warehouse batch, computed in Python for the listed customers.

A gradient-boosting champion's drivers come from its Saabas attribution, which walks every
tree: BigQuery ML cannot give them and the trees are not compiled to SQL. So once the batch is
written, only its High and Medium rows come back (ids and the model inputs at `as_of`, by a
query joining the batch to the features table), their drivers are computed by the same
functions the local scorer uses (`models_ml.attribution`, `models_ml.drivers`), and one
UPDATE from a staged table of (customer_id, driver_1..3) writes them into the batch.

Low rows keep NULL drivers: they are not on the list CS works from (tiers map to actions, and
Low has none), and leaving them out keeps what leaves the warehouse to the listed share of
the customers instead of all of them.

Atomic: the UPDATE is one DML statement, so a failure at any step leaves the batch as the
scoring transaction wrote it (scores and tiers, no drivers), never half the drivers. It only
touches rows of this run (`run_id`), so a rerun that replaced the batch meanwhile is left alone.

Split as `models_ml.scoring.bigquery`: pure functions return SQL or frames (tested offline
and on the BigQuery emulator), thin execution functions run them with the warehouse's client.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.drivers import TOP_DRIVERS, TopContributions, top_drivers
from models_ml.errors import ModelError
from models_ml.features import FeatureSchema, prepare_inputs
from models_ml.scoring.bigquery import ScoringSpec, inputs_sql, job_config
from models_ml.scoring.googlesql import BigQueryMLError, ident, literal, table_ref
from models_ml.scoring.local import attributed_tops

log = logging.getLogger(__name__)

# the tiers CS acts on: only these rows get drivers (and only these leave the warehouse)
LISTED_TIERS: tuple[str, ...] = ("High", "Medium")
DRIVER_NAMES: tuple[str, ...] = tuple(f"driver_{k + 1}" for k in range(TOP_DRIVERS))
# the batch's probability as pulled next to the inputs (not a model input name)
SCORED_PROBABILITY = "scored_probability"
# ONNX in BigQuery (float32) against the Python attribution (float64): below 1e-5 in the tests;
# a larger gap means the drivers would explain another model than the one that scored
ONNX_TOLERANCE = 1e-4

_STAGED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TreeDriversResult:
    """What the drivers step pulled and wrote; bytes are None where the service did not say."""

    rows_pulled: int
    rows_updated: int
    bytes_processed: int | None = None
    bytes_billed: int | None = None


# ---------- pure: SQL


def _batch_where(spec: ScoringSpec, alias: str) -> str:
    """The rows of this run's batch (the partition filter first)."""
    return (
        f"{alias}.as_of_date = DATE '{spec.as_of.isoformat()}' "
        f"AND {alias}.model_name = {literal(spec.model_name)} "
        f"AND {alias}.model_version = {literal(spec.model_version)} "
        f"AND {alias}.run_id = {literal(spec.run_id)} "
        f"AND {alias}.risk_tier IN ({', '.join(literal(t) for t in LISTED_TIERS)})"
    )


def listed_inputs_sql(spec: ScoringSpec) -> str:
    """Id, model inputs (as ML.PREDICT was given them, before the ONNX NaN mapping) and the
    scored probability of the High and Medium rows of this run's batch."""
    cid = ident(spec.id_column)
    columns = ",\n  ".join(f"i.{ident(name)}" for name in spec.inputs)
    batch = table_ref(spec.project, spec.predictions_table)
    return f"""WITH inputs AS (
  {inputs_sql(spec)}
),
listed AS (
  SELECT b.customer_id, b.churn_probability
  FROM {batch} AS b
  WHERE {_batch_where(spec, "b")}
)
SELECT i.{cid},
  {columns},
  l.churn_probability AS {SCORED_PROBABILITY}
FROM listed AS l
JOIN inputs AS i ON i.{cid} = l.customer_id"""


def update_drivers_sql(spec: ScoringSpec, staged: str) -> str:
    """One UPDATE setting driver_1..3 of this run's listed rows from the staged table
    `dataset.table` of the same project (customer_id, driver_1..3): atomic, as every single
    DML statement is."""
    if not _STAGED.match(staged):
        raise BigQueryMLError(f"invalid staged table name {staged!r}: use dataset.table")
    target = table_ref(spec.project, spec.predictions_table)
    source = table_ref(spec.project, staged)
    assignments = ", ".join(f"{name} = s.{name}" for name in DRIVER_NAMES)
    return (
        f"UPDATE {target} AS t\nSET {assignments}\nFROM {source} AS s\n"
        f"WHERE {_batch_where(spec, 't')}\n  AND t.customer_id = s.customer_id"
    )


# ---------- pure: drivers


def listed_drivers(
    inputs: pd.DataFrame, model: Pipeline, schema: FeatureSchema, id_column: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """(customer_id, driver_1..3) per row of `inputs`, and the attribution's probability.

    The steps of `scoring.local.score_frame`: prepared inputs, attribution chunk by chunk,
    each row's top contributions, worded; so a customer's drivers are the same on both paths.
    """
    X = prepare_inputs(inputs, schema)
    probability, tops = attributed_tops(model, X, schema)
    if not tops:
        empty = {"customer_id": pd.Series(dtype=object)}
        empty |= {name: pd.Series(dtype="string") for name in DRIVER_NAMES}
        return pd.DataFrame(empty), probability
    drivers = top_drivers(TopContributions.concat(tops), X, schema)
    columns = {"customer_id": inputs[id_column].astype(str).to_numpy(dtype=object)}
    for name, texts in zip(DRIVER_NAMES, drivers, strict=True):
        columns[name] = pd.array(texts, dtype="string")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(X))), probability


def check_explains(attributed: np.ndarray, scored: np.ndarray, as_of) -> None:
    """Refuse drivers of a model other than the one that scored the batch."""
    if not len(scored):
        return
    gap = float(np.max(np.abs(attributed - np.asarray(scored, dtype=np.float64))))
    if not gap <= ONNX_TOLERANCE:
        raise ModelError(
            f"the champion's attribution does not reproduce the probabilities scored in "
            f"BigQuery at {as_of} (gap {gap:.2e}); the batch is in place without drivers",
            "the ONNX export may not match the registered model: retrain and promote a new "
            "version, then rerun the scoring",
        )


# ---------- execution (thin; the warehouse's google-cloud-bigquery client)


def _api_errors() -> tuple[type[BaseException], ...]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from requests.exceptions import RequestException

    return (GoogleAPIError, GoogleAuthError, RequestException, ConnectionError)


def _table_id(spec: ScoringSpec, name: str) -> str:
    """`project.dataset.table` for the client's API calls (the client's project when None)."""
    return f"{spec.project}.{name}" if spec.project else name


def pull_listed(
    warehouse, spec: ScoringSpec, settings
) -> tuple[pd.DataFrame, int | None, int | None]:
    """The listed rows' inputs as a frame, and the bytes the query processed and billed."""
    job = warehouse.client.query(listed_inputs_sql(spec), job_config=job_config(settings))
    rows = job.result()
    # REST on an emulator (no Storage Read API there), the Storage Read API on BigQuery
    storage = not getattr(warehouse, "on_emulator", False)
    frame = rows.to_arrow(create_bqstorage_client=storage).to_pandas()
    return frame, job.total_bytes_processed, job.total_bytes_billed


def stage_drivers(warehouse, spec: ScoringSpec, drivers: pd.DataFrame, settings) -> str:
    """Load the drivers into a new table of the staging dataset (tables there expire within
    a day); its `dataset.table`."""
    from google.cloud import bigquery

    from warehouse.bigquery_warehouse import STAGING_EXPIRATION_MS

    dataset = settings.bigquery_staging_dataset
    warehouse.ensure_dataset(dataset, STAGING_EXPIRATION_MS)
    staged = f"{dataset}.churn_drivers_{uuid.uuid4().hex[:12]}"
    config = bigquery.LoadJobConfig(
        schema=[bigquery.SchemaField(n, "STRING") for n in ("customer_id", *DRIVER_NAMES)],
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        labels=dict(getattr(settings, "bigquery_labels", None) or {}),
    )
    load = warehouse.client.load_table_from_dataframe(
        drivers, _table_id(spec, staged), job_config=config
    )
    load.result()
    return staged


def write_drivers(warehouse, spec: ScoringSpec, drivers: pd.DataFrame, settings) -> int:
    """Stage the drivers, UPDATE the batch from them, drop the staged table; rows updated."""
    staged = stage_drivers(warehouse, spec, drivers, settings)
    try:
        sql = update_drivers_sql(spec, staged)
        job = warehouse.client.query(sql, job_config=job_config(settings))
        job.result()
        return int(job.num_dml_affected_rows or 0)
    finally:
        try:
            warehouse.client.delete_table(_table_id(spec, staged), not_found_ok=True)
        except _api_errors():
            pass  # it expires on its own


def add_tree_drivers(
    warehouse, spec: ScoringSpec, model: Pipeline, schema: FeatureSchema, settings
) -> TreeDriversResult:
    """Pull the listed rows of the batch just written, compute their drivers, write them in.

    Raises ModelError with one line when a step fails: the batch then stays as scored, with
    its scores and tiers and no drivers, and a rerun of the job writes both again.
    """
    try:
        inputs, processed, billed = pull_listed(warehouse, spec, settings)
        log.info(
            "drivers: pulled %d High/Medium rows of %s (bytes processed %s, billed %s)",
            len(inputs),
            spec.as_of,
            processed,
            billed,
        )
        if inputs.empty:
            return TreeDriversResult(0, 0, processed, billed)
        drivers, attributed = listed_drivers(inputs, model, schema, spec.id_column)
        check_explains(attributed, inputs[SCORED_PROBABILITY].to_numpy(), spec.as_of)
        updated = write_drivers(warehouse, spec, drivers, settings)
    except _api_errors() as exc:
        from warehouse.bigquery_warehouse import translate_error

        reason = " ".join(str(translate_error(exc, "drivers", settings)).split())
        raise ModelError(
            f"the drivers of the High and Medium customers at {spec.as_of} were not written "
            f"({reason}); the batch is in place with its scores and tiers",
            f"rerun the scoring of {spec.as_of}",
        ) from exc
    if updated != len(drivers):  # the UPDATE is one statement: all of this run's rows or none
        log.warning(
            "drivers: %d of %d rows of %s written: the batch was replaced by another run",
            updated,
            len(drivers),
            spec.as_of,
        )
    else:
        log.info("drivers: wrote %d rows of %s", updated, spec.as_of)
    return TreeDriversResult(len(inputs), updated, processed, billed)
