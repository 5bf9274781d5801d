"""Prometheus metrics of every job: pushed to a Pushgateway when one is configured, else
written to a text file (node-exporter textfile format) so that nothing needs a server.

Each job run gets its own registry so that a push replaces exactly that job's group, and a
gauge is declared only when the job sets it: seven text files in one textfile-collector
directory, or seven push groups, never carry the same series twice. Every series has the same
`job` label on both paths (`churn_<job>`, the Pushgateway's grouping key), so one dashboard
reads either.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from warehouse.settings import Settings, get_settings

NAMESPACE = "churn"


class Spec(NamedTuple):
    """One job metric: its help text and its labels besides `job`."""

    help: str
    labels: tuple[str, ...] = ()


# every metric a job may publish; the docs' table and the dashboard test read this too
METRICS: dict[str, Spec] = {
    "churn_job_duration_seconds": Spec("Duration of the last run"),
    "churn_job_failed": Spec("1 when the last run failed, else 0"),
    "churn_job_last_success_timestamp_seconds": Spec("Unix time of the last successful run"),
    "churn_job_rows_in": Spec("Rows the last successful run read"),
    "churn_job_rows_out": Spec("Rows the last successful run wrote"),
    "churn_model_auc": Spec("ROC-AUC of a model version", ("model_version", "kind")),
    "churn_drift_share": Spec("Share of the model's features that drifted"),
    "churn_customers_per_tier": Spec("Customers scored per risk tier", ("tier",)),
    "churn_source_rows_flagged": Spec(
        "Source rows flagged in staging or quarantined at ingestion", ("source", "reason")
    ),
}
LAST_SUCCESS = "churn_job_last_success_timestamp_seconds"


def job_label(job: str) -> str:
    """The `job` label of a job's series, in the text file and on the Pushgateway alike.

    Prefixed because Prometheus shares the label with every scraped target and the
    Pushgateway replaces a whole group per `job`: another system's `score` is not ours.
    """
    return f"{NAMESPACE}_{job}"


@dataclass
class JobMetrics:
    """The metrics of one job run; `publish()` sends them. Setters declare their gauge."""

    job: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _gauges: dict[str, Gauge] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return job_label(self.job)

    def _gauge(self, name: str, **labels: str) -> Gauge:
        """The child of metric `name` for this job and `labels`, declared on first use."""
        gauge = self._gauges.get(name)
        if gauge is None:
            spec = METRICS[name]
            gauge = Gauge(name, spec.help, ["job", *spec.labels], registry=self.registry)
            self._gauges[name] = gauge
        return gauge.labels(job=self.label, **labels)

    def set_rows(self, rows_in: int | None = None, rows_out: int | None = None) -> None:
        """Rows read and written, each only when the job measured it."""
        if rows_in is not None:
            self._gauge("churn_job_rows_in").set(rows_in)
        if rows_out is not None:
            self._gauge("churn_job_rows_out").set(rows_out)

    def set_auc(self, model_version: str, kind: str, value: float) -> None:
        """ROC-AUC of `model_version`: `holdout` at training, `outcome` after the horizon."""
        self._gauge("churn_model_auc", model_version=str(model_version), kind=kind).set(value)

    def set_drift_share(self, share: float) -> None:
        self._gauge("churn_drift_share").set(share)

    def set_tiers(self, counts: Mapping[str, int]) -> None:
        for tier, n in counts.items():
            self._gauge("churn_customers_per_tier", tier=tier).set(n)

    def set_flagged(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Rows set aside per (source, reason)."""
        for (source, reason), n in counts.items():
            self._gauge("churn_source_rows_flagged", source=source, reason=reason).set(n)

    def finish(self, seconds: float, failed: bool, last_success: float | None) -> None:
        """The gauges every run sets; a failed run keeps the time of the last success."""
        self._gauge("churn_job_duration_seconds").set(seconds)
        self._gauge("churn_job_failed").set(1 if failed else 0)
        if last_success is not None:
            self._gauge(LAST_SUCCESS).set(last_success)


def textfile(job: str, settings: Settings) -> Path:
    """The text file of one job: `<metrics file stem>_<job>.prom` beside the configured one."""
    path = settings.metrics_file
    return path.with_name(f"{path.stem}_{job}{path.suffix}")


def publish(metrics: JobMetrics, settings: Settings | None = None) -> str:
    """Push to the Pushgateway (grouped by job) or write the text file; returns where."""
    settings = settings or get_settings()
    if settings.pushgateway_url:
        push_to_gateway(settings.pushgateway_url, job=metrics.label, registry=metrics.registry)
        return settings.pushgateway_url
    path = textfile(metrics.job, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), metrics.registry)
    return str(path)


def previous_success(job: str, settings: Settings) -> float | None:
    """The last success this job published, read back from where it publishes; None when
    there is none or it cannot be read (a failure's own metrics must still go out)."""
    try:
        if settings.pushgateway_url:
            url = f"{settings.pushgateway_url.rstrip('/')}/metrics"
            text = urllib.request.urlopen(url, timeout=5).read().decode()
        else:
            text = textfile(job, settings).read_text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and sample.labels.get("job") == job_label(job):
                    return sample.value
    except (OSError, ValueError):
        return None
    return None


@contextmanager
def job_metrics(job: str, settings: Settings | None = None) -> Iterator[JobMetrics]:
    """Time a job, mark success or failure, and publish the metrics whatever happens.

    A failed run publishes its duration, `churn_job_failed 1` and the previous success's
    time (so "hours since last success" keeps counting), and none of its partial results."""
    settings = settings or get_settings()
    metrics = JobMetrics(job)
    started = time.time()
    failed = True
    try:
        yield metrics
        failed = False
    finally:
        if failed:
            # what a failed run set before it broke is not a result: publish only the failure
            metrics = JobMetrics(job)
        last = previous_success(job, settings) if failed else time.time()
        metrics.finish(time.time() - started, failed, last)
        publish(metrics, settings)
