"""The control-group draw and the episodes the scoring job records: a stable keyed draw of the
configured share, one insert-only row per episode, nothing new on a rerun."""

from __future__ import annotations

import math
import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

import models_ml
from models_ml.holdout import CONTROL, TREATED, assign_control, key_id
from tests.models_ml.fixtures import LAST_SNAPSHOT, SCORE_AS_OF
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.interface import WarehouseError

KEY = "test-key"
SHARE = 0.10


def _ids(n: int) -> list[str]:
    return [f"C{i:07d}" for i in range(n)]


def test_the_draw_is_stable_across_reruns_and_row_orders():
    ids = _ids(2000)
    starts = [date(2025, 1, 6) + timedelta(days=7 * (i % 9)) for i in range(len(ids))]
    first = assign_control(ids, starts, SHARE, KEY)
    again = assign_control(ids, starts, SHARE, KEY)
    order = np.random.default_rng(3).permutation(len(ids))
    shuffled = assign_control([ids[i] for i in order], [starts[i] for i in order], SHARE, KEY)
    assert first.dtype == bool and first.any()
    assert (first == again).all()
    assert (shuffled == first[order]).all()
    # dates as timestamps or strings are the same episode start
    as_text = assign_control(ids, [s.isoformat() for s in starts], SHARE, KEY)
    assert (as_text == first).all()


def test_the_control_share_is_the_configured_one_on_10k_customers():
    n = 10_000
    control = assign_control(_ids(n), [date(2025, 3, 3)] * n, SHARE, KEY)
    sigma = math.sqrt(SHARE * (1 - SHARE) / n)
    assert abs(control.mean() - SHARE) < 4 * sigma


def test_each_episode_start_and_key_is_a_new_draw():
    n = 10_000
    ids = _ids(n)
    week1 = assign_control(ids, [date(2025, 3, 3)] * n, SHARE, KEY)
    week2 = assign_control(ids, [date(2025, 3, 10)] * n, SHARE, KEY)
    other_key = assign_control(ids, [date(2025, 3, 3)] * n, SHARE, "another-key")
    # independent draws agree on control about share^2 of the time, not share
    sigma = math.sqrt(SHARE**2 * (1 - SHARE**2) / n)
    for other in (week2, other_key):
        assert abs((week1 & other).mean() - SHARE**2) < 4 * sigma


def test_a_larger_share_keeps_every_control_of_a_smaller_one_and_zero_is_off():
    ids, starts = _ids(3000), [date(2025, 3, 3)] * 3000
    small = assign_control(ids, starts, 0.05, KEY)
    large = assign_control(ids, starts, 0.20, KEY)
    assert small.sum() < large.sum() and not (small & ~large).any()
    assert not assign_control(ids, starts, 0.0, KEY).any()
    with pytest.raises(ValueError):
        assign_control(ids, starts, 1.0, KEY)


def test_insert_new_rows_adds_new_keys_only_and_never_changes_a_stored_row(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    first = pd.DataFrame({"customer_id": ["A", "B"], "episode_start": [date(2025, 1, 6)] * 2})
    first["holdout_group"] = [CONTROL, TREATED]
    assert wh.insert_new_rows(first, "ml.log", ["customer_id", "episode_start"]) == 2
    changed = first.assign(holdout_group=[TREATED, CONTROL])
    new = pd.DataFrame({"customer_id": ["C", "C"], "episode_start": [date(2025, 1, 6)] * 2}).assign(
        holdout_group=[CONTROL, TREATED]
    )
    both = pd.concat([changed, new], ignore_index=True)
    assert wh.insert_new_rows(both, "ml.log", ["customer_id", "episode_start"]) == 1
    stored = wh.query("select * from ml.log order by customer_id")
    assert stored["holdout_group"].tolist() == [CONTROL, TREATED, CONTROL]
    with pytest.raises(WarehouseError, match="null"):
        wh.insert_new_rows(new.assign(customer_id=None), "ml.log", ["customer_id"])


# ---------- the scoring job


def _private(world, tmp_path) -> DuckDBWarehouse:
    """The trained world's warehouse copied, with no predictions or assignments yet (the
    MLflow store stays shared: the runs it gains are harmless)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world.warehouse.path, path)
    wh = DuckDBWarehouse(path)
    for table in ("ml.churn_predictions", "ml.holdout_assignments"):
        if wh.table_exists(table):
            wh.write_table(wh.query(f"select * from {table} limit 0"), table)
    return wh


def _score(world, wh, as_of, **cfg):
    config = world.cfg.model_copy(update={"holdout_share": SHARE, "holdout_key": KEY, **cfg})
    return models_ml.score(as_of, settings=world.settings, cfg=config, warehouse=wh)


def _tiers(wh, as_of) -> pd.Series:
    sql = "select customer_id, risk_tier from ml.churn_predictions where as_of_date = ?"
    return wh.query(sql, [as_of]).set_index("customer_id")["risk_tier"]


def _assignments(wh) -> pd.DataFrame:
    return wh.query("select * from ml.holdout_assignments order by customer_id, episode_start")


def test_scoring_records_new_high_episodes_once_with_the_hashed_group(trained, tmp_path):
    world, _ = trained
    wh = _private(world, tmp_path)
    first = _score(world, wh, LAST_SNAPSHOT)
    before = _tiers(wh, LAST_SNAPSHOT)
    assert first.new_episodes == (before == "High").sum() > 0  # nobody scored before

    result = _score(world, wh, SCORE_AS_OF)
    now = _tiers(wh, SCORE_AS_OF)
    high = set(now.index[now == "High"])
    continuing = {c for c in high if before.get(c) == "High"}
    assert continuing, "some customers are High both weeks: their episode stays open"
    rows = _assignments(wh).query("episode_start == @SCORE_AS_OF")
    assert set(rows["customer_id"]) == high - continuing
    assert result.new_episodes == len(rows) > 0
    drawn = assign_control(rows["customer_id"].tolist(), [SCORE_AS_OF] * len(rows), SHARE, KEY)
    assert (rows["holdout_group"].eq(CONTROL) == drawn).all()
    assert set(rows["holdout_group"]) <= {CONTROL, TREATED}
    assert (rows["share"] == SHARE).all() and (rows["key_id"] == key_id(KEY)).all()
    assert (pd.to_datetime(rows["assigned_at"]) == pd.Timestamp(SCORE_AS_OF)).all()
    assert (rows["model_version"] == result.model_version).all()

    stored = _assignments(wh)
    again = _score(world, wh, SCORE_AS_OF)  # a rerun of the same as_of
    assert again.new_episodes == 0
    pd.testing.assert_frame_equal(_assignments(wh), stored)


def test_share_zero_switches_the_holdout_off(trained, tmp_path):
    world, _ = trained
    wh = _private(world, tmp_path)
    result = _score(world, wh, LAST_SNAPSHOT, holdout_share=0.0)
    assert result.tiers["High"] > 0 and result.new_episodes == 0
    assert not wh.table_exists("ml.holdout_assignments") or _assignments(wh).empty
