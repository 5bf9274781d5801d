"""Scoring in Python: the champion scores one snapshot of features, with tiers, ranks and
the three drivers pushing each customer's risk up.

Only rows of the features table at exactly `as_of` are scored: a customer who cancelled is
not in the spine that week and so is never scored, and there is no fallback to older
snapshots. The probability is taken from the attribution (bias + contributions, exact by
construction) and checked against `predict_proba` on a sample, so drivers cost one extra
sparse product rather than a second pass over the trees. `score_frame` is pure: the batch
job and the benchmarks use it; the API scores payloads with `score_prepared`, its core, as
a payload needs none of the snapshot checks.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from models_ml.attribution import attribute_chunks, classifier_inputs
from models_ml.config import MLConfig, Tiers
from models_ml.drivers import TOP_DRIVERS, TopContributions, top_contributions, top_drivers
from models_ml.errors import ModelError
from models_ml.features import Prepared, as_frame, check_columns, prepare_inputs
from models_ml.registry import LoadedModel
from models_ml.scoring.columns import PREDICTION_NAMES
from warehouse.interface import WarehouseError, check_name

PARITY_TOLERANCE = 1e-5
# up to this many rows the parity check skips the ColumnTransformer (see _model_probability)
SMALL_PARITY_ROWS = 256


def assign_tiers(p: np.ndarray, ids: np.ndarray, tiers: Tiers) -> tuple[np.ndarray, np.ndarray]:
    """(risk_tier, risk_rank): rank 1 is the riskiest, ties broken by customer id so the
    result does not depend on row order. With a capacity K, High is exactly the top K."""
    # any sort will do: ties are put in id order below, so the result is unique
    order = np.argsort(-p)
    ranked = p[order]
    # (NaN, which no payload or snapshot should give, counts as tied with NaN as in a sort)
    tied = np.flatnonzero((ranked[1:] == ranked[:-1]) | np.isnan(ranked[1:]))
    if tied.size > len(p) // 4:  # mostly ties: one sort by (probability, id) is cheaper
        order = np.lexsort((ids.astype(str), -p))
    elif tied.size:
        # only rows of runs of equal probabilities are re-sorted, by id (as text); each run
        # keeps its place, so the result is the full (probability, id) order
        in_run = np.zeros(len(p), dtype=bool)
        in_run[tied] = in_run[tied + 1] = True
        members = order[in_run]
        order[in_run] = members[np.lexsort((ids[members].astype(str), -p[members]))]
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.arange(1, len(p) + 1)
    high = rank <= tiers.capacity if tiers.capacity is not None else p >= tiers.high
    return _tier_names(high, p, tiers), rank


def tiers_by_threshold(p: np.ndarray, tiers: Tiers) -> np.ndarray:
    """risk_tier from the probability thresholds alone (no snapshot to rank in)."""
    return _tier_names(p >= tiers.high, p, tiers)


def _tier_names(high: np.ndarray, p: np.ndarray, tiers: Tiers) -> np.ndarray:
    level = np.where(high, 2, (p >= tiers.medium).astype(np.intp))
    return _TIER_NAMES[level]


_TIER_NAMES = np.array(["Low", "Medium", "High"], dtype=object)


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
    p, drivers = score_prepared(X, loaded, cfg)
    ids = rows[cfg.id_column].to_numpy()
    tier, rank = assign_tiers(p, ids, cfg.tiers)
    # ids already text (the usual case) are kept: no round trip through fixed-width unicode
    text = ids.dtype == object and pd.api.types.infer_dtype(ids, skipna=False) == "string"
    customer_ids = ids if text else ids.astype(str).astype(object)
    stamp = pd.Series([scored_at], dtype="datetime64[us]").to_numpy()
    # drivers typed as text even when a whole column is empty (DuckDB cannot type all-None)
    columns = {
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
    }
    # in the declared order of ml.churn_predictions (a column missing here fails loudly)
    return pd.DataFrame(index=pd.RangeIndex(n), data={c: columns[c] for c in PREDICTION_NAMES})


def attributed_tops(model, X: Prepared, schema) -> tuple[np.ndarray, list[TopContributions]]:  # noqa: ANN001
    """(probability, each chunk's top contributions) of prepared inputs, in one pass of the
    attribution: probability = sigmoid(bias + sum of the contributions), exact by construction;
    chunks keep only each row's top contributions. Local and BigQuery drivers share it."""
    probability = np.empty(len(X), dtype=np.float64)
    tops = []
    for start, attribution in attribute_chunks(model, X, schema):
        probability[start : start + len(attribution.contributions)] = attribution.probability
        tops.append(top_contributions(attribution.contributions))
    return probability, tops


def score_prepared(
    X: Prepared, loaded: LoadedModel, cfg: MLConfig, check_parity: bool = True
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(churn probability, three driver arrays) of prepared inputs (`prepare_inputs`), rows
    already checked: one pass of the attribution, checked against the model's own
    prediction on the first `cfg.parity_check_rows` rows (unless `check_parity` is False:
    the API checks a loaded version once, not on every request)."""
    n = len(X)
    probability, tops = attributed_tops(loaded.model, X, loaded.schema)
    check = min(n, cfg.parity_check_rows) if check_parity else 0
    if check:
        expected = _model_probability(loaded, as_frame(X).iloc[:check] if check < n else X)
        gap = float(np.max(np.abs(expected - probability[:check])))
        if gap > PARITY_TOLERANCE:
            raise ModelError(
                f"drivers do not add up to the model's probability (gap {gap:.2e})",
                "the scikit-learn internals the attribution reads may have changed: pin "
                "scikit-learn to the model's version",
            )
    if not tops:
        return probability, [np.full(0, None, dtype=object) for _ in range(TOP_DRIVERS)]
    return probability, top_drivers(TopContributions.concat(tops), X, loaded.schema)


def _model_probability(loaded: LoadedModel, X: Prepared) -> np.ndarray:
    """The model's own probability, computed apart from the attribution."""
    if len(X) <= SMALL_PARITY_ROWS:
        # a few rows (an API payload): the classifier on its input matrix built without the
        # ColumnTransformer, whose fixed cost per call is several times one row's work; the
        # caller's thread limits apply (serving sets them once per request thread)
        inputs = classifier_inputs(loaded.model, X, loaded.schema)
        return loaded.model[-1].predict_proba(inputs)[:, 1]
    # a sample: one OpenMP thread avoids paying parallel start-up on 2,000 rows
    with threadpool_limits(limits=1, user_api="openmp"):
        return loaded.model.predict_proba(as_frame(X))[:, 1]


def features_table(warehouse, cfg: MLConfig) -> str:
    """The features table's name, checked: a valid `schema.table` that exists."""
    table = cfg.features_table
    try:
        check_name(table)
    except WarehouseError:
        raise ModelError(f"invalid features table name {table!r}", "use schema.table") from None
    if not warehouse.table_exists(table):
        raise ModelError(
            f"features table {table} does not exist",
            "run `churn transform` (dbt build) before scoring",
        )
    return table


def read_features(warehouse, cfg: MLConfig, as_of: date) -> pd.DataFrame:
    """Rows of the features table at exactly `as_of` (no fallback to older snapshots)."""
    table = features_table(warehouse, cfg)
    df = warehouse.query(f"select * from {table} where {cfg.date_column} = ?", [as_of])
    if df.empty:
        raise ModelError(
            f"{table} has no rows at as_of {as_of}",
            "build the features for that Monday first (`churn transform`), or pass the "
            "as_of of an existing snapshot; nothing was written",
        )
    return df
