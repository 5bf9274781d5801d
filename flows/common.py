"""What every flow shares: failing loudly with the step's name, metrics and an alert."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flows.alerts import Alert, AlertDeliveryError, send
from flows.metrics import JobMetrics, job_metrics
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
        notify(
            Alert("job_failed", "critical", f"churn job '{step}' failed", (str(exc)[:500],)),
            settings,
        )
        raise StepFailed(step, exc) from exc


def run_step(step: str, func: Callable, *args, settings: Settings | None = None, **kwargs):  # noqa: ANN201
    """Call one function as a named job."""
    with job(step, settings):
        return func(*args, **kwargs)
