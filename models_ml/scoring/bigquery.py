"""Batch scoring inside BigQuery: no customer row leaves the warehouse.

The champion's ONNX export is put on GCS, imported as a BigQuery ML model
(`ml.churn_model_v<version>`, with the CREATE MODEL that bigframes' `ONNXModel` generates)
and applied with ML.PREDICT to the features table at one `as_of_date`. Tiers, ranks and (for
a linear champion) drivers are computed by the same query, and one multi-statement
transaction replaces that (as_of_date, model version) batch of `ml.churn_predictions`. Only
aggregates (rows per tier) come back to Python, except for a tree champion: the inputs of its
High and Medium customers come back for their drivers (`models_ml.scoring.bigquery_drivers`).

Split in two: pure functions that return SQL and options (tested offline, and evaluated on
DuckDB through sqlglot), and thin execution functions that need a real BigQuery (the
emulators cannot run bigframes or BigQuery ML): those run in the live smoke test only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.config import MLConfig
from models_ml.errors import ModelError
from models_ml.features import FeatureSchema, check_columns
from models_ml.registry import LoadedModel
from models_ml.scoring.columns import PREDICTION_COLUMNS, PREDICTION_NAMES
from models_ml.scoring.drivers_sql import drivers_sql, input_expressions, onnx_input
from models_ml.scoring.googlesql import BigQueryMLError, ident, literal, table_ref
from models_ml.scoring.local import features_table

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_PROJECT = re.compile(r"^[a-z][a-z0-9.:-]*[a-z0-9]$")

MODEL_DATASET = "ml"


@dataclass(frozen=True)
class ScoringSpec:
    """Everything the scoring statement needs, as plain values.

    `inputs`: model input name -> SQL over a features row (nullable; categories with nulls
    already mapped to their missing category). `onnx_inputs`: the same names -> SQL over the
    `inputs` relation as the ONNX graph takes them. `drivers_sql`: a SELECT of id, driver_1,
    driver_2, driver_3 over `inputs`, or None (drivers left null).
    """

    project: str | None
    features_table: str
    predictions_table: str
    model_name: str
    model_version: str
    run_id: str
    as_of: date
    scored_at: datetime
    inputs: Mapping[str, str]
    onnx_inputs: Mapping[str, str]
    high: float
    medium: float
    capacity: int | None = None
    drivers_sql: str | None = None
    id_column: str = "customer_id"
    date_column: str = "as_of_date"
    inactive_flags: tuple[str, ...] = ()
    probability_output: str = "probabilities"
    positive_index: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table in (self.features_table, self.predictions_table):
            if not _TABLE.match(table):
                raise BigQueryMLError(f"invalid table name {table!r}: use dataset.table")
        if self.project is not None and not _PROJECT.match(self.project):
            raise BigQueryMLError(f"invalid project id {self.project!r}")
        for name in (self.id_column, self.date_column, *self.inactive_flags, *self.inputs):
            ident(name)
        if set(self.inputs) != set(self.onnx_inputs):
            raise BigQueryMLError("inputs and onnx_inputs must name the same columns")
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.model_version):
            raise BigQueryMLError(f"invalid model version {self.model_version!r}")

    @property
    def model_id(self) -> str:
        """`ml.churn_model_v<version>`: one BigQuery ML model per registered version."""
        return f"{MODEL_DATASET}.churn_model_v{self.model_version.replace('.', '_')}"


# ---------- pure: names, options, SQL


def gcs_model_uri(artifact_root: str, model_name: str, version: str) -> str:
    """Where a registered version's ONNX file goes for BigQuery ML to import."""
    if not artifact_root.startswith("gs://"):
        raise BigQueryMLError(f"the GCS artifact root must be a gs:// URI, not {artifact_root!r}")
    return f"{artifact_root.rstrip('/')}/bqml/{model_name}/v{version}/model.onnx"


