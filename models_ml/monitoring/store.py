"""Rows the monitoring jobs keep in the warehouse (`monitoring.*`), one row per check/run."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pandas as pd

from models_ml.monitoring.drift import DriftResult
from warehouse import Warehouse

DRIFT_CHECKS = "monitoring.drift_checks"
DRIFT_FEATURES = "monitoring.drift_features"
MODEL_OUTCOMES = "monitoring.model_outcomes"
JOB_RUNS = "monitoring.job_runs"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def save_drift(wh: Warehouse, result: DriftResult, model_version: str, report_path: str) -> str:
    """One row per check and one per feature; a rerun for the same as_of replaces both."""
    check_id = uuid.uuid4().hex
    checks = pd.DataFrame(
        [
            {
                "check_id": check_id,
                "as_of_date": result.as_of,
                "model_version": model_version,
                "reference_rows": result.reference_rows,
                "current_rows": result.current_rows,
                "features_checked": len(result.per_feature),
                "features_drifted": int(result.per_feature.drifted.sum()),
                "drift_share": result.drift_share,
                "status": result.status,
                "report_path": report_path,
                "checked_at": _now(),
            }
        ]
    )
    features = result.per_feature.assign(check_id=check_id, as_of_date=result.as_of)
    wh.replace_rows(checks, DRIFT_CHECKS, {"as_of_date": result.as_of})
    wh.replace_rows(features, DRIFT_FEATURES, {"as_of_date": result.as_of})
    return check_id


def save_outcomes(wh: Warehouse, outcomes: pd.DataFrame, as_of: date) -> None:
    """The monthly outcomes as computed at `as_of` (months re-evaluated replace themselves)."""
    if outcomes.empty:
        return
    wh.replace_rows(outcomes, MODEL_OUTCOMES, {"checked_as_of": as_of})


def save_job_run(wh: Warehouse, job: str, as_of: date, status: str, detail: str) -> None:
    """One row per job run, for the app's model-health page."""
    row = pd.DataFrame(
        [
            {
                "job": job,
                "as_of_date": as_of,
                "status": status,
                "detail": detail[:2000],
                "finished_at": _now(),
            }
        ]
    )
    wh.append_rows(row, JOB_RUNS)
