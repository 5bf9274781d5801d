"""The Grafana dashboard is valid JSON whose queries name only metrics we actually export,
each shown in the unit its value is in. (tests/flows/test_metrics_scrape.py runs every
query against a real Prometheus.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flows.metrics import METRICS

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "churn_ops.json"
METRIC = re.compile(r"\bchurn_[a-z_]+")


def _exported() -> set[str]:
    from serving import metrics as serving_metrics

    names = set(METRICS) | set(METRIC.findall(Path(serving_metrics.__file__).read_text()))
    return names | {f"{n}_bucket" for n in names}


def _panels() -> list[dict]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "churn-ops" and dashboard["panels"]
    return dashboard["panels"]


def test_dashboard_queries_only_exported_metrics() -> None:
    exported = _exported()
    for panel in _panels():
        for target in panel["targets"]:
            for name in METRIC.findall(target["expr"]):
                assert name in exported, f"panel {panel['title']!r} queries unknown {name}"


def test_roc_auc_is_shown_as_the_score_it_is() -> None:
    """ROC-AUC runs from 0 to 1 and is read as 0.86, never as 86%."""
    (panel,) = [p for p in _panels() if any("churn_model_auc" in t["expr"] for t in p["targets"])]
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["unit"] not in {"percent", "percentunit"}
    assert (defaults.get("min"), defaults.get("max")) == (0, 1)
