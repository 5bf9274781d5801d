"""`train`: read the training sample chosen in the warehouse (split out of time), fit and
calibrate the candidates on it with sample weights, evaluate on the holdout, log to MLflow,
register the best as challenger and consider promoting it.

The steps in the middle are pure functions of frames and config; the warehouse and MLflow
are touched only at the start (read, store reachable) and at the end (log, register, move
aliases), so a failure leaves the registry and the predictions as they were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from models_ml import evaluation
from models_ml.behaviour import direction_violations
from models_ml.candidates import CANDIDATES, CandidateResult, fit_candidate
from models_ml.config import MLConfig
from models_ml.dataset import Split
from models_ml.errors import ModelError
from models_ml.features import FeatureSchema, check_columns, infer_schema, prepare_inputs
from models_ml.promotion import Decision, integration_checks, metric_gate, move_alias, record
from models_ml.registry import CHALLENGER, CHAMPION, alias_version, connect, load_version
from models_ml.sampling import read_sampled_split
from models_ml.threads import compute_limits
from models_ml.tracking import (
    artifact_root,
    experiment_id,
    log_training_run,
    training_run_record,
)


@dataclass
class TrainResult:
    """What `train` did."""

    run_id: str
    version: str
    chosen: str
    metrics: dict[str, float]
    snapshot: dict[str, object]
    promoted: bool
    reasons: list[str] = field(default_factory=list)


def fit_candidates(
    split: Split, schema: FeatureSchema, cfg: MLConfig, names: tuple[str, ...] = CANDIDATES
) -> dict[str, CandidateResult]:
    """Fit, calibrate and evaluate every candidate (pure); fit and calibration rows carry
    the split's sample weights, the holdout is scored as it is."""
    y = {
        part: getattr(split, part)[cfg.label_column].to_numpy(dtype=int)
        for part in ("fit", "calibration", "holdout")
    }
    X = {
        part: prepare_inputs(getattr(split, part), schema)
        for part in ("fit", "calibration", "holdout")
    }
    results = {}
    for name in names:
        started = time.perf_counter()
        model = fit_candidate(
            name,
            X["fit"],
            y["fit"],
            X["calibration"],
            y["calibration"],
            schema,
            cfg.candidates,
            w_fit=split.weights.get("fit"),
            w_cal=split.weights.get("calibration"),
        )
        seconds = time.perf_counter() - started
        p = model.predict_proba(X["holdout"])[:, 1]
        sample = X["holdout"].iloc[: cfg.integration_sample_rows]
        results[name] = CandidateResult(
            name,
            model,
            evaluation.holdout_metrics(y["holdout"], p),
            p,
            direction_violations(model, sample, schema, cfg.candidates),
            seconds,
        )
    return results


def choose(results: dict[str, CandidateResult], cfg: MLConfig) -> CandidateResult:
    """The best candidate on the primary metric among those where more activity never
    raises risk (the behaviour is a requirement, not a tie-breaker)."""
    lower = cfg.primary_metric in {"brier", "log_loss"}
    behaved = [r for r in results.values() if not any(r.direction_violations.values())]
    if not behaved:
        raise ModelError(
            "no candidate keeps 'more activity never raises risk': "
            + "; ".join(f"{r.name}: {r.direction_violations}" for r in results.values()),
            "check the monotone patterns in CHURN_ML_CANDIDATES (monotone_decreasing)",
        )
    return sorted(behaved, key=lambda r: r.metrics[cfg.primary_metric], reverse=not lower)[0]


