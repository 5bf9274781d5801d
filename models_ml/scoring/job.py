"""The weekly scoring job: the champion scores every active customer at `as_of` and that
(as_of, model version) batch of `ml.churn_predictions` is replaced atomically.

A warehouse that scores in place (`scores_in_warehouse`: BigQuery) is sent the model instead
of being asked for the rows (`models_ml.scoring.bigquery`); elsewhere the rows are scored in
Python (`models_ml.scoring.local`). Only counts per tier come back either way.

After the batch is written, the customers who newly enter High risk start an episode and are
drawn into the treated or control group (`models_ml.holdout`); those rows are only ever added,
so a rerun of the same `as_of` adds none.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from models_ml.config import MLConfig
from models_ml.registry import CHAMPION, connect, load_alias
from models_ml.scoring.columns import BATCH_KEY
from models_ml.scoring.local import read_features, score_frame
from models_ml.threads import compute_limits


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
    # High-risk episodes this run started and assigned (0 on a rerun or with the holdout off)
    new_episodes: int = 0


def score(
    as_of: date,
    *,
    settings=None,
    cfg: MLConfig | None = None,
    warehouse=None,
) -> ScoreResult:
    """Score every customer of the features table at `as_of` with the champion, replace that
    (as_of, model version) batch of predictions in one transaction, then record the episodes
    of customers newly High (their holdout group) in `cfg.holdout_table`."""
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
    if in_place:
        from models_ml.scoring import bigquery

        flags = bigquery.check_table_columns(wh, cfg, loaded)
    features = None if in_place else read_features(wh, cfg, as_of)
    started = time.perf_counter()
    exp = experiment_id(client, cfg.experiment_name, artifact_root(settings), job="score")
    with mlflow.start_run(experiment_id=exp, run_name=f"score {as_of}") as run:
        mlflow.set_tags({"job": "score", "as_of": str(as_of), "model_version": loaded.version})
        run_id = run.info.run_id or uuid.uuid4().hex
        scored_at = datetime.now(UTC).replace(tzinfo=None)
        if in_place:
            mlflow.set_tag("scored_in", "warehouse")
            tiers, mean = bigquery.score_in_warehouse(
                wh, client, loaded, cfg, settings, as_of, run_id, scored_at, flags
            )
            rows = sum(tiers.values())
        else:
            with compute_limits(cfg.threads):
                frame = score_frame(features, loaded, cfg, as_of, run_id, scored_at)
            wh.replace_rows(
                frame,
                cfg.predictions_table,
                dict(zip(BATCH_KEY, (as_of, loaded.name, loaded.version), strict=True)),
            )
            counts = frame["risk_tier"].value_counts().to_dict()
            tiers = {t: int(counts.get(t, 0)) for t in ("High", "Medium", "Low")}
            rows, mean = len(frame), float(frame["churn_probability"].mean())
        # imported here: models_ml.holdout reads the column declarations of this package
        from models_ml.holdout import record_new_episodes

        new_episodes = record_new_episodes(wh, as_of, cfg, loaded.name, loaded.version)
        seconds = time.perf_counter() - started
        mlflow.log_metrics(
            {
                "rows": rows,
                "seconds": seconds,
                "mean_probability": mean,
                "new_high_episodes": new_episodes,
                **{f"tier_{k.lower()}": v for k, v in tiers.items()},
            }
        )
    return ScoreResult(
        as_of, loaded.name, loaded.version, run_id, rows, tiers, seconds, new_episodes
    )
