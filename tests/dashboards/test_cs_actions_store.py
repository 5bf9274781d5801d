"""The CS app's own store of actions: validation, one row per saved action, the contract's
columns (what ingestion's app_actions source lands in raw.app_cs_actions)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboards.cs_actions_store import (
    ActionInvalid,
    CsAction,
    list_actions,
    record_action,
    today,
    validate,
)
from warehouse.settings import Settings

CONTRACT_COLUMNS = [
    "action_id",
    "customer_id",
    "action_type",
    "action_at",
    "performed_by",
    "outcome",
    "note",
]


@pytest.fixture()
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path)


def test_good_action_is_saved_with_the_contract_columns(settings):
    action_id = record_action(
        CsAction("C0000001", "offer_made", "Alice", "pending", "20% off renewal"), settings
    )
    rows = list_actions(settings)
    assert list(rows.columns) == CONTRACT_COLUMNS
    assert rows.iloc[0].action_id == action_id and action_id.startswith("APP-")
    engine = sa.create_engine(settings.app_actions_db)
    columns = [c["name"] for c in sa.inspect(engine).get_columns("cs_actions")]
    engine.dispose()
    assert columns == CONTRACT_COLUMNS


def test_same_action_id_is_saved_once(settings):
    action = CsAction("C0000001", "contacted", "Alice", action_id="APP-FIXED")
    record_action(action, settings)
    record_action(action, settings)
    assert len(list_actions(settings)) == 1


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (CsAction("", "contacted", "Alice"), "Choose a customer"),
        (CsAction("C1", "emailed", "Alice"), "Action must be one of"),
        (CsAction("C1", "contacted", "  "), "Say who performed"),
        (CsAction("C1", "contacted", "Alice", outcome="maybe"), "Outcome must be one of"),
        (CsAction("C1", "contacted", "Alice", note="x" * 2001), "longer than 2000"),
        (
            CsAction("C1", "contacted", "Alice", action_at=datetime.now() + timedelta(days=2)),
            "future",
        ),
        (
            CsAction("C1", "contacted", "Alice", action_date=today() + timedelta(days=1)),
            "is in the future",
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_written(settings, action, message):
    with pytest.raises(ActionInvalid, match=message):
        record_action(action, settings)
    assert list_actions(settings).empty


def test_unknown_customer_is_refused():
    problems = validate(CsAction("C9", "contacted", "Alice"), known_customers={"C1"})
    assert problems == ["Customer C9 is not on the at-risk list."]


def test_no_store_yet_lists_nothing_and_creates_nothing(settings):
    assert list_actions(settings).empty
    assert not (settings.data_dir / "app").exists()


def test_the_action_date_is_stored_as_that_day(settings):
    """A past day is stored as its start; today as the moment it was logged."""
    record_action(
        CsAction("C1", "contacted", "Alice", action_date=date(2025, 12, 19), action_id="APP-1"),
        settings,
    )
    before = datetime.now()
    record_action(
        CsAction("C1", "offer_made", "Alice", action_date=today(), action_id="APP-2"), settings
    )
    saved = list_actions(settings).set_index("action_id")["action_at"]
    assert saved["APP-1"] == datetime(2025, 12, 19)
    # stored in UTC: within a day of the local clock, and not a midnight
    assert abs(saved["APP-2"] - before) < timedelta(days=1)
    assert saved["APP-2"] != datetime.combine(today(), datetime.min.time())
