"""The holdout group in answers by customer id: the episode rule on hand-written scores in a
real DuckDB warehouse, then /predict and /predict/batch after a real scoring run, which draws
the groups, and the OpenAPI document that describes the field."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

import models_ml
from serving.holdout import open_episode_groups
from tests.models_ml.fixtures import SCORE_AS_OF
from warehouse import Settings, get_warehouse

PREDICTIONS = "ml.churn_predictions"
HOLDOUT = "ml.holdout_assignments"
W1, W2, W3, W4 = date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20), date(2025, 1, 27)


def _scores(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "as_of_date", "risk_tier", "scored_at"])
    return frame.assign(
        as_of_date=pd.to_datetime(frame["as_of_date"]).dt.date,
        scored_at=pd.to_datetime(frame["scored_at"]),
        model_version="1",
    )


def _assignments(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "episode_start", "holdout_group"])
    return frame.assign(
        episode_start=pd.to_datetime(frame["episode_start"]).dt.date,
        assigned_at=pd.to_datetime(frame["episode_start"]),
        model_version="1",
    )


def test_open_episode_groups_follow_the_episode_rule(tmp_path):
    wh = get_warehouse(Settings(_env_file=None, data_dir=tmp_path))
    assert open_episode_groups(wh, W4, PREDICTIONS, HOLDOUT) == {}, "no tables yet: nobody"
    monday = datetime(2025, 1, 27, 6)
    wh.write_table(
        _scores(
            [
                # High since W2, still High: the W2 episode's group
                ("OPEN_C", W1, "Medium", monday), ("OPEN_C", W2, "High", monday),
                ("OPEN_C", W3, "High", monday), ("OPEN_C", W4, "High", monday),
                ("OPEN_T", W3, "High", monday), ("OPEN_T", W4, "High", monday),
                # the episode ended at W4: no group any more
                ("ENDED", W2, "High", monday), ("ENDED", W4, "Low", monday),
                # High again from W4: a new episode, with its own draw
                ("AGAIN", W1, "High", monday), ("AGAIN", W2, "Medium", monday),
                ("AGAIN", W4, "High", monday),
                # High before the holdout existed: untracked, no group
                ("UNTRACKED", W1, "High", monday), ("UNTRACKED", W4, "High", monday),
                # W4 rescored: the later batch (Medium) ends the episode
                ("RESCORED", W3, "High", monday), ("RESCORED", W4, "High", monday),
                ("RESCORED", W4, "Medium", datetime(2025, 1, 28, 9)),
                # a week not scored neither starts nor ends an episode
                ("GAP", W1, "High", monday), ("GAP", W4, "High", monday),
            ]
        ),
        PREDICTIONS,
    )  # fmt: skip
    wh.write_table(
        _assignments(
            [
                ("OPEN_C", W2, "control"), ("OPEN_T", W3, "treated"),
                ("ENDED", W2, "control"), ("AGAIN", W1, "treated"), ("AGAIN", W4, "control"),
                ("RESCORED", W3, "control"), ("GAP", W1, "control"),
            ]
        ),
        HOLDOUT,
    )  # fmt: skip
    assert open_episode_groups(wh, W4, PREDICTIONS, HOLDOUT) == {
        "OPEN_C": "control",
        "OPEN_T": "treated",
        "AGAIN": "control",
        "GAP": "control",
    }
    # at an earlier date only the weeks scored by then count
    assert open_episode_groups(wh, W3, PREDICTIONS, HOLDOUT) == {
        "OPEN_C": "control",
        "OPEN_T": "treated",
        "ENDED": "control",
        "RESCORED": "control",
        "GAP": "control",
    }


def test_answers_by_id_carry_the_group_drawn_by_scoring(client, world):
    models_ml.score(SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse)
    drawn = world.warehouse.query(
        f"select customer_id, holdout_group from {HOLDOUT} where episode_start = ?",
        [SCORE_AS_OF],
    ).set_index("customer_id")["holdout_group"]
    control = list(drawn[drawn == "control"].index[:3])
    treated = list(drawn[drawn == "treated"].index[:3])
    assert control and treated, "the first scoring draws both groups among the High customers"
    others = [c for c in world.features["customer_id"] if c not in drawn.index][:3]

    for cid in control + treated + others:
        body = client.post("/predict", json={"customer_id": cid}).json()
        assert body["holdout_group"] == drawn.get(cid), cid
        assert (body["risk_tier"] == "High") == (cid in drawn.index)

    ids = control + treated + others
    out = client.post(
        "/predict/batch",
        json={"requests": [{"customer_id": c, "as_of_date": str(SCORE_AS_OF)} for c in ids]},
    ).json()["predictions"]
    assert [p["holdout_group"] for p in out] == [drawn.get(c) for c in ids]


def test_a_payload_has_no_group(client, world):
    cid = world.features["customer_id"].iloc[0]
    schema = client.get("/model").json()["features"]
    features = {f["name"]: None for f in schema}
    body = client.post("/predict", json={"customer_id": cid, "features": features}).json()
    assert body["source"] == "payload" and body["holdout_group"] is None


def test_openapi_documents_the_group(client):
    prediction = client.get("/openapi.json").json()["components"]["schemas"]["Prediction"]
    field = prediction["properties"]["holdout_group"]
    assert {"enum": ["control", "treated"], "type": "string"} in field["anyOf"]
    assert "control" in field["description"] and "Null" in field["description"]
