"""Online = batch, alias moves without a restart, health, metrics, 503s and the API key."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import models_ml
from tests.models_ml.fixtures import SCORE_AS_OF, client_for
from tests.serving.conftest import make_client


def test_online_answers_equal_batch_scoring_exactly(client, world):
    models_ml.score(SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse)
    batch = world.warehouse.query(
        "select * from ml.churn_predictions where as_of_date = ?", [SCORE_AS_OF]
    ).set_index("customer_id")
    ids = list(batch.index[:: max(1, len(batch) // 12)])
    online = [
        client.post("/predict", json={"customer_id": c, "as_of_date": str(SCORE_AS_OF)}).json()
        for c in ids[:4]
    ]
    online += client.post(
        "/predict/batch", json={"requests": [{"customer_id": c} for c in ids[4:]]}
    ).json()["predictions"]
    assert len(online) == len(ids)
    for got in online:
        want = batch.loc[got["customer_id"]]
        assert got["churn_probability"] == want["churn_probability"]  # exactly
        assert got["risk_tier"] == want["risk_tier"] and got["risk_rank"] == want["risk_rank"]
        drivers = [want[f"driver_{k}"] for k in (1, 2, 3)]
        assert got["drivers"] == [d for d in drivers if isinstance(d, str)]
        assert got["model_version"] == want["model_version"]


def _served_version(client) -> str:
    return client.get("/health").json()["model"]["version"]


def _wait_for(client, version: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while _served_version(client) != version:
        assert time.monotonic() < deadline, f"version {version} never served"
        time.sleep(0.05)


def test_alias_moves_are_picked_up_without_restart_or_failed_requests(client, world):
    mlflow = client_for(world.settings)
    name = world.cfg.model_name
    first = mlflow.get_model_version_by_alias(name, "champion")
    # a second version of the same trained run: a real registry version, no retraining
    second = mlflow.create_model_version(name, first.source, run_id=first.run_id)
    cid = world.features["customer_id"].iloc[0]
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = client.post("/predict", json={"customer_id": cid})
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.add(response.json()["model_version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    kw = {"settings": world.settings, "cfg": world.cfg, "warehouse": world.warehouse}
    try:
        models_ml.promote(str(second.version), reason="serving test", **kw)
        _wait_for(client, str(second.version))
        models_ml.rollback(reason="serving test done", to_version=str(first.version), **kw)
        _wait_for(client, str(first.version))
        time.sleep(0.2)
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert versions == {str(first.version), str(second.version)}
    metrics = client.get("/metrics").text
    assert f'churn_serving_model_info{{alias="champion",model_name="{name}",version="1"}}' in (
        metrics
    )


def test_health_and_metrics(client):
    health = client.get("/health")
    assert health.status_code == 200
    model = health.json()["model"]
    assert model["name"] == "churn-model" and model["alias"] == "champion"
    assert model["loaded_since"] and model["version"]
    client.post("/predict", json={"customer_id": "nobody"})
    text = client.get("/metrics").text
    assert 'churn_serving_requests_total{endpoint="/predict",method="POST",status="404"}' in text
    assert 'churn_serving_errors_total{endpoint="/predict",status="404"}' in text
    assert 'churn_serving_request_seconds_bucket{endpoint="/predict",le="0.01"}' in text
    assert "churn_serving_model_up 1.0" in text


def test_without_a_champion_every_route_says_503_not_a_traceback(empty_world):
    with make_client(empty_world) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["model"] is None
        assert "no 'champion' version" in health.json()["problem"]
        response = client.post("/predict", json={"customer_id": "C0000001"})
        assert response.status_code == 503
        assert response.json()["error"] == "model_unavailable"
        assert "churn train" in response.json()["message"]
        assert "Traceback" not in response.text
        assert "churn_serving_model_up 0.0" in client.get("/metrics").text


def test_a_locked_warehouse_is_a_503_with_retry_after_or_the_last_read(world):
    cid = world.features["customer_id"].iloc[0]
    path = str(world.settings.warehouse_file)
    holder = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True)"
    holder += "; c.execute('create table if not exists main.lock_probe(x int)'); time.sleep(60)"
    with make_client(world) as warm:
        assert warm.post("/predict", json={"customer_id": cid}).status_code == 200
        writer = subprocess.Popen([sys.executable, "-c", holder, path], stdout=subprocess.PIPE)
        try:
            assert writer.stdout.readline().strip() == b"ok"
            time.sleep(0.2)
            with make_client(world) as cold:
                response = cold.post("/predict", json={"customer_id": cid})
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                assert "the warehouse is busy" in response.json()["message"]
            # a service that already read this snapshot keeps answering from that read
            assert warm.post("/predict", json={"customer_id": cid}).status_code == 200
        finally:
            writer.kill()
            writer.wait()
    world.warehouse.query("select 1")  # the file opens again


def test_the_api_key_guards_scoring_when_configured(world):
    from pydantic import SecretStr

    cid = world.features["customer_id"].iloc[0]
    with make_client(world, api_key=SecretStr("s3cret")) as client:
        missing = client.post("/predict", json={"customer_id": cid})
        assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
        wrong = client.post("/predict", json={"customer_id": cid}, headers={"X-API-Key": "no"})
        assert wrong.status_code == 403
        ok = client.post("/predict", json={"customer_id": cid}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200  # probes stay open
        document = client.get("/openapi.json", headers={"X-API-Key": "s3cret"}).json()
        assert "APIKeyHeader" in document["components"]["securitySchemes"]
