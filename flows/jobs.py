"""One function per job: call the packages in order, record what happened, alert.

Plain Python so the CLI, the Prefect flows and the tests share one path; every job takes an
explicit `as_of` and raises StepFailed (naming the job) on any error after alerting.
"""

from __future__ import annotations

from datetime import date

from flows.alerts import Alert
from flows.common import StepFailed, job, notify
from models_ml.monitoring.store import save_drift, save_job_run, save_outcomes
from warehouse import get_warehouse
from warehouse.settings import Settings, get_settings


def ingest_job(as_of: date, settings: Settings | None = None):  # noqa: ANN201
    """Extract-load every source into `raw`."""
    import ingestion

    settings = settings or get_settings()
    with job("ingest", settings) as metrics:
        before = _raw_rows(settings)
        summary = ingestion.run(settings=settings)
        # extracted rows; a re-delivered key is skipped by the merge, so raw may grow by less
        metrics.set_rows(rows_in=summary.total_rows, rows_out=_raw_rows(settings) - before)
    return summary


def _raw_rows(settings: Settings) -> int:
    """Rows of every table in `raw` (from table metadata on BigQuery: no scan)."""
    counts = get_warehouse(settings, read_only=True).table_rows(["raw"])
    return int(counts["row_count"].sum())


MARTS = "tag:marts"
# the marts that read what the monitoring jobs write (drift checks, outcomes, job runs), and
# the marts built on them (Model health)
MONITORING_MARTS = "tag:marts,source:monitoring+"


def transform_job(  # noqa: ANN201
    as_of: date, settings: Settings | None = None, marts: bool = False, select: str = MARTS
):
    """`dbt build` (models, data tests, unit tests); any failed or skipped node fails it.

    The marts read the predictions, so the loop builds everything else before scoring
    (`marts=False`) and the marts after it (`marts=True`; `select` narrows them, e.g. to the
    monitoring marts after a drift check). Building marts publishes the app's snapshot.
    """
    from flows.dbt_runner import run_dbt

    settings = settings or get_settings()
    with job("marts" if marts else "transform", settings) as metrics:
        args = ["build", "--select", select] if marts else ["build", "--exclude", MARTS]
        if not marts:
            from flows.staging import stage_in_steps

            stage_in_steps(settings)
        summary = run_dbt(args, settings)
        if not marts:
            from flows.data_quality import flagged_counts

            metrics.set_flagged(flagged_counts(get_warehouse(settings, read_only=True)))
        if marts:
            # the app reads a snapshot, never the file a pipeline may be writing
            from dashboards.snapshot import publish_app_snapshot

            publish_app_snapshot(settings)
        return summary


def publish_monitoring(as_of: date, settings: Settings) -> None:
    """Rebuild the marts the app's Model health reads and publish the snapshot.

    The drift and outcomes jobs write tables the app only sees through the marts, and the
    marts were published before those jobs ran: without this the app would show the week
    before. Only the monitoring marts are rebuilt (they read the others); before the first
    marts build there is nothing published to bring up to date, and that build will include
    what this job wrote.
    """
    if get_warehouse(settings, read_only=True).table_exists("marts.customer_risk_history"):
        transform_job(as_of, settings, marts=True, select=MONITORING_MARTS)


SPLIT_PARTS = ("fit", "calibration", "holdout")


class ChallengerRejected(RuntimeError):
    """The challenger did not pass its gates; the champion stays."""


def train_job(as_of: date, settings: Settings | None = None, stop_on_rejection: bool = True):  # noqa: ANN201
    """Train, register challenger, gate, promote or reject; alert either way.

    A rejection leaves the champion in place; with `stop_on_rejection` it also stops the loop
    (StepFailed naming 'train'), so that a person looks before the next scoring.
    """
    import models_ml

    settings = settings or get_settings()
    with job("train", settings) as metrics:
        result = models_ml.train(as_of, settings=settings)
        metrics.set_auc(result.version, "holdout", result.metrics.get("roc_auc", float("nan")))
        # the label-complete snapshots the candidates were fit, calibrated and judged on
        metrics.set_rows(rows_in=sum(int(result.snapshot[f"{part}_rows"]) for part in SPLIT_PARTS))
    lines = (
        f"version {result.version} ({result.chosen})",
        f"holdout ROC-AUC {result.metrics.get('roc_auc', float('nan')):.3f}, "
        f"PR-AUC {result.metrics.get('pr_auc', float('nan')):.3f}",
        *result.reasons,
    )
    save_job_run(
        get_warehouse(settings),
        "train",
        as_of,
        "promoted" if result.promoted else "rejected",
        "; ".join(result.reasons),
    )
    if result.promoted:
        title = f"Model v{result.version} is champion"
        notify(Alert("model_promoted", "info", title, lines), settings, "train")
        return result
    title = f"Challenger v{result.version} rejected"
    notify(Alert("model_rejected", "warning", title, lines), settings, "train")
    if stop_on_rejection:
        raise StepFailed("train", ChallengerRejected("; ".join(result.reasons) or "rejected"))
    return result


