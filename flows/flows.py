"""The Prefect flows: one per job, plus `weekly` that composes them in order.

Flows only wire `flows.jobs` with retries on what may be transient (a source or the MLflow
store briefly down). `as_of` is explicit; a scheduled run without one takes the local date
it was scheduled for, in its schedule's time zone; any other run without one fails.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task

from flows import jobs
from flows.common import is_transient
from warehouse.settings import get_settings

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

AS_OF_EXAMPLE = "as_of=2026-01-05"


class AsOfRequired(ValueError):
    """A run that no schedule created has no date of its own: the caller must give one."""

    def __init__(self, reason: str = "a manual run or a call outside a scheduled run") -> None:
        super().__init__(f"as_of is required for {reason}: pass the date, e.g. {AS_OF_EXAMPLE}")


def resolve_as_of(as_of: date | None) -> date:
    """The explicit date, or, for a run a deployment schedule created, its local date.

    A scheduled run's date is the day it was scheduled for on the schedule's own clock: the
    Monday 02:00 Asia/Tokyo scoring run (Sunday 17:00 UTC) scores Monday. Anything else
    without a date fails (AsOfRequired) rather than guess from the wall clock: outside a run
    Prefect's `scheduled_start_time` is now(), and a manual run's is the moment it was made.
    """
    if as_of is not None:
        return as_of
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None or not _created_by_schedule(run):
        raise AsOfRequired()
    if run.expected_start_time is None:
        raise AsOfRequired("a scheduled run without a scheduled time")
    zone = _schedule_timezone(run)
    scheduled = run.expected_start_time.astimezone(ZoneInfo(zone))
    day = scheduled.date()
    get_run_logger().info(
        "as_of %s: the run scheduled for %s %s", day, scheduled.strftime("%Y-%m-%d %H:%M"), zone
    )
    return day


def _created_by_schedule(run: FlowRun) -> bool:
    """Whether Prefect's scheduler made this run (and not a person, an API call or a trigger).

    The scheduler marks its runs `auto_scheduled` and records the schedule as their creator;
    a manual run (UI, `prefect deployment run`, `run_deployment`) has neither, although its
    `scheduled_start_time` looks the same.
    """
    by_schedule = run.created_by is not None and run.created_by.type == "SCHEDULE"
    return run.deployment_id is not None and (run.auto_scheduled or by_schedule)


def _schedule_timezone(run: FlowRun) -> str:
    """The IANA time zone of the deployment schedule that created `run`.

    Read from the Prefect API (server or Cloud alike), not from this process's environment:
    the zone that matters is the one the scheduler computed the run's time in, stored on the
    deployment when it was deployed (`timezone: {{ $CHURN_TIMEZONE }}` is resolved then, on
    the deploying machine). The worker running the flow may sit elsewhere, with another
    CHURN_TIMEZONE or none. The run names its schedule (`created_by.id`); if that schedule
    is gone, the deployment's schedules still answer when they agree on one zone.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        schedules = client.read_deployment(run.deployment_id).schedules
    own = [s for s in schedules if run.created_by is not None and s.id == run.created_by.id]
    zones = {getattr(s.schedule, "timezone", None) or "UTC" for s in own or schedules}
    if len(zones) != 1:
        raise AsOfRequired("a scheduled run whose schedule's time zone is not known")
    return zones.pop()


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