def model_options(model_path: str) -> dict[str, str]:
    """The OPTIONS of an imported ONNX model (what bigframes' ONNXModel passes too)."""
    if not model_path.startswith("gs://") or not model_path.endswith(".onnx"):
        raise BigQueryMLError(f"MODEL_PATH must be a gs://...onnx file, not {model_path!r}")
    return {"model_type": "ONNX", "model_path": model_path}


def create_model_sql(project: str | None, model_id: str, model_path: str) -> str:
    """CREATE OR REPLACE MODEL ... OPTIONS(model_type='ONNX', model_path='gs://...')."""
    options = ",\n  ".join(f"{k}={literal(v)}" for k, v in model_options(model_path).items())
    return f"CREATE OR REPLACE MODEL {table_ref(project, model_id)}\nOPTIONS(\n  {options})"


def _where(spec: ScoringSpec) -> str:
    parts = [f"{ident(spec.date_column)} = DATE '{spec.as_of.isoformat()}'"]
    parts += [f"NOT COALESCE(CAST({ident(f)} AS BOOL), FALSE)" for f in spec.inactive_flags]
    return " AND ".join(parts)


def inputs_sql(spec: ScoringSpec) -> str:
    """The model inputs of every active customer at `as_of` (nullable values)."""
    cid = ident(spec.id_column)
    columns = ",\n    ".join(f"{expr} AS {ident(name)}" for name, expr in spec.inputs.items())
    return (
        f"SELECT CAST({cid} AS STRING) AS {cid},\n    {columns}\n"
        f"  FROM {table_ref(spec.project, spec.features_table)}\n  WHERE {_where(spec)}"
    )


def onnx_inputs_sql(spec: ScoringSpec) -> str:
    """The id and the inputs as the ONNX graph takes them (what ML.PREDICT is given)."""
    cid = ident(spec.id_column)
    columns = ",\n      ".join(
        f"{expr} AS {ident(name)}" for name, expr in spec.onnx_inputs.items()
    )
    return f"SELECT {cid},\n      {columns}\n    FROM (\n  {inputs_sql(spec)}\n    )"


def predict_sql(spec: ScoringSpec) -> str:
    """ML.PREDICT of the imported model over the inputs (ids pass through)."""
    model = table_ref(spec.project, spec.model_id)
    return f"SELECT * FROM ML.PREDICT(MODEL {model}, (\n    {onnx_inputs_sql(spec)}\n  ))"


def tier_sql(spec: ScoringSpec) -> str:
    """High / Medium / Low from the probability and rank (as `scoring.assign_tiers`)."""
    if spec.capacity is not None:
        high = f"risk_rank <= {int(spec.capacity)}"
    else:
        high = f"churn_probability >= {float(spec.high)!r}"
    return (
        f"CASE WHEN {high} THEN 'High' "
        f"WHEN churn_probability >= {float(spec.medium)!r} THEN 'Medium' ELSE 'Low' END"
    )


def predictions_sql(spec: ScoringSpec, predicted: str | None = None) -> str:
    """The SELECT of the rows to insert, in contract order. `predicted` replaces ML.PREDICT
    by another query with the id and the probability output (offline evaluation only)."""
    cid = ident(spec.id_column)
    drivers = spec.drivers_sql or (
        f"SELECT {cid}, CAST(NULL AS STRING) AS driver_1, CAST(NULL AS STRING) AS driver_2, "
        f"CAST(NULL AS STRING) AS driver_3 FROM inputs WHERE FALSE"
    )
    output = ident(spec.probability_output)
    stamp = spec.scored_at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return f"""WITH inputs AS (
  {inputs_sql(spec)}
),
predicted AS (
  {predicted or predict_sql(spec)}
),
scored AS (
  SELECT {cid}, CAST({output}[OFFSET({int(spec.positive_index)})] AS FLOAT64) AS churn_probability
  FROM predicted
),
ranked AS (
  SELECT {cid}, churn_probability,
    ROW_NUMBER() OVER (ORDER BY churn_probability DESC, {cid}) AS risk_rank
  FROM scored
),
drivers AS (
  {drivers}
)
SELECT
  r.{cid} AS customer_id,
  DATE '{spec.as_of.isoformat()}' AS as_of_date,
  {literal(spec.model_name)} AS model_name,
  {literal(spec.model_version)} AS model_version,
  r.churn_probability,
  {tier_sql(spec)} AS risk_tier,
  r.risk_rank,
  d.driver_1,
  d.driver_2,
  d.driver_3,
  {literal(spec.run_id)} AS run_id,
  DATETIME '{stamp}' AS scored_at
FROM ranked AS r
LEFT JOIN drivers AS d ON d.{cid} = r.{cid}"""


