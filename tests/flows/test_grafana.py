"""The Grafana dashboard is valid JSON whose queries name only metrics we actually export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from flows.metrics import JobMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "churn_ops.json"
METRIC = re.compile(r"\bchurn_[a-z_]+")


def _exported() -> set[str]:
    metrics = JobMetrics("probe")
    for gauge in (
        metrics.duration,
        metrics.rows_in,
        metrics.rows_out,
        metrics.failures,
        metrics.last_success,
    ):
        gauge.labels(job="probe").set(1)
    metrics.model_auc.labels(model_version="1", kind="holdout").set(0.8)
    metrics.drift_share.set(0.1)
    metrics.set_tiers({"High": 1})
    names = set(METRIC.findall(generate_latest(metrics.registry).decode()))
    from serving import metrics as serving_metrics

    source = Path(serving_metrics.__file__).read_text()
    names |= set(METRIC.findall(source))
    return names | {f"{n}_bucket" for n in names}


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "churn-ops" and dashboard["panels"]
    exported = _exported()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in METRIC.findall(target["expr"]):
                assert name in exported, f"panel {panel['title']!r} queries unknown {name}"
