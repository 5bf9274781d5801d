"""The Prefect flows: one per job, plus `weekly` that composes them in order.

Flows only wire `flows.jobs` with retries on what may be transient (a source or the MLflow
store briefly down). `as_of` is explicit; a scheduled run without one takes its own scheduled
date (Prefect's runtime), never the wall clock.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, task

from flows import jobs
from flows.common import is_transient
from warehouse.settings import get_settings


def resolve_as_of(as_of: date | None) -> date:
    """The explicit date, or the scheduled date of this flow run (deployments)."""
    if as_of is not None:
        return as_of
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise ValueError("as_of is required outside a scheduled deployment run")
    return scheduled.date()


def transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry hook
    """Retry only what may pass by itself (see flows.common.is_transient)."""
    return is_transient(state.result(raise_on_failure=False))


_retry = {
    "retry_delay_seconds": get_settings().retry_delay_seconds,
    "retry_condition_fn": transient,
}
ingest_task = task(jobs.ingest_job, name="ingest", retries=2, **_retry)
transform_task = task(jobs.transform_job, name="dbt build", retries=1, **_retry)
train_task = task(jobs.train_job, name="train", retries=1, **_retry)
score_task = task(jobs.score_job, name="score", retries=1, **_retry)
drift_task = task(jobs.drift_job, name="drift", retries=1, **_retry)
outcomes_task = task(jobs.outcomes_job, name="outcomes", retries=1, **_retry)


@flow(name="ingest")
def ingest_flow(as_of: date | None = None) -> int:
    """Load every source into `raw`; returns rows loaded."""
    return ingest_task(resolve_as_of(as_of)).total_rows


@flow(name="transform")
def transform_flow(as_of: date | None = None, marts: bool = False) -> int:
    """`dbt build` of every layer up to features (or of the marts); returns tests passed."""
    return transform_task(resolve_as_of(as_of), marts=marts).tests_passed


@flow(name="refresh")
def refresh_flow(as_of: date | None = None) -> int:
    """Daily: ingest then `dbt build` up to the features; returns tests passed."""
    day = resolve_as_of(as_of)
    ingest_task(day)
    return transform_task(day).tests_passed


@flow(name="train")
def train_flow(as_of: date | None = None, stop_on_rejection: bool = True) -> bool:
    """Train, gate and promote or reject; returns whether a new champion was promoted."""
    return train_task(resolve_as_of(as_of), stop_on_rejection=stop_on_rejection).promoted


@flow(name="score")
def score_flow(as_of: date | None = None) -> dict[str, int]:
    """Score with the champion, rebuild the marts, notify CS; returns customers per tier."""
    day = resolve_as_of(as_of)
    result = score_task(day)
    transform_task(day, marts=True)
    return result.tiers


@flow(name="drift")
def drift_flow(as_of: date | None = None, retrain_on_severe: bool = True) -> str:
    """Drift check; a severe one retrains (and, if promoted, the next scoring uses it)."""
    day = resolve_as_of(as_of)
    result = drift_task(day)
    if result.status == "severe" and retrain_on_severe:
        train_flow(day)
    return result.status


@flow(name="outcomes")
def outcomes_flow(as_of: date | None = None) -> int:
    """Predictions vs outcomes per scoring month; returns months evaluated."""
    return len(outcomes_task(resolve_as_of(as_of)))


@flow(name="weekly")
def weekly_flow(
    as_of: date | None = None,
    train: bool = True,
    stop_on_rejection: bool = True,
    retrain_on_severe_drift: bool = True,
) -> dict[str, object]:
    """ingest -> dbt build -> train -> score (+ marts) -> drift, in that order; any failed
    step stops the loop with StepFailed naming it."""
    day = resolve_as_of(as_of)
    ingest_flow(day)
    transform_flow(day)
    promoted = train_flow(day, stop_on_rejection) if train else False
    tiers = score_flow(day)
    drift = drift_flow(day, retrain_on_severe_drift)
    return {"as_of": day, "promoted": promoted, "tiers": tiers, "drift": drift}
