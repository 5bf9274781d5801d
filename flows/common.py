"""What every flow shares: failing loudly with the step's name, metrics and an alert."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flows.alerts import Alert, AlertDeliveryError, send
from flows.metrics import JobMetrics, job_metrics
from warehouse.redaction import redact
from warehouse.settings import Settings, get_settings

log = logging.getLogger("churn.flows")


class StepFailed(RuntimeError):
    """A step of the loop failed; the message names the step, and the cause is chained."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step '{step}' failed: {type(cause).__name__}: {cause}")
        self.step = step


def notify(alert: Alert, settings: Settings, step: str | None = None) -> None:
    """Send an alert. A webhook that is down fails `step` (named), after the log line:
    nobody would otherwise learn that CS never got the news. Without a step (the alert of a
    failure already being raised) it is only logged, so it cannot mask the real error."""
    try:
        send(alert, settings)
    except AlertDeliveryError as exc:
        log.error("alert %s not delivered: %s", alert.event, exc)
        if step is not None:
            raise StepFailed(f"{step}: notify", exc) from exc


TRANSIENT = (ConnectionError, TimeoutError, OSError)


def is_transient(error: BaseException | None) -> bool:
    """A connection refused, a timeout or a locked file may pass by itself; a failed dbt test
    or a rejected model would fail the same way again."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, TRANSIENT) or "lock" in str(error).lower():
            return True
        error, seen = error.__cause__, seen + 1
    return False


def _will_retry(error: BaseException) -> bool:
    """True inside a Prefect task attempt that Prefect will retry: alert once, at the end."""
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    if context is None:
        return False
    attempts_left = context.task.retries + 1 - context.task_run.run_count
    return attempts_left > 0 and is_transient(error)


@contextmanager
def job(step: str, settings: Settings | None = None) -> Iterator[JobMetrics]:
    """Run one job: metrics always, a `job_failed` alert and a StepFailed on any error."""
    settings = settings or get_settings()
    try:
        with job_metrics(step, settings) as metrics:
            yield metrics
    except StepFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is reported, then re-raised
        if _will_retry(exc):
            log.warning("churn job '%s' failed, will retry: %s", step, exc)
        else:
            lines = (redact(str(exc))[:500],)
            notify(Alert("job_failed", "critical", f"churn job '{step}' failed", lines), settings)
        raise StepFailed(step, exc) from exc
