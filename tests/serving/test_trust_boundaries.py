"""What the API lets out and takes in: no credential, machine path or PID in an answer or the
log, bounded bodies both ways, out-of-range numbers named, the documents guarded like /model,
and a snapshot cache bounded by bytes."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time

from fastapi.testclient import TestClient
from pydantic import SecretStr

from serving.app import create_app
from serving.config import DEFAULT_MAX_BODY_BYTES, ServingConfig
from tests.serving.conftest import make_client

PASSWORD = "hunter2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(client: TestClient) -> dict:
    """A complete, valid feature payload for the served model."""
    values = {"numeric": 1.0, "boolean": False, "categorical": "starter"}
    return {f["name"]: values[f["kind"]] for f in client.get("/model").json()["features"]}


def _numeric(client: TestClient) -> str:
    features = client.get("/model").json()["features"]
    return next(f["name"] for f in features if f["kind"] == "numeric")


def test_the_tracking_password_is_in_no_answer_and_no_log_line(empty_world, monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://churn:{PASSWORD}@127.0.0.1:{_free_port()}/"
    caplog.set_level(logging.INFO)
    with make_client(empty_world, mlflow_tracking_uri=uri) as client:
        health = client.get("/health")
        assert health.status_code == 503
        problem = health.json()["problem"]
        assert "churn:***@127.0.0.1" in problem  # the store is still named, for the operator
        scoring = client.post("/predict", json={"customer_id": "C0000001"})
        assert scoring.status_code == 503
        time.sleep(0.5)  # a few background checks of the alias, each logged
    for text in (health.text, scoring.text, caplog.text):
        assert PASSWORD not in text
    assert "churn:***@" in caplog.text


def test_a_busy_warehouse_is_named_not_the_machine(world, caplog):
    cid = world.features["customer_id"].iloc[0]
    path = str(world.settings.warehouse_file)
    holder = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True)"
    holder += "; time.sleep(60)"
    writer = subprocess.Popen([sys.executable, "-c", holder, path], stdout=subprocess.PIPE)
    caplog.set_level(logging.WARNING, logger="serving")
    try:
        assert writer.stdout.readline().strip() == b"ok"
        with make_client(world) as cold:
            response = cold.post("/predict", json={"customer_id": cid})
    finally:
        writer.kill()
        writer.wait()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["message"] == "the warehouse is busy: a job is writing it; retry in 5 s"
    for leak in (path, world.settings.warehouse_file.name, sys.executable, str(writer.pid)):
        assert leak not in response.text
    assert "PID" not in response.text and "lock" not in response.text.lower()
    # the details stay in the server's log
    assert "warehouse read refused" in caplog.text and str(writer.pid) in caplog.text


def test_numbers_out_of_range_are_422_naming_the_field(client):
    name = _numeric(client)
    for raw in ("9" * 400, "-" + "9" * 400, "1e400", "1e13"):
        payload = _payload(client)
        body = json.dumps({"features": payload}).replace(f'"{name}": 1.0', f'"{name}": {raw}')
        response = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (raw[:12], response.status_code, response.text[:200])
        fields = response.json()["fields"]
        assert [f["field"] for f in fields] == [f"features.{name}"]
        assert "9" * 20 not in response.text  # the input is not echoed back


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client):
    unknown = {f"unknown_{i:07d}": i for i in range(400_000)}  # ~9 MB of unknown keys
    body = json.dumps({"features": {**_payload(client), **unknown}}).encode()
    assert len(body) > DEFAULT_MAX_BODY_BYTES
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert f"{DEFAULT_MAX_BODY_BYTES:,} bytes" in response.json()["message"]
    assert len(response.content) < 500
    assert time.perf_counter() - started < 5

    # a chunked body declares no length: counted as it arrives
    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    chunked = client.post("/predict/batch", content=chunks(), headers=headers)
    assert chunked.status_code == 413 and len(chunked.content) < 500
    assert client.post("/predict", json={"features": _payload(client)}).status_code == 200


def test_error_bodies_are_bounded_and_never_echo_huge_inputs(client):
    payload = _payload(client)
    unknown = {f"unknown_{i:06d}": i for i in range(100_000)}
    huge_key = "k" * 100_000
    body = {"features": {**payload, **unknown, huge_key: 1}}
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert len(response.content) < 10_000, len(response.content)
    answer = response.json()
    assert len(answer["fields"]) == 20
    assert "100,001 problems" in answer["message"]
    assert all(len(f["field"]) <= 200 and len(f["message"]) <= 200 for f in answer["fields"])

    # pydantic's own errors too: a batch of 1000 items, each with a wrong key and a huge date
    bad = {"customer_id": "C1", "as_of_date": "x" * 2000, "nope": 1}
    response = client.post("/predict/batch", json={"requests": [bad] * 1000})
    assert response.status_code == 422 and len(response.content) < 10_000
    assert "x" * 300 not in response.text


def test_the_documents_need_the_api_key_like_model(world):
    key = {"X-API-Key": "s3cret"}
    with make_client(world, api_key=SecretStr("s3cret")) as client:
        for path in ("/model", "/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"X-API-Key": "no"}).status_code == 403, path
            assert client.get(path, headers=key).status_code == 200, path
        document = client.get("/openapi.json", headers=key).json()
        assert "APIKeyHeader" in document["components"]["securitySchemes"]
        assert "/openapi.json" not in document["paths"]  # the documents are not operations
        assert client.get("/health").status_code == 200  # probes stay open
    with make_client(world) as open_client:  # no key configured: everything open, as before
        for path in ("/model", "/openapi.json", "/docs", "/redoc"):
            assert open_client.get(path).status_code == 200, path


def _dates_and_customers(world) -> list[tuple[str, str]]:
    frame = world.warehouse.query(
        "select as_of_date, min(customer_id) as c from features.customer_features "
        "group by 1 order by 1"
    )
    return [(str(d.date() if hasattr(d, "date") else d), c) for d, c in frame.itertuples(False)]


def _cache_app(world, cache_bytes: int):
    serving = ServingConfig(poll_seconds=0, warm_latest=False, cache_bytes=cache_bytes)
    return create_app(world.settings, world.cfg, serving)


def _ask(client: TestClient, as_of: str, cid: str) -> None:
    response = client.post("/predict", json={"customer_id": cid, "as_of_date": as_of})
    assert response.status_code == 200, response.text


def test_the_snapshot_cache_keeps_the_dates_that_fit_its_byte_budget(world, caplog):
    dates = _dates_and_customers(world)[-6:-1]  # five weekly snapshots of similar size
    sizes: list[int] = []
    measure = _cache_app(world, cache_bytes=2**40)
    with TestClient(measure) as client:
        for as_of, cid in dates:
            before = measure.state.snapshots.nbytes
            _ask(client, as_of, cid)
            sizes.append(measure.state.snapshots.nbytes - before)
    assert min(sizes) > 10_000

    slack = min(sizes) // 2
    app = _cache_app(world, cache_bytes=sum(sizes[-3:]) + slack)  # the last three dates fit
    cache = app.state.snapshots
    caplog.set_level(logging.INFO, logger="serving")
    with TestClient(app) as client:
        for as_of, cid in dates:
            _ask(client, as_of, cid)
        assert [str(d) for d, _ in cache.cached()] == [d for d, _ in dates[-3:]]
        assert cache.nbytes <= cache.serving.cache_bytes
        caplog.clear()
        for as_of, cid in dates[-3:]:  # held: answered without scoring again
            _ask(client, as_of, cid)
        assert "scored" not in caplog.text
        _ask(client, *dates[0])  # beyond the budget: the least recently used date goes
        assert "scored" in caplog.text
        assert [str(d) for d, _ in cache.cached()] == [d for d, _ in [*dates[-2:], dates[0]]]

    tiny = _cache_app(world, cache_bytes=0)  # a budget below one snapshot still serves it
    with TestClient(tiny) as client:
        for as_of, cid in dates[:2]:
            _ask(client, as_of, cid)
        assert [str(d) for d, _ in tiny.state.snapshots.cached()] == [dates[1][0]]
