"""Promotion gates, alias moves with their history, manual promote and rollback; a move
happens whole or not at all, and a version is the number a person wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

import models_ml
from models_ml import errors, promotion
from models_ml.config import MLConfig, Thresholds
from models_ml.errors import ModelError
from models_ml.promotion import metric_gate
from models_ml.registry import connect, load_alias
from tests.models_ml.fixtures import (
    TRAIN_AS_OF,
    Env,
    client_for,
    make_env,
    make_settings,
    small_config,
)
from warehouse import WarehouseError, get_warehouse

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


# ---------- all or nothing, and the version a person writes


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory, mlflow_template) -> Path:
    """A world with versions 1, 2 and 3 of one trained model, each promoted in turn: 3 is
    champion, 1 and 2 are archived. Tests work on copies (`world`)."""
    root = tmp_path_factory.mktemp("three_versions")
    env = make_env(root, mlflow_template)
    kw = {"settings": env.settings, "cfg": env.cfg, "warehouse": env.warehouse}
    assert models_ml.train(TRAIN_AS_OF, **kw).promoted
    client = client_for(env.settings)
    first = client.get_model_version(env.cfg.model_name, "1")
    for version in ("2", "3"):
        client.create_model_version(env.cfg.model_name, first.source, first.run_id)
        models_ml.promote(version, reason=f"set up {version}", **kw)
    return root


@pytest.fixture
def world(three_versions, tmp_path) -> Env:
    """A copy of the three-version world (registry and warehouse), writes waiting 0.3 s."""
    for path in three_versions.iterdir():
        if path.name.startswith(("mlflow.db", "warehouse.duckdb")):
            shutil.copy(path, tmp_path / path.name)
    settings = make_settings(tmp_path, warehouse_write_wait_seconds=0.3)
    empty = pd.DataFrame()
    return Env(settings, small_config(), get_warehouse(settings), empty, empty)


def _state(world: Env) -> dict:
    """Everything a promotion may change in the registry."""
    client = client_for(world.settings)
    name = world.cfg.model_name
    aliases = {}
    for alias in ("champion", "challenger"):
        try:
            aliases[alias] = str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            aliases[alias] = None
    return {
        "aliases": aliases,
        "version_tags": {v: client.get_model_version(name, v).tags for v in ("1", "2", "3")},
        "model_tags": client.get_registered_model(name).tags,
    }


def _history(world: Env) -> list[tuple]:
    rows = world.warehouse.read_table(world.cfg.promotions_table)
    return list(zip(rows["action"], rows["from_version"], rows["to_version"], strict=True))


def _kw(world: Env) -> dict:
    return {"settings": world.settings, "cfg": world.cfg, "warehouse": world.warehouse}


def _promote_with_client(world: Env, version: str):
    """promotion.promote with a real client of this world, whose methods a test may patch."""
    client = connect(world.settings.mlflow_uri)
    return client, lambda: promotion.promote(
        version, client=client, warehouse=world.warehouse, cfg=world.cfg, reason="test"
    )


@contextmanager
def _held_by_another_process(path: Path) -> Iterator[None]:
    """A second process holding the DuckDB file open read-write, as an open app or job does."""
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True)"
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "; time.sleep(120)", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_promote_changes_nothing_while_another_process_holds_the_warehouse(world):
    before, history = _state(world), _history(world)
    assert before["aliases"]["champion"] == "3"
    with _held_by_another_process(world.settings.warehouse_file):
        with pytest.raises(ModelError) as failed:
            models_ml.promote("2", reason="lock test", **_kw(world))
        assert _state(world) == before
    message = str(failed.value)
    assert isinstance(failed.value, errors.PromotionError)
    assert "another process holds the warehouse" in message and "nothing was changed" in message
    assert str(world.settings.data_dir) not in message and "\n" not in message
    assert _history(world) == history


def test_rollback_after_a_failed_promotion_returns_to_the_champion_before_it(world):
    with _held_by_another_process(world.settings.warehouse_file), pytest.raises(ModelError):
        models_ml.promote("2", reason="lock test", **_kw(world))
    assert models_ml.rollback(reason="back", **_kw(world)) == ("3", "2")
    assert _state(world)["aliases"]["champion"] == "2"
    assert _history(world)[-1] == ("rollback", "3", "2")


def test_a_registry_step_failing_after_the_alias_moved_restores_alias_and_tags(world, monkeypatch):
    before, history = _state(world), _history(world)
    client, promote = _promote_with_client(world, "1")
    real = client.set_model_version_tag
    failed = []

    def archive_fails_once(name, version, key, value):
        if key == "archived" and not failed:  # the old champion is archived after the move
            failed.append(str(client.get_model_version_by_alias(name, "champion").version))
            raise MlflowException("the registry went away")
        return real(name, version, key, value)

    monkeypatch.setattr(client, "set_model_version_tag", archive_fails_once)
    with pytest.raises(errors.PromotionError, match="the registry went away"):
        promote()
    assert failed == ["1"]  # the alias had moved when the step failed
    assert _state(world) == before and _history(world) == history


def test_a_failed_history_write_after_the_registry_steps_restores_everything(world, monkeypatch):
    before, history = _state(world), _history(world)
    real = world.warehouse.append_rows

    def write_fails(df, name):
        if len(df):  # the history row: every registry step is done by now
            raise WarehouseError("disk full")
        return real(df, name)

    monkeypatch.setattr(world.warehouse, "append_rows", write_fails)
    with pytest.raises(errors.PromotionError, match="disk full"):
        models_ml.promote("1", reason="test", **_kw(world))
    monkeypatch.undo()
    assert _state(world) == before and _history(world) == history


def test_readers_see_the_recorded_champion_until_the_move_is_recorded(world, monkeypatch):
    client = client_for(world.settings)
    name = world.cfg.model_name
    seen = {}
    real = world.warehouse.append_rows

    def look_then_write(df, table):
        if len(df):
            seen["alias"] = str(client.get_model_version_by_alias(name, "champion").version)
            seen["scoring"] = load_alias(client, name, "champion").version
        return real(df, table)

    monkeypatch.setattr(world.warehouse, "append_rows", look_then_write)
    models_ml.promote("1", reason="test", **_kw(world))
    assert seen == {"alias": "1", "scoring": "3"}
    assert load_alias(client, name, "champion").version == "1"


CRASH = """
import os, sys
from pathlib import Path
from models_ml import promotion
from models_ml.registry import connect
from tests.models_ml.fixtures import make_settings, small_config
from warehouse import get_warehouse