def score_job(as_of: date, settings: Settings | None = None):  # noqa: ANN201
    """Score every active customer with the champion, then tell CS what changed."""
    import models_ml

    settings = settings or get_settings()
    with job("score", settings) as metrics:
        result = models_ml.score(as_of, settings=settings)
        metrics.set_rows(rows_in=_snapshot_rows(settings, as_of), rows_out=result.rows)
        metrics.set_tiers(result.tiers)
    from models_ml.config import MLConfig
    from models_ml.holdout import control_customers
    from models_ml.monitoring.newly_high import newly_high_customers

    cfg, warehouse = MLConfig(), get_warehouse(settings)
    # control customers are kept off the CS list: CS is not told their names either
    control = control_customers(warehouse, as_of, cfg.holdout_table)
    new_high = [
        c for c in newly_high_customers(warehouse, as_of, cfg.predictions_table) if c not in control
    ]
    lines = (
        f"{result.rows:,} customers scored with model v{result.model_version}",
        " / ".join(f"{t}: {n:,}" for t, n in result.tiers.items()),
        f"new High-risk customers on the CS list: {len(new_high)}"
        + (f" (+{len(control)} held out as control)" if control else "")
        + (
            f" ({', '.join(new_high[:10])}{', ...' if len(new_high) > 10 else ''})"
            if new_high
            else ""
        ),
    )
    save_job_run(get_warehouse(settings), "score", as_of, "ok", " | ".join(lines))
    notify(
        Alert("scoring_done", "info", f"Churn scores for {as_of} are ready", lines),
        settings,
        "score",
    )
    return result


def _snapshot_rows(settings: Settings, as_of: date) -> int:
    """Rows of the features snapshot that scoring read (inactive customers are among them
    and get no score, so this may exceed the rows written)."""
    from models_ml.config import MLConfig

    cfg = MLConfig()
    counted = get_warehouse(settings, read_only=True).query(
        f"select count(*) as n from {cfg.features_table} where {cfg.date_column} = ?", [as_of]
    )
    return int(counted["n"].iloc[0])


def drift_job(as_of: date, settings: Settings | None = None):  # noqa: ANN201
    """Champion's training reference vs the current features; store, alert, return result."""
    import models_ml
    from models_ml.monitoring.drift import compute_drift
    from models_ml.monitoring.reads import drift_inputs

    settings = settings or get_settings()
    wh = get_warehouse(settings)
    with job("drift", settings) as metrics:
        champion = models_ml.load_champion(settings=settings)
        reference, current = drift_inputs(
            wh, settings.mlflow_uri, champion.run_id, list(champion.schema.columns), as_of
        )
        result = compute_drift(reference, current, as_of)
        report = result.save_html(settings.data_dir / "reports" / f"drift_{as_of}.html")
        save_drift(wh, result, champion.version, str(report))
        metrics.set_rows(rows_in=result.reference_rows + result.current_rows)
        metrics.set_drift_share(result.drift_share)
    if result.status != "ok":
        top = result.per_feature.sort_values("score", ascending=False).head(5)
        notify(
            Alert(
                f"drift_{result.status}",
                "critical" if result.status == "severe" else "warning",
                f"Feature drift {result.status}: {result.drift_share:.0%} of features drifted",
                tuple(f"{r.feature}: {r.method} {r.score:.3f}" for r in top.itertuples()),
            ),
            settings,
            "drift",
        )
    publish_monitoring(as_of, settings)
    return result


def outcomes_job(as_of: date, settings: Settings | None = None, min_auc: float = 0.7):  # noqa: ANN201
    """Predictions vs what happened, per scoring month; alert when performance decays."""
    from models_ml.monitoring.outcomes import decayed, label_complete_predictions, outcomes_by_month
    from models_ml.monitoring.reads import outcome_inputs

    settings = settings or get_settings()
    wh = get_warehouse(settings)
    with job("outcomes", settings) as metrics:
        predictions, labels = outcome_inputs(wh)
        joined = label_complete_predictions(predictions, labels, as_of, settings.churn_horizon_days)
        outcomes = outcomes_by_month(joined, as_of)
        save_outcomes(wh, outcomes, as_of)
        metrics.set_rows(rows_in=len(predictions) + len(labels), rows_out=len(outcomes))
        # one series per version: its latest label-complete scoring month
        for row in outcomes.sort_values("scoring_month").itertuples():
            metrics.set_auc(row.model_version, "outcome", row.roc_auc)
    bad = decayed(outcomes, min_auc)
    if not bad.empty:
        notify(
            Alert(
                "performance_decay",
                "critical",
                f"Model performance below ROC-AUC {min_auc} in {len(bad)} month(s)",
                tuple(
                    f"{r.scoring_month}: v{r.model_version} AUC {r.roc_auc:.3f}"
                    for r in bad.itertuples()
                ),
            ),
            settings,
            "outcomes",
        )
    publish_monitoring(as_of, settings)
    return outcomes
