"""Every page of the app under streamlit's AppTest: the data shows, filters work, the action
form refuses bad input with a message and saves good input once, and a warehouse with nothing
published (or nothing scored) shows what to run instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.cs_actions_store import list_actions
from dashboards.snapshot import read_app_table

pytestmark = pytest.mark.slow

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PAGES = {
    "at_risk": DASHBOARDS / "pages" / "at_risk_customers.py",
    "trends": DASHBOARDS / "pages" / "risk_trends.py",
    "save_rate": DASHBOARDS / "pages" / "save_rate.py",
    "health": DASHBOARDS / "pages" / "model_health.py",
}


def _run(path: Path) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    parts += (
        [i.value for i in at.info] + [s.value for s in at.success] + [e.value for e in at.error]
    )
    return "\n".join(parts)


def test_app_entry_point_opens_the_at_risk_list(app_env):
    at = _run(DASHBOARDS / "app.py")
    assert at.title[0].value == "At-risk customers"


def test_at_risk_page_counts_filters_and_sorts(app_env):
    customers = read_app_table("at_risk_customers", app_env.settings)
    at = _run(PAGES["at_risk"])
    assert f"**{len(customers):,} of {len(customers):,} accounts**" in _text(at)
    assert "Tier definition" in _text(at)

    at.pills(key="tier_filter").set_value(["High"]).run()
    high = customers[customers.risk_tier == "High"]
    assert f"**{len(high):,} of {len(customers):,} accounts**" in _text(at)
    shown = at.dataframe[0].value
    assert len(shown) == len(high)
    assert list(shown["Churn risk"]) == sorted(shown["Churn risk"], reverse=True)

    at.selectbox(key="sort").set_value("MRR at risk (highest first)").run()
    shown = at.dataframe[0].value
    assert list(shown["MRR at risk"]) == sorted(shown["MRR at risk"], reverse=True)

    target = high.sort_values("risk_rank").iloc[0]
    at.text_input(key="search").input(target.company_name).run()
    shown = at.dataframe[0].value
    assert target.customer_id in set(shown["Customer"])
    assert f"{target.company_name} · {target.customer_id}" in [s.value for s in at.subheader]

    owner = customers.account_owner.dropna().iloc[0]
    at.text_input(key="search").input("").run()
    at.pills(key="tier_filter").set_value([]).run()
    at.multiselect(key="owner_filter").set_value([owner]).run()
    n = int((customers.account_owner == owner).sum())
    assert f"**{n:,} of {len(customers):,} accounts**" in _text(at)


def test_customer_view_shows_history_drivers_and_app_actions(app_env):
    at = _run(PAGES["at_risk"])
    at.text_input(key="search").input(app_env.app_action_customer).run()
    assert not at.exception
    text = _text(at)
    assert "Why this score" in text and "Recent activity" in text
    # the action logged in the app went through ingestion and dbt into the marts
    frames = [d.value for d in at.dataframe]
    assert any("Logged in" in f.columns and (f["Logged in"] == "this app").any() for f in frames), (
        "the app's CS action should be among the customer's recent actions"
    )


def test_action_form_refuses_bad_input_and_saves_good_input_once(app_env):
    at = _run(PAGES["at_risk"])
    customer = at.selectbox(key="customer_pick").value
    before = len(list_actions(app_env.settings, customer_id=customer))

    at.text_input(key="action_by").input("   ")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert at.error, "an empty 'performed by' must be refused with a message"
    assert "Say who performed the action" in at.error[0].value
    assert len(list_actions(app_env.settings, customer_id=customer)) == before

    at.text_input(key="action_by").input("Dana CS")
    at.selectbox(key="action_outcome").set_value("retained")
    at.text_area(key="action_note").input("agreed a discount for the renewal")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.success and "Saved contacted" in at.success[0].value
    after = list_actions(app_env.settings, customer_id=customer)
    assert len(after) == before + 1
    saved = after.iloc[0]
    assert (saved.performed_by, saved.outcome, saved.action_type) == (
        "Dana CS",
        "retained",
        "contacted",
    )
    # a rerun (refresh, another widget) does not save it again
    at.run()
    assert len(list_actions(app_env.settings, customer_id=customer)) == before + 1


def test_risk_trends_page_by_segment(app_env):
    at = _run(PAGES["trends"])
    assert "High-risk accounts" in _text(at)
    assert "Tier definition" in _text(at)
    at.radio(key="segment_type").set_value("Plan").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"High", "Medium", "Low", "Mean risk"} <= set(table.columns)


def test_save_rate_page_compares_contacted_and_not(app_env):
    at = _run(PAGES["save_rate"])
    labels = [m.label for m in at.metric]
    assert "Save rate, contacted" in labels and "Save rate, not contacted" in labels
    assert "28 days" in _text(at)


def test_model_health_page(app_env):
    health = read_app_table("model_health", app_env.settings).iloc[0]
    at = _run(PAGES["health"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion"] == f"v{health.champion_version}"
    assert "score" in metrics, "the last score run is shown"
    assert health.drift_status in metrics["Feature drift"]
    assert pd.notna(health.champion_since)


@pytest.mark.parametrize("page", list(PAGES))
def test_nothing_published_shows_what_to_run(page, app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CHURN_DATA_DIR", str(tmp_path))
    at = _run(PAGES[page])
    assert any("no published data" in i.value for i in at.info)
    assert any("churn score" in c.value for c in at.code)


@pytest.mark.parametrize("page", ["at_risk", "trends", "save_rate", "health"])
def test_nothing_scored_yet_shows_what_to_run(page, app_env, monkeypatch):
    monkeypatch.setenv("CHURN_APP_SNAPSHOT_PATH", str(app_env.empty_snapshot))
    at = _run(PAGES[page])
    assert at.info, "an empty warehouse explains itself"
    assert any("churn score" in c.value for c in at.code)
