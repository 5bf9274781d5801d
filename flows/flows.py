"""The Prefect flows: one per job, plus `weekly` that composes them in order.

Flows only wire `flows.jobs` with retries on what may be transient (a source or the MLflow
store briefly down). `as_of` is explicit; a scheduled run without one takes its own scheduled
date (Prefect's runtime), never the wall clock.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, task

from flows import jobs


def resolve_as_of(as_of: date | None) -> date:
    """The explicit date, or the scheduled date of this flow run (deployments)."""
    if as_of is not None:
        return as_of
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise ValueError("as_of is required outside a scheduled deployment run")
    return scheduled.date()


ingest_task = task(jobs.ingest_job, name="ingest", retries=2, retry_delay_seconds=30)
transform_task = task(jobs.transform_job, name="dbt build")
train_task = task(jobs.train_job, name="train", retries=1, retry_delay_seconds=30)
score_task = task(jobs.score_job, name="score", retries=1, retry_delay_seconds=30)
drift_task = task(jobs.drift_job, name="drift", retries=1, retry_delay_seconds=30)
outcomes_task = task(jobs.outcomes_job, name="outcomes", retries=1, retry_delay_seconds=30)


@flow(name="ingest")
def ingest_flow(as_of: date | None = None) -> int:
    """Load every source into `raw`; returns rows loaded."""
    return ingest_task(resolve_as_of(as_of)).total_rows


@flow(name="transform")
def transform_flow(as_of: date | None = None, select: str | None = None) -> int:
    """`dbt build`; returns tests passed."""
    return transform_task(resolve_as_of(as_of), select=select).tests_passed


@flow(name="train")
def train_flow(as_of: date | None = None) -> bool:
    """Train, gate and promote or reject; returns whether a new champion was promoted."""
    return train_task(resolve_as_of(as_of)).promoted


@flow(name="score")
def score_flow(as_of: date | None = None) -> dict[str, int]:
    """Score with the champion, rebuild the marts, notify CS; returns customers per tier."""
    day = resolve_as_of(as_of)
    result = score_task(day)
    transform_task(day, select="marts")
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
def weekly_flow(as_of: date | None = None, train: bool = True) -> dict[str, object]:
    """ingest -> dbt build -> train -> score (+ marts) -> drift, in that order."""
    day = resolve_as_of(as_of)
    ingest_flow(day)
    transform_flow(day)
    promoted = train_flow(day) if train else False
    tiers = score_flow(day)
    drift = drift_flow(day)
    return {"as_of": day, "promoted": promoted, "tiers": tiers, "drift": drift}