def train(
    as_of: date,
    *,
    table: str | None = None,
    settings=None,
    cfg: MLConfig | None = None,
    warehouse=None,
    promote: bool = True,
    actor: str | None = None,
) -> TrainResult:
    """Train on the label-complete snapshots known at `as_of`, register the best candidate
    as challenger and, if `promote`, make it champion when it passes every gate."""
    from warehouse import get_settings, get_warehouse

    settings = settings or get_settings()
    cfg = cfg or MLConfig()
    wh = warehouse or get_warehouse(settings)
    table = table or cfg.training_table
    client = connect(settings.mlflow_uri)  # fail before any work when the store is down
    horizon = settings.churn_horizon_days
    started = time.perf_counter()
    with compute_limits(cfg.threads):
        split = read_sampled_split(wh, table, cfg, as_of, horizon)
        named = [cfg.id_column, cfg.date_column, cfg.label_column]
        schema = infer_schema(split.fit, named)
        results = fit_candidates(split, schema, cfg)
        best = choose(results, cfg)
        X_hold = prepare_inputs(split.holdout, schema)
        record_ = training_run_record(
            best, results, split, schema, X_hold, cfg, table, as_of, horizon
        )
        record_.metrics["train_seconds"] = time.perf_counter() - started
        exp = experiment_id(client, cfg.experiment_name, artifact_root(settings), job="train")
        run_id, model_uri = log_training_run(exp, record_)
        version = _register(client, cfg, model_uri, run_id, best)
        move_alias(
            client,
            wh,
            cfg,
            alias=CHALLENGER,
            version=version,
            action="register",
            actor=actor,
            reason=f"trained as of {as_of} on {table}",
            metrics=best.metrics,
            run_id=run_id,
        )
        decision = Decision(False, ["not considered (--no-promote)"])
        if promote:
            decision = consider(
                client,
                wh,
                cfg,
                version=version,
                run_id=run_id,
                best=best,
                split=split,
                X_hold=X_hold,
                onnx_parity=record_.metrics.get("onnx_parity_max_abs_err"),
                actor=actor,
            )
    return TrainResult(
        run_id,
        version,
        best.name,
        best.metrics,
        split.describe(),
        decision.promote,
        decision.reasons,
    )


def consider(
    client,
    wh,
    cfg: MLConfig,
    *,
    version: str,
    run_id: str,
    best: CandidateResult,
    split: Split,
    X_hold: pd.DataFrame,
    onnx_parity: float | None,
    actor: str | None,
) -> Decision:
    """Promote the challenger when it passes thresholds, is not worse than the champion on
    the same holdout and passes the integration checks; record the outcome either way."""
    champion_metrics, notes = _champion_on(client, cfg, split)
    reasons = metric_gate(best.metrics, champion_metrics, cfg)
    n = cfg.integration_sample_rows
    reasons += integration_checks(
        client, cfg, version, X_hold.iloc[:n], best.holdout_probability[:n], onnx_parity
    )
    metrics = {**best.metrics, **{f"champion_{k}": v for k, v in (champion_metrics or {}).items()}}
    if reasons:
        record(
            wh,
            cfg,
            action="reject",
            alias=None,
            from_version=None,
            to_version=version,
            actor=actor,
            reason="; ".join(reasons + notes),
            metrics=metrics,
            run_id=run_id,
        )
        return Decision(False, reasons + notes, champion_metrics)
    why = "passed thresholds, champion comparison and integration checks"
    move_alias(
        client,
        wh,
        cfg,
        alias=CHAMPION,
        version=version,
        action="promote",
        actor=actor,
        reason="; ".join([why, *notes]),
        metrics=metrics,
        run_id=run_id,
    )
    return Decision(True, [why, *notes], champion_metrics)


def _champion_on(client, cfg: MLConfig, split: Split) -> tuple[dict | None, list[str]]:
    """The current champion's metrics on this challenger's holdout."""
    mv = alias_version(client, cfg.model_name, CHAMPION)
    if mv is None:
        return None, ["no champion yet"]
    champion = load_version(client, cfg.model_name, str(mv.version))
    named = [cfg.id_column, cfg.date_column, cfg.label_column]
    try:
        check_columns(split.holdout, champion.schema, allow_extra=True, named=named)
    except ModelError as exc:
        return None, [f"champion v{mv.version} cannot score this holdout ({exc.problem})"]
    X = prepare_inputs(split.holdout, champion.schema)
    p = champion.model.predict_proba(X)[:, 1]
    y = split.holdout[cfg.label_column].to_numpy(dtype=int)
    return evaluation.holdout_metrics(y, p), [f"compared with champion v{mv.version}"]


def _register(client, cfg: MLConfig, model_uri: str, run_id: str, best: CandidateResult) -> str:
    import mlflow

    mv = mlflow.register_model(model_uri, cfg.model_name)
    for key in ("roc_auc", "pr_auc", "brier", "lift_top_10"):
        client.set_model_version_tag(
            cfg.model_name, mv.version, f"holdout_{key}", f"{best.metrics[key]:.6f}"
        )
    client.set_model_version_tag(cfg.model_name, mv.version, "candidate", best.name)
    return str(mv.version)