settings = make_settings(Path(sys.argv[1]))
warehouse = get_warehouse(settings)
write = warehouse.append_rows
def die_before_the_history_row(df, name):
    if len(df):
        os._exit(3)
    write(df, name)
warehouse.append_rows = die_before_the_history_row
client = connect(settings.mlflow_uri)
promotion.promote("2", client=client, warehouse=warehouse, cfg=small_config(), reason="x")
"""


def test_a_move_left_half_way_by_a_process_that_died_is_undone_by_the_next(world):
    before, history = _state(world), _history(world)
    root = Path(__file__).resolve().parents[2]
    died = subprocess.run(
        [sys.executable, "-c", CRASH, str(world.settings.data_dir)], cwd=root, check=False
    )
    assert died.returncode == 3
    client = client_for(world.settings)
    name = world.cfg.model_name
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    assert load_alias(client, name, "champion").version == "3"  # what scoring uses

    assert models_ml.promote("1", reason="after the crash", **_kw(world)) == "3"
    after = _state(world)
    assert after["aliases"]["champion"] == "1" and after["model_tags"] == before["model_tags"]
    assert after["version_tags"]["2"] == before["version_tags"]["2"]
    assert _history(world) == [*history, ("manual_promote", "3", "1")]


@pytest.mark.parametrize("text", ["2", "02", " v2 ", 2])
def test_a_version_is_read_as_its_number(text):
    from models_ml.registry import parse_version

    assert parse_version(text) == 2


def test_promote_02_promotes_and_records_version_2_so_rollback_returns_to_3(world):
    assert models_ml.promote("02", reason="leading zero", **_kw(world)) == "3"
    state = _state(world)
    assert state["aliases"]["champion"] == "2" and "archived" not in state["version_tags"]["2"]
    assert _history(world)[-1] == ("manual_promote", "3", "2")
    assert models_ml.rollback(reason="back", **_kw(world)) == ("2", "3")


def test_latest_is_refused_with_the_accepted_forms(world):
    before = _state(world)
    with pytest.raises(errors.VersionError) as refused:
        models_ml.promote("latest", reason="test", **_kw(world))
    assert "'latest' is not accepted" in str(refused.value)
    assert "version number such as 3" in refused.value.fix
    assert _state(world) == before


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "'abc' is not a model version"),
        ("0", "versions start at 1"),
        ("-1", "'-1' is not a model version"),
        ("99", "has no version 99"),
    ],
)
def test_a_bad_version_is_a_clear_error_and_changes_nothing(world, text, problem):
    before, history = _state(world), _history(world)
    with pytest.raises(errors.VersionError) as refused:
        models_ml.promote(text, reason="test", **_kw(world))
    assert problem in refused.value.problem and "\n" not in str(refused.value)
    if text == "99":
        assert "registered versions: 1, 2, 3" in refused.value.fix
    assert _state(world) == before and _history(world) == history
