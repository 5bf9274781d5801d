"""Prometheus metrics of one app: requests, latency, errors and the served model version.

A registry per app (not the global one) so two apps in one process (tests, reloads) never
collide; a pure ASGI middleware because a BaseHTTPMiddleware costs a task per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from serving.model_holder import ModelHolder

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ModelCollector(Collector):
    """The served version, read from the holder at scrape time (never stale)."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "churn_serving_model_info",
            "1 for the model version being served",
            labels=["model_name", "version", "alias"],
        )
        since = GaugeMetricFamily(
            "churn_serving_model_loaded_timestamp_seconds", "when the served version was loaded"
        )
        up = GaugeMetricFamily("churn_serving_model_up", "1 when a model is loaded")
        served = self.holder.served
        if served is not None:
            info.add_metric([served.loaded.name, served.loaded.version, served.alias], 1)
            since.add_metric([], served.loaded_since.timestamp())
        up.add_metric([], 1 if served is not None else 0)
        yield info
        yield since
        yield up


class Metrics:
    """The app's metrics and the registry /metrics exposes."""

    def __init__(self, holder: ModelHolder) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churn_serving_requests_total",
            "HTTP requests by route, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "churn_serving_errors_total",
            "answers with status >= 400 by route and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churn_serving_request_seconds",
            "request latency by route",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "churn_serving_predictions_total",
            "customers scored, by source (warehouse snapshot or payload)",
            ["source"],
            registry=self.registry,
        )
        self.registry.register(ModelCollector(holder))

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()


class MetricsMiddleware:
    """Times every HTTP request; labels by route template (bounded), 'unmatched' otherwise."""

    def __init__(self, app, metrics: Metrics) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message) -> None:  # noqa: ANN001 - ASGI
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                endpoint, scope["method"], status[0], time.perf_counter() - started
            )