def create_predictions_table_sql(spec: ScoringSpec) -> str:
    """The predictions table, partitioned by as_of_date, when it does not exist yet."""
    columns = ",\n  ".join(f"{name} {kind}" for name, kind in PREDICTION_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {table_ref(spec.project, spec.predictions_table)} (\n"
        f"  {columns}\n)\nPARTITION BY as_of_date"
    )


def guard_sql(spec: ScoringSpec) -> list[str]:
    """ASSERTs run before anything is written: rows exist at as_of, one per customer."""
    table = table_ref(spec.project, spec.features_table)
    where = _where(spec)
    cid = ident(spec.id_column)
    return [
        f"ASSERT (SELECT COUNT(*) FROM {table} WHERE {where}) > 0 "
        f"AS {literal(f'{spec.features_table} has no rows at {spec.as_of}: nothing written')}",
        f"ASSERT (SELECT COUNT(*) - COUNT(DISTINCT {cid}) FROM {table} WHERE {where}) = 0 "
        f"AS {literal(f'customers appear twice in {spec.features_table} at {spec.as_of}')}",
    ]


def replace_batch_sql(spec: ScoringSpec) -> list[str]:
    """The transaction that replaces this (as_of, model version) batch, atomically."""
    table = table_ref(spec.project, spec.predictions_table)
    columns = ", ".join(PREDICTION_NAMES)
    return [
        "BEGIN TRANSACTION",
        f"DELETE FROM {table} WHERE as_of_date = DATE '{spec.as_of.isoformat()}' "
        f"AND model_name = {literal(spec.model_name)} "
        f"AND model_version = {literal(spec.model_version)}",
        f"INSERT INTO {table} ({columns})\n{predictions_sql(spec)}",
        "COMMIT TRANSACTION",
    ]


def scoring_script(spec: ScoringSpec) -> str:
    """The whole multi-statement script: guards, table, transaction."""
    statements = [*guard_sql(spec), create_predictions_table_sql(spec), *replace_batch_sql(spec)]
    return ";\n\n".join(statements) + ";"


def tier_counts_sql(spec: ScoringSpec) -> str:
    """Aggregates of the batch just written (the only thing read back)."""
    table = table_ref(spec.project, spec.predictions_table)
    return (
        f"SELECT risk_tier, COUNT(*) AS n, SUM(churn_probability) AS total_probability "
        f"FROM {table} WHERE as_of_date = DATE '{spec.as_of.isoformat()}' "
        f"AND model_name = {literal(spec.model_name)} "
        f"AND model_version = {literal(spec.model_version)} GROUP BY risk_tier"
    )


# ---------- execution (thin; needs a real BigQuery)


def job_config(settings):
    """Cost guard and labels on every query job."""
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(
        maximum_bytes_billed=getattr(settings, "bigquery_maximum_bytes_billed", None),
        labels=dict(getattr(settings, "bigquery_labels", None) or {}),
    )


def upload_file(path: Path, uri: str, project: str | None = None) -> str:
    """Copy a local file to `gs://bucket/name` with Application Default Credentials (the
    same ones MLflow's gs:// artifact store uses; STORAGE_EMULATOR_HOST is honoured)."""
    from google.cloud import storage

    bucket, _, name = uri.removeprefix("gs://").partition("/")
    storage.Client(project=project).bucket(bucket).blob(name).upload_from_filename(str(path))
    return uri


def predict_frame(session, spec: ScoringSpec, model_ref: str):
    """The bigframes DataFrame of the imported model's predictions over the inputs at
    `as_of` (lazy: it stays in BigQuery until something materialises it)."""
    model = session.read_gbq_model(model_ref)
    return model.predict(session.read_gbq(onnx_inputs_sql(spec)))


def score_in_bigquery(
    spec: ScoringSpec, client, settings, onnx_file: Path | None, model_path: str
) -> tuple[dict[str, int], float]:
    """Import the model (uploading `onnx_file` to `model_path` first when given), run the
    scoring script with `client` (google-cloud-bigquery) and return ({tier: rows}, mean
    probability) of the batch: aggregates are all that comes back.

    The import is the CREATE MODEL that bigframes' ONNXModel generates, run on the permanent
    name (ONNXModel would create a session model and copy it); the predictions are the
    ML.PREDICT that ONNXModel.predict generates, inside one transaction, because a bigframes
    DataFrame cannot replace a batch atomically.
    """
    if onnx_file is not None:
        upload_file(onnx_file, model_path, spec.project)
    config = job_config(settings)
    create = create_model_sql(spec.project, spec.model_id, model_path)
    client.query(create, job_config=config).result()
    client.query(scoring_script(spec), job_config=job_config(settings)).result()
    rows = client.query(tier_counts_sql(spec), job_config=job_config(settings)).result()
    counts = {"High": 0, "Medium": 0, "Low": 0}
    total = 0.0
    for row in rows:
        counts[row["risk_tier"]] = int(row["n"])
        total += float(row["total_probability"] or 0.0)
    n = sum(counts.values())
    return counts, (total / n if n else float("nan"))


# ---------- the scoring job's in-warehouse path


def probability_output(onnx_model) -> str:
    """The name of the ONNX output holding [P(stay), P(churn)] per row (skl2onnx names it
    `probabilities`); BigQuery ML names the ML.PREDICT column after it."""
    for output in onnx_model.graph.output:
        tensor = output.type.tensor_type
        dims = [d.dim_value for d in tensor.shape.dim]
        if tensor.elem_type in (1, 11) and len(dims) == 2 and dims[1] == 2:  # float, double
            return output.name
    raise ValueError(
        "the ONNX export has no (rows x 2) probability output: export with zipmap False"
    )


def scoring_spec(
    model: Pipeline,
    schema: FeatureSchema,
    cfg,
    *,
    project: str | None,
    model_name: str,
    model_version: str,
    run_id: str,
    as_of,
    scored_at,
    inactive_flags: tuple[str, ...] = (),
    output: str = "probabilities",
):
    """The `ScoringSpec` of one scoring run of this model."""
    kinds = dict(zip(schema.columns, schema.kinds, strict=True))
    return ScoringSpec(
        project=project,
        features_table=cfg.features_table,
        predictions_table=cfg.predictions_table,
        model_name=model_name,
        model_version=model_version,
        run_id=run_id,
        as_of=as_of,
        scored_at=scored_at,
        inputs=input_expressions(schema),
        onnx_inputs={c: onnx_input(c, kinds[c]) for c in schema.columns},
        high=cfg.tiers.high,
        medium=cfg.tiers.medium,
        capacity=cfg.tiers.capacity,
        drivers_sql=drivers_sql(model, schema, cfg.id_column),
        id_column=cfg.id_column,
        date_column=cfg.date_column,
        inactive_flags=inactive_flags,
        probability_output=output,
    )


def check_table_columns(warehouse, cfg: MLConfig, loaded: LoadedModel) -> tuple[str, ...]:
    """For in-warehouse scoring: check the features table's columns (names only: no row is
    read) against the champion's schema; return the inactive-flag columns to filter on."""
    table = features_table(warehouse, cfg)
    columns = warehouse.columns(table)
    if cfg.label_column in columns:
        raise ModelError(
            f"the table to score has the label column {cfg.label_column!r}",
            f"score {cfg.features_table}, not the training set",
        )
    flags = [c for c in cfg.inactive_flag_columns if c in columns]
    empty = pd.DataFrame(columns=columns)
    check_columns(
        empty, loaded.schema, cfg.allow_extra_features, [cfg.id_column, cfg.date_column, *flags]
    )
    return tuple(f for f in flags if f not in loaded.schema.columns)


def score_in_warehouse(
    warehouse,
    client,
    loaded: LoadedModel,
    cfg: MLConfig,
    settings,
    as_of: date,
    run_id: str,
    scored_at: datetime,
    flags: tuple[str, ...],
) -> tuple[dict[str, int], float]:
    """Score `as_of` inside BigQuery with the champion's ONNX export (imported as a BigQuery
    ML model) through the warehouse's client; returns rows per tier and the mean
    probability, the only things read back.

    The ONNX file is the one logged at training: used in place when the run's artifacts are
    already on GCS, else copied under `gcs_artifact_root`. Drivers are computed in the query
    for a logistic-regression champion (`models_ml.scoring.drivers_sql`); for a tree champion,
    in Python for the High and Medium rows once the batch is written, then written into it
    (`models_ml.scoring.bigquery_drivers`; Low rows keep none).
    """
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(loaded.run_id, "onnx/model.onnx", tmp))
        except Exception as exc:
            raise ModelError(
                f"{loaded.name} version {loaded.version} has no ONNX export ({exc})",
                "retrain with `churn train` (the export is logged with every run) and promote "
                "the new version; nothing was written",
            ) from exc
        output = probability_output(onnx.load(str(local)))
        run_uri = client.get_run(loaded.run_id).info.artifact_uri.rstrip("/")
        upload: Path | None = None
        if run_uri.startswith("gs://"):
            model_path = f"{run_uri}/onnx/model.onnx"
        else:
            root = getattr(settings, "gcs_artifact_root", None)
            if not root:
                raise ModelError(
                    "in-warehouse scoring needs the model on GCS, and no GCS location is set",
                    "set CHURN_GCS_ARTIFACT_ROOT=gs://bucket/prefix; nothing was written",
                )
            model_path = gcs_model_uri(root, loaded.name, loaded.version)
            upload = local
        spec = scoring_spec(
            loaded.model,
            loaded.schema,
            cfg,
            project=getattr(warehouse, "project", None),
            model_name=loaded.name,
            model_version=loaded.version,
            run_id=run_id,
            as_of=as_of,
            scored_at=scored_at,
            inactive_flags=flags,
            output=output,
        )
        tiers, mean = score_in_bigquery(spec, warehouse.client, settings, upload, model_path)
    if spec.drivers_sql is None:  # a tree champion: its drivers are computed in Python
        # imported here: that module builds on the SQL of this one
        from models_ml.scoring.bigquery_drivers import add_tree_drivers
        from models_ml.threads import compute_limits

        with compute_limits(cfg.threads):
            written = add_tree_drivers(warehouse, spec, loaded.model, loaded.schema, settings)
        record_tree_drivers(written)
    return tiers, mean


def record_tree_drivers(written) -> None:
    """Rows pulled and written for the drivers, and bytes where BigQuery reported them, as
    metrics of the job's MLflow run (when one is active)."""
    import mlflow

    if mlflow.active_run() is None:
        return
    metrics = {
        "drivers_rows_pulled": written.rows_pulled,
        "drivers_rows_written": written.rows_updated,
    }
    if written.bytes_processed is not None:
        metrics["drivers_bytes_processed"] = written.bytes_processed
    if written.bytes_billed is not None:
        metrics["drivers_bytes_billed"] = written.bytes_billed
    mlflow.log_metrics(metrics)
