"""/predict and /predict/batch: by id, by payload, batch order, and the 4xx that name fields."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models_ml.fixtures import SCORE_AS_OF


def _payload(world, customer_id: str) -> dict:
    row = world.features.set_index("customer_id").loc[customer_id]
    out = {}
    for name, value in row.drop("as_of_date").items():
        if value is None or (not isinstance(value, str) and bool(np.isnan(float(value)))):
            out[name] = None
        elif isinstance(value, bool | np.bool_):
            out[name] = bool(value)
        elif isinstance(value, str):
            out[name] = value
        else:
            out[name] = float(value)
    return out


def test_predict_by_id_defaults_to_the_latest_snapshot(client, world):
    cid = world.features["customer_id"].iloc[0]
    body = client.post("/predict", json={"customer_id": cid}).json()
    assert body["as_of_date"] == SCORE_AS_OF.isoformat() and body["source"] == "warehouse"
    assert 0 <= body["churn_probability"] <= 1 and body["risk_rank"] >= 1
    assert body["risk_tier"] in {"High", "Medium", "Low"} and len(body["drivers"]) <= 3
    assert body["model_version"] == "1"


def test_a_payload_scores_like_the_same_customer_by_id(client, world):
    for cid in world.features["customer_id"].iloc[:5]:
        by_id = client.post("/predict", json={"customer_id": cid}).json()
        sent = {"customer_id": cid, "features": _payload(world, cid)}
        by_payload = client.post("/predict", json=sent).json()
        assert by_payload["source"] == "payload" and by_payload["risk_rank"] is None
        assert by_payload["churn_probability"] == pytest.approx(
            by_id["churn_probability"], abs=1e-12
        )
        assert by_payload["drivers"] == by_id["drivers"]
        assert by_payload["risk_tier"] == by_id["risk_tier"]  # thresholds, no capacity here


def test_batch_answers_in_order_mixing_ids_and_payloads(client, world):
    ids = list(world.features["customer_id"].iloc[:6])
    requests = [{"customer_id": c} for c in ids[:3]] + [
        {"customer_id": c, "features": _payload(world, c)} for c in ids[3:]
    ]
    out = client.post("/predict/batch", json={"requests": requests}).json()["predictions"]
    assert [p["customer_id"] for p in out] == ids
    assert [p["source"] for p in out] == ["warehouse"] * 3 + ["payload"] * 3


def test_unseen_categories_are_scored_like_batch(client, world):
    features = _payload(world, world.features["customer_id"].iloc[0])
    features["plan"] = "platinum"  # never seen in training: weighs nothing, as in batch
    response = client.post("/predict", json={"features": features})
    assert response.status_code == 200, response.text


def _fields(response) -> list[str]:
    return [f["field"] for f in response.json()["fields"]]


def test_bad_requests_name_the_field(client, world):
    cid = world.features["customer_id"].iloc[0]
    unknown = client.post("/predict", json={"customer_id": "C9999999"})
    assert unknown.status_code == 404 and _fields(unknown) == ["customer_id"]
    no_date = client.post("/predict", json={"customer_id": cid, "as_of_date": "2030-01-07"})
    assert no_date.status_code == 404 and _fields(no_date) == ["as_of_date"]

    features = _payload(world, cid)
    features.pop("mrr")
    features["plan"] = 3
    features["logins_30d"] = "many"
    features["has_discount"] = 1
    features["shoe_size"] = 42.0
    bad = client.post("/predict", json={"features": features})
    assert bad.status_code == 422
    assert set(_fields(bad)) == {
        "features.mrr",
        "features.plan",
        "features.logins_30d",
        "features.has_discount",
        "features.shoe_size",
    }
    assert "missing" in bad.json()["message"] or "features.mrr" in bad.json()["message"]

    for body, field in [
        ({}, "customer_id"),
        ({"customer_id": cid, "as_of_date": "2025-13-45"}, "as_of_date"),
        ({"customer_id": cid, "as_of_date": 20250106}, "as_of_date"),
        ({"customer_id": 42}, "customer_id"),
        ({"customer_id": cid, "colour": "red"}, "colour"),
    ]:
        response = client.post("/predict", json=body)
        assert response.status_code == 422 and field in _fields(response)[0], response.text

    batch = client.post(
        "/predict/batch", json={"requests": [{"customer_id": cid}, {"customer_id": "nobody"}]}
    )
    assert batch.status_code == 404 and _fields(batch) == ["requests[1].customer_id"]
    too_many = client.post("/predict/batch", json={"requests": [{"customer_id": cid}] * 1001})
    assert too_many.status_code == 422 and _fields(too_many) == ["requests"]
    garbage = client.post("/predict", content=b"{not json", headers={"content-type": "x/json"})
    assert garbage.status_code == 422 and garbage.json()["error"] == "invalid_request"


def test_a_version_is_checked_against_the_model_on_its_first_payload_only(
    client, world, monkeypatch
):
    """The drivers-add-up check runs the model a second time: once per served version, not
    on every request; a version that fails it answers 500 on every payload."""
    from models_ml.scoring import local

    calls: list[int] = []
    model_probability = local._model_probability

    def counted(loaded, X):
        calls.append(len(X))
        return model_probability(loaded, X)

    monkeypatch.setattr(local, "_model_probability", counted)
    ids = list(world.features["customer_id"].iloc[:3])
    for cid in ids:
        response = client.post("/predict", json={"features": _payload(world, cid)})
        assert response.status_code == 200
    assert calls == [1]

    client.app.state.predictor._parity_checked.clear()
    monkeypatch.setattr(local, "_model_probability", lambda loaded, X: counted(loaded, X) + 0.1)
    for cid in ids[:2]:
        response = client.post("/predict", json={"features": _payload(world, cid)})
        assert response.status_code == 500
        assert "do not add up" not in response.text  # no internals in an error answer
    assert calls == [1, 1, 1]
