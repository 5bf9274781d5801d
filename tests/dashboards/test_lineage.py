"""dbt docs show the whole path: source -> staging -> features -> model (ml exposure) ->
predictions (source written by the model) -> marts -> the app (application exposures), and the
static docs site builds offline."""

from __future__ import annotations

import json
from collections import deque

import pytest

from flows.dbt_runner import run_dbt

pytestmark = pytest.mark.slow

MODEL = "exposure.churn.churn_model"
PREDICTIONS = "source.churn.ml.churn_predictions"
APP_PAGES = {
    "exposure.churn.cs_app_at_risk_customers",
    "exposure.churn.cs_app_risk_trends",
    "exposure.churn.cs_app_save_rate",
    "exposure.churn.cs_app_model_health",
}


@pytest.fixture(scope="module")
def docs(app_data, tmp_path_factory):
    target = tmp_path_factory.mktemp("docs_target")
    run_dbt(["docs", "generate", "--static", "--target-path", str(target)], app_data.settings)
    return target


def _path(manifest: dict, start: str, goal: str) -> list[str]:
    """Shortest path along child_map, where an exposure also leads to the sources whose meta
    says it produces them (the model writes ml.churn_predictions)."""
    children = {k: list(v) for k, v in manifest["child_map"].items()}
    for uid, source in manifest["sources"].items():
        producer = (source.get("meta") or {}).get("produced_by")
        if producer:
            children.setdefault(producer, []).append(uid)
    seen, queue = {start: [start]}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            return seen[node]
        for child in children.get(node, []):
            if child not in seen:
                seen[child] = [*seen[node], child]
                queue.append(child)
    return []


def test_static_docs_site_builds_offline(docs):
    assert (docs / "static_index.html").stat().st_size > 100_000
    assert (docs / "index.html").exists() and (docs / "catalog.json").exists()


def test_manifest_has_the_path_from_source_to_the_app(docs):
    manifest = json.loads((docs / "manifest.json").read_text())
    assert manifest["exposures"][MODEL]["type"] == "ml"
    assert set(manifest["parent_map"][MODEL]) >= {
        "model.churn.training_set",
        "model.churn.customer_features",
    }
    for page in APP_PAGES:
        assert manifest["exposures"][page]["type"] == "application"
        assert all(p.startswith("model.churn.") for p in manifest["parent_map"][page])

    # source -> staging -> ... -> features -> the model, then model -> predictions -> marts -> app
    to_model = _path(manifest, "source.churn.crm.crm_customers", MODEL)
    to_app = _path(manifest, MODEL, "exposure.churn.cs_app_at_risk_customers")
    assert to_model, "no lineage from the CRM source to the model"
    assert to_app, "no lineage from the model to the at-risk page"
    assert to_app[1] == PREDICTIONS
    path = to_model + to_app[1:]
    kinds = [uid.split(".")[0] for uid in path]
    assert kinds[0] == "source" and kinds[-1] == "exposure"
    names = [uid.rsplit(".", 1)[-1] for uid in path]
    assert any(n.startswith("stg_") for n in names[: path.index(MODEL)])
    assert "customer_features" in names[: path.index(MODEL)]
    marts = [uid for uid in path[path.index(PREDICTIONS) :] if uid.startswith("model.")]
    assert marts and all(manifest["nodes"][m]["config"]["schema"] == "marts" for m in marts)
    # and directly: the predictions source feeds every app page
    for page in APP_PAGES - {"exposure.churn.cs_app_model_health"}:
        assert _path(manifest, PREDICTIONS, page), page


def test_app_actions_source_keeps_its_lineage(docs):
    manifest = json.loads((docs / "manifest.json").read_text())
    children = manifest["child_map"]["source.churn.app.app_cs_actions"]
    assert "model.churn.stg_cs__actions" in children
