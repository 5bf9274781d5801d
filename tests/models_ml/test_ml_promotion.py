"""Promotion gates, alias moves with their history, manual promote and rollback."""

from __future__ import annotations

import json

import pytest

import models_ml
from models_ml.config import MLConfig, Thresholds
from models_ml.errors import ModelError
from models_ml.promotion import metric_gate
from tests.models_ml.fixtures import TRAIN_AS_OF, client_for

GOOD = {"roc_auc": 0.85, "pr_auc": 0.30, "brier": 0.03, "lift_top_10": 3.0}


def test_gate_requires_absolute_thresholds():
    cfg = MLConfig(thresholds=Thresholds(min_roc_auc=0.9))
    assert any("roc_auc" in r for r in metric_gate(GOOD, None, cfg))
    assert metric_gate(GOOD, None, MLConfig()) == []


def test_gate_compares_with_the_champion_within_a_tolerance():
    cfg = MLConfig(primary_metric="pr_auc", champion_tolerance=0.01)
    assert metric_gate(GOOD, {**GOOD, "pr_auc": 0.305}, cfg) == []
    assert any(
        "worse than the champion" in r for r in metric_gate(GOOD, {**GOOD, "pr_auc": 0.35}, cfg)
    )
    brier = MLConfig(primary_metric="brier", champion_tolerance=0.001)
    assert metric_gate(GOOD, {**GOOD, "brier": 0.0295}, brier) == []
    assert metric_gate(GOOD, {**GOOD, "brier": 0.02}, brier)


def test_promotion_lifecycle_is_gated_archived_and_recorded(env):
    kw = {"settings": env.settings, "warehouse": env.warehouse}
    client = client_for(env.settings)
    name = env.cfg.model_name

    def champion() -> str:
        return str(client.get_model_version_by_alias(name, "champion").version)

    first = models_ml.train(TRAIN_AS_OF, cfg=env.cfg, actor="ana", **kw)
    assert first.promoted and champion() == first.version

    strict = env.cfg.model_copy(update={"thresholds": Thresholds(min_roc_auc=0.99)})
    rejected = models_ml.train(TRAIN_AS_OF, cfg=strict, actor="ana", **kw)
    assert not rejected.promoted and any("roc_auc" in r for r in rejected.reasons)
    assert champion() == first.version
    challenger = client.get_model_version_by_alias(name, "challenger")
    assert str(challenger.version) == rejected.version

    third = models_ml.train(TRAIN_AS_OF, cfg=env.cfg, actor="ana", **kw)
    assert third.promoted, third.reasons  # same data: equal to the champion, within tolerance
    assert champion() == third.version
    assert client.get_model_version(name, first.version).tags.get("archived") == "true"

    before, after = models_ml.rollback(reason="bad week", actor="bo", cfg=env.cfg, **kw)
    assert (before, after) == (third.version, first.version) and champion() == first.version
    assert "archived" not in client.get_model_version(name, first.version).tags

    assert (
        models_ml.promote(third.version, reason="fixed", actor="bo", cfg=env.cfg, **kw)
        == first.version
    )
    assert champion() == third.version

    history = models_ml.history(cfg=env.cfg, **kw)
    moves = list(
        zip(history["action"], history["from_version"], history["to_version"], strict=True)
    )
    assert moves == [
        ("register", None, first.version),
        ("promote", None, first.version),
        ("register", first.version, rejected.version),
        ("reject", None, rejected.version),
        ("register", rejected.version, third.version),
        ("promote", first.version, third.version),
        ("rollback", third.version, first.version),
        ("manual_promote", first.version, third.version),
    ]
    promoted = history[history["action"] == "promote"].iloc[-1]
    assert "champion_pr_auc" in json.loads(promoted["metrics"])
    assert promoted["actor"] == "ana" and history["reason"].str.len().gt(0).all()
    assert history["promoted_at"].is_monotonic_increasing


def test_rollback_without_an_earlier_champion_is_a_clear_error(trained):
    world, _ = trained
    with pytest.raises(ModelError, match="no earlier champion"):
        models_ml.rollback(
            reason="x", settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
        )
