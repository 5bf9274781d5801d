"""Prometheus metrics of every job: pushed to a Pushgateway when one is configured, else
written to a text file (node-exporter textfile format) so that nothing needs a server.

Each job run gets its own registry so that a push replaces exactly that job's group.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from warehouse.settings import Settings, get_settings

NAMESPACE = "churn"


@dataclass
class JobMetrics:
    """The metrics of one job run; `report()` publishes them."""

    job: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r, ns = self.registry, NAMESPACE
        self.duration = Gauge(
            f"{ns}_job_duration_seconds", "Duration of the last run", ["job"], registry=r
        )
        self.rows_in = Gauge(f"{ns}_job_rows_in", "Rows read by the last run", ["job"], registry=r)
        self.rows_out = Gauge(
            f"{ns}_job_rows_out", "Rows written by the last run", ["job"], registry=r
        )
        self.last_success = Gauge(
            f"{ns}_job_last_success_timestamp_seconds",
            "Unix time of the last success",
            ["job"],
            registry=r,
        )
        self.failures = Gauge(
            f"{ns}_job_failed", "1 when the last run failed, else 0", ["job"], registry=r
        )
        self.model_auc = Gauge(
            f"{ns}_model_auc", "ROC-AUC of the model", ["model_version", "kind"], registry=r
        )
        self.drift_share = Gauge(f"{ns}_drift_share", "Share of drifted features", registry=r)
        self.tier_customers = Gauge(
            f"{ns}_customers_per_tier", "Customers per risk tier", ["tier"], registry=r
        )

    def set_flagged(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Rows set aside per (source, reason); declared only by the job that sets it."""
        gauge = Gauge(
            f"{NAMESPACE}_source_rows_flagged",
            "Source rows flagged in staging or quarantined at ingestion",
            ["source", "reason"],
            registry=self.registry,
        )
        for (source, reason), n in counts.items():
            gauge.labels(source=source, reason=reason).set(n)

    def set_tiers(self, counts: Mapping[str, int]) -> None:
        for tier, n in counts.items():
            self.tier_customers.labels(tier=tier).set(n)


def publish(metrics: JobMetrics, settings: Settings | None = None) -> str:
    """Push to the Pushgateway (grouped by job) or write the text file; returns where."""
    settings = settings or get_settings()
    if settings.pushgateway_url:
        push_to_gateway(
            settings.pushgateway_url, job=f"churn_{metrics.job}", registry=metrics.registry
        )
        return settings.pushgateway_url
    path = settings.metrics_file
    if metrics.job:
        path = path.with_name(f"{path.stem}_{metrics.job}{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), metrics.registry)
    return str(path)


@contextmanager
def job_metrics(job: str, settings: Settings | None = None) -> Iterator[JobMetrics]:
    """Time a job, mark success or failure, and publish the metrics whatever happens."""
    metrics = JobMetrics(job)
    started = time.time()
    try:
        yield metrics
    except BaseException:
        metrics.failures.labels(job=job).set(1)
        raise
    else:
        metrics.failures.labels(job=job).set(0)
        metrics.last_success.labels(job=job).set(time.time())
    finally:
        metrics.duration.labels(job=job).set(time.time() - started)
        publish(metrics, settings)
