"""Batch scoring: the champion scores every active customer at `as_of`, with tiers, ranks
and the three drivers pushing each customer's risk up, written atomically and idempotently.

Only rows of the features table at exactly `as_of` are scored: a customer who cancelled is
not in the spine that week and so is never scored, and there is no fallback to older
snapshots. The probability is taken from the attribution (bias + contributions, exact by
construction) and checked against `predict_proba` on a sample, so drivers cost one extra
sparse product rather than a second pass over the trees.

A warehouse that scores in place (`scores_in_warehouse`: BigQuery) is sent the model instead:
the champion's ONNX export becomes a BigQuery ML model and one query scores, tiers, ranks and
writes the batch there (`warehouse.bigquery_ml`, SQL from `models_ml.warehouse_sql`); only the
column names and the counts per tier come back. Drivers are computed in that query for a
logistic-regression champion and left empty for a tree champion.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from models_ml.attribution import attribute_chunks
from models_ml.config import MLConfig, Tiers
from models_ml.drivers import TopContributions, top_contributions, top_drivers
from models_ml.errors import ModelError
from models_ml.features import check_columns, prepare_inputs
from models_ml.registry import CHAMPION, LoadedModel, connect, load_alias
from models_ml.threads import compute_limits

PARITY_TOLERANCE = 1e-5
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class ScoreResult:
    """What `score` wrote."""

    as_of: date
    model_name: str
    model_version: str
    run_id: str
    rows: int
    tiers: dict[str, int]
    seconds: float


def assign_tiers(p: np.ndarray, ids: np.ndarray, tiers: Tiers) -> tuple[np.ndarray, np.ndarray]:
    """(risk_tier, risk_rank): rank 1 is the riskiest, ties broken by customer id so the
    result does not depend on row order. With a capacity K, High is exactly the top K."""
    if np.unique(p).size == len(p):  # no ties: no need to sort by id too
        order = np.argsort(-p, kind="stable")
    else:
        order = np.lexsort((ids.astype(str), -p))
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.arange(1, len(p) + 1)
    high = rank <= tiers.capacity if tiers.capacity is not None else p >= tiers.high
    tier = np.where(high, "High", np.where(p >= tiers.medium, "Medium", "Low"))
    return tier.astype(object), rank


def guard_frame(features: pd.DataFrame, loaded: LoadedModel, cfg: MLConfig, as_of: date):
    """Reject frames that are not one active-customer snapshot at `as_of` (returns the rows
    to score)."""
    if cfg.label_column in features.columns:
        raise ModelError(
            f"the frame to score has the label column {cfg.label_column!r}",
            f"score {cfg.features_table}, not the training set",
        )
    # only the distinct dates are parsed: a snapshot holds one
    distinct = pd.Series(pd.unique(features[cfg.date_column]))
    if (pd.to_datetime(distinct).dt.date != as_of).any():
        raise ModelError(
            f"the frame to score holds snapshots other than {as_of}",
            "score one as_of date at a time",
        )
    ids = features[cfg.id_column]
    if not ids.is_unique:
        dupes = ids.duplicated()
        raise ModelError(
            f"{int(dupes.sum())} customers appear twice at {as_of}",
            "the features grain is one row per customer and snapshot: fix the dbt model",
        )
    flags = [c for c in cfg.inactive_flag_columns if c in features.columns]
    named = [cfg.id_column, cfg.date_column, *flags]
    check_columns(features, loaded.schema, cfg.allow_extra_features, named)
    keep = np.ones(len(features), dtype=bool)
    for flag in flags:
        if flag not in loaded.schema.columns:
            keep &= ~features[flag].fillna(False).astype(bool).to_numpy()
    return features if keep.all() else features[keep]


def score_frame(
    features: pd.DataFrame,
    loaded: LoadedModel,
    cfg: MLConfig,
    as_of: date,
    run_id: str,
    scored_at: datetime,
) -> pd.DataFrame:
    """Predictions rows (contract columns of ml.churn_predictions) for one snapshot (pure)."""
    rows = guard_frame(features, loaded, cfg, as_of)
    X = prepare_inputs(rows, loaded.schema)
    n = len(rows)
    # one pass of the attribution gives both: probability = sigmoid(bias + sum of the
    # contributions), exact by construction; chunks keep only each row's top contributions
    probability = np.empty(n, dtype=np.float64)
    tops = []
    for start, attribution in attribute_chunks(loaded.model, X, loaded.schema):
        probability[start : start + len(attribution.contributions)] = attribution.probability
        tops.append(top_contributions(attribution.contributions))
    p = probability
    check = min(n, cfg.parity_check_rows)
    if check:
        # a small sample: one OpenMP thread avoids paying parallel start-up on 2,000 rows
        with threadpool_limits(limits=1, user_api="openmp"):
            expected = loaded.model.predict_proba(X.iloc[:check])[:, 1]
        gap = float(np.max(np.abs(expected - p[:check])))
        if gap > PARITY_TOLERANCE:
            raise ModelError(
                f"drivers do not add up to the model's probability (gap {gap:.2e})",
                "the scikit-learn internals the attribution reads may have changed: pin "
                "scikit-learn to the model's version",
            )
    drivers = top_drivers(TopContributions.concat(tops), X, loaded.schema)
    ids = rows[cfg.id_column].to_numpy()
    tier, rank = assign_tiers(p, ids, cfg.tiers)
    # ids already text (the usual case) are kept: no round trip through fixed-width unicode
    text = ids.dtype == object and pd.api.types.infer_dtype(ids, skipna=False) == "string"
    customer_ids = ids if text else ids.astype(str).astype(object)
    stamp = pd.Series([scored_at], dtype="datetime64[us]").to_numpy()
    # drivers typed as text even when a whole column is empty (DuckDB cannot type all-None)
    return pd.DataFrame(
        index=pd.RangeIndex(n),
        data={
            "customer_id": customer_ids,
            "as_of_date": np.full(n, as_of, dtype=object),
            "model_name": loaded.name,
            "model_version": loaded.version,
            "churn_probability": p.astype(np.float64),
            "risk_tier": tier,
            "risk_rank": rank,
            "driver_1": pd.array(drivers[0], dtype="string"),
            "driver_2": pd.array(drivers[1], dtype="string"),
            "driver_3": pd.array(drivers[2], dtype="string"),
            "run_id": run_id,
            "scored_at": np.repeat(stamp, n),
        },
    )


def _features_table(warehouse, cfg: MLConfig) -> str:
    """The features table's name, checked: a valid `schema.table` that exists."""
    table = cfg.features_table
    if not _TABLE.match(table):
        raise ModelError(f"invalid features table name {table!r}", "use schema.table")
    if not warehouse.table_exists(table):
        raise ModelError(
            f"features table {table} does not exist",
            "run `churn transform` (dbt build) before scoring",
        )
    return table


def read_features(warehouse, cfg: MLConfig, as_of: date) -> pd.DataFrame:
    """Rows of the features table at exactly `as_of` (no fallback to older snapshots)."""
    table = _features_table(warehouse, cfg)
    df = warehouse.query(f"select * from {table} where {cfg.date_column} = ?", [as_of])
    if df.empty:
        raise ModelError(
            f"{table} has no rows at as_of {as_of}",
            "build the features for that Monday first (`churn transform`), or pass the "
            "as_of of an existing snapshot; nothing was written",
        )
    return df


def score(
    as_of: date,
    *,
    settings=None,
    cfg: MLConfig | None = None,
    warehouse=None,
) -> ScoreResult:
    """Score every customer of the features table at `as_of` with the champion and replace
    that (as_of, model version) batch of predictions in one transaction."""
    import mlflow

    from models_ml.tracking import artifact_root, experiment_id
    from warehouse import get_settings, get_warehouse

    settings = settings or get_settings()
    cfg = cfg or MLConfig()
    wh = warehouse or get_warehouse(settings)
    client = connect(settings.mlflow_uri)
    loaded = load_alias(client, cfg.model_name, CHAMPION)
    # a warehouse that scores in place (BigQuery) is sent the model, not asked for the rows
    in_place = bool(getattr(wh, "scores_in_warehouse", False))
    flags = check_table_columns(wh, cfg, loaded) if in_place else ()
    features = None if in_place else read_features(wh, cfg, as_of)
    started = time.perf_counter()
    exp = experiment_id(client, cfg.experiment_name, artifact_root(settings))
    with mlflow.start_run(experiment_id=exp, run_name=f"score {as_of}") as run:
        mlflow.set_tags({"job": "score", "as_of": str(as_of), "model_version": loaded.version})
        run_id = run.info.run_id or uuid.uuid4().hex
        scored_at = datetime.now(UTC).replace(tzinfo=None)
        if in_place:
            mlflow.set_tag("scored_in", "warehouse")
            tiers, mean = score_in_warehouse(
                wh, client, loaded, cfg, settings, as_of, run_id, scored_at, flags
            )
            rows = sum(tiers.values())
        else:
            with compute_limits(cfg.threads):
                frame = score_frame(features, loaded, cfg, as_of, run_id, scored_at)
            wh.replace_rows(
                frame,
                cfg.predictions_table,
                {"as_of_date": as_of, "model_name": loaded.name, "model_version": loaded.version},
            )
            counts = frame["risk_tier"].value_counts().to_dict()
            tiers = {t: int(counts.get(t, 0)) for t in ("High", "Medium", "Low")}
            rows, mean = len(frame), float(frame["churn_probability"].mean())
        seconds = time.perf_counter() - started
        mlflow.log_metrics(
            {
                "rows": rows,
                "seconds": seconds,
                "mean_probability": mean,
                **{f"tier_{k.lower()}": v for k, v in tiers.items()},
            }
        )
    return ScoreResult(as_of, loaded.name, loaded.version, run_id, rows, tiers, seconds)


def check_table_columns(warehouse, cfg: MLConfig, loaded: LoadedModel) -> tuple[str, ...]:
    """For in-warehouse scoring: check the features table's columns (names only: no row is
    read) against the champion's schema; return the inactive-flag columns to filter on."""
    table = _features_table(warehouse, cfg)
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
    for a logistic-regression champion and left empty for a tree champion (see
    `models_ml.warehouse_sql`).
    """
    import tempfile
    from pathlib import Path

    import onnx

    from models_ml.warehouse_sql import probability_output, scoring_spec
    from warehouse import bigquery_ml

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
            model_path = bigquery_ml.gcs_model_uri(root, loaded.name, loaded.version)
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
        return bigquery_ml.score_in_bigquery(spec, warehouse.client, settings, upload, model_path)
