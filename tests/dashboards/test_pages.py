"""Every page of the app under streamlit's AppTest: the data shows, filters work, the action
form refuses bad input with a message and saves good input once, and a warehouse with nothing
published (or nothing scored) shows what to run instead of a traceback."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.cs_actions_store import list_actions, today
from dashboards.save_effect import episode_counts
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
    as_of = read_app_table("at_risk_customers", app_env.settings).as_of_date.max()
    assert at.date_input(key="action_date").value == min(pd.Timestamp(as_of).date(), today())

    at.text_input(key="action_by").input("   ")
    at.text_area(key="action_note").input("agreed a discount for the renewal")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert at.error, "an empty 'performed by' must be refused with a message"
    assert "Say who performed the action" in at.error[0].value
    assert len(list_actions(app_env.settings, customer_id=customer)) == before
    # what was typed is still there to correct
    assert at.text_area(key="action_note").value == "agreed a discount for the renewal"

    at.text_input(key="action_by").input("Dana CS")
    at.selectbox(key="action_outcome").set_value("retained")
    at.date_input(key="action_date").set_value(today() + timedelta(days=30))
    next(b for b in at.button if b.label == "Save action").click().run()
    assert at.error and "is in the future" in at.error[0].value
    assert len(list_actions(app_env.settings, customer_id=customer)) == before
    assert at.text_input(key="action_by").value == "Dana CS"
    assert at.text_area(key="action_note").value == "agreed a discount for the renewal"
    assert at.selectbox(key="action_outcome").value == "retained"

    at.date_input(key="action_date").set_value(date(2025, 12, 30))
    next(b for b in at.button if b.label == "Save action").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.success and "Saved contacted of 2025-12-30" in at.success[0].value
    after = list_actions(app_env.settings, customer_id=customer)
    assert len(after) == before + 1
    saved = after.iloc[0]
    assert (saved.performed_by, saved.outcome, saved.action_type, saved.note) == (
        "Dana CS",
        "retained",
        "contacted",
        "agreed a discount for the renewal",
    )
    assert pd.Timestamp(saved.action_at).date() == date(2025, 12, 30)
    # a saved action leaves a fresh form, and a rerun does not save it again
    assert at.text_area(key="action_note").value == ""
    at.run()
    assert not at.success
    assert len(list_actions(app_env.settings, customer_id=customer)) == before + 1


def test_at_risk_list_shows_since_when_high_accounts_are_high(app_env):
    customers = read_app_table("at_risk_customers", app_env.settings).set_index("customer_id")
    at = _run(PAGES["at_risk"])
    shown = at.dataframe[0].value.set_index("Customer")
    high = customers.risk_tier == "High"
    assert high.any()
    want = pd.to_datetime(customers.loc[high, "high_since"]).dt.date
    assert shown.loc[want.index, "High since"].tolist() == want.tolist()
    assert shown.loc[customers.index[~high], "High since"].isna().all()
    # the customer view of a High account says since when
    target = customers[high].sort_values("risk_rank").iloc[0]
    at.text_input(key="search").input(target.name).run()
    tier = next(m for m in at.metric if m.label == "Tier")
    assert tier.delta == f"since {pd.Timestamp(target.high_since):%Y-%m-%d}"


def test_risk_trends_page_by_segment(app_env):
    at = _run(PAGES["trends"])
    assert "High-risk accounts" in _text(at)
    assert "Tier definition" in _text(at)
    at.radio(key="segment_type").set_value("Plan").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"High", "Medium", "Low", "Mean risk"} <= set(table.columns)


def test_save_rate_page_leads_with_the_randomized_result(app_env):
    effect = read_app_table("save_effect", app_env.settings)
    row = effect[effect.cumulative].iloc[0]
    assert row.control_n >= 1 and row.treated_n >= 1, "the fixture has passed control episodes"
    at = _run(PAGES["save_rate"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Churn, listed (treated)"] == f"{row.treated_churn_rate * 100:.1f}%"
    assert metrics["Churn, control"] == f"{row.control_churn_rate * 100:.1f}%"
    assert metrics["Effect (control − listed)"] == f"{row.effect * 100:+.1f} pts"
    assert metrics["Saves implied (customers)"] == f"{row.saved_customers:+.1f}"
    text = _text(at)
    assert f"{row.treated_churned} of {row.treated_n} customers churned within 28 days" in text
    assert f"{row.control_churned} of {row.control_n} customers churned within 28 days" in text
    assert f"95% interval [{row.ci_low * 100:.1f}, {row.ci_high * 100:.1f}] pts" in text
    assert "**Listed customers churned " in text
    assert not at.warning, "the split matches the configured share"
    months = at.dataframe[0].value
    assert list(months["Month"]) == sorted(
        pd.to_datetime(effect[~effect.cumulative].scoring_month).dt.strftime("%Y-%m")
    )
    # the contacted-vs-not view stays, below and labelled as not randomized
    subheaders = [h.value for h in at.subheader]
    assert subheaders == [
        "Listed vs control group (randomized)",
        "Contacted vs not contacted — not randomized: CS chooses whom to call",
    ]
    labels = [m.label for m in at.metric]
    assert "Save rate, contacted" in labels and "Save rate, not contacted" in labels
    assert labels.index("Churn, control") < labels.index("Save rate, contacted")


def _edited_snapshot(app_env, tmp_path, monkeypatch, *statements: str) -> None:
    """A copy of the published snapshot with `statements` applied, for the app to read."""
    path = tmp_path / "edited.duckdb"
    shutil.copy(app_env.settings.app_snapshot_file, path)
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)
    monkeypatch.setenv("CHURN_APP_SNAPSHOT_PATH", str(path))


def test_save_rate_page_without_passed_control_episodes_says_not_enough(
    app_env, tmp_path, monkeypatch
):
    # as the marts read before any control episode had passed its horizon
    _edited_snapshot(
        app_env,
        tmp_path,
        monkeypatch,
        "delete from marts.high_risk_episodes where holdout_group = 'control' and horizon_passed",
        "update marts.save_effect set control_n = 0, control_churned = 0, "
        "control_churn_rate = null, effect = null, ci_low = null, ci_high = null, "
        "saved_customers = null, saved_mrr = null, observed_control_share = 0",
    )
    counts = episode_counts(read_app_table("high_risk_episodes", path=tmp_path / "edited.duckdb"))
    at = _run(PAGES["save_rate"])
    info = " ".join(i.value for i in at.info)
    assert "Not enough customers yet" in info
    assert (
        f"{counts['treated'].passed} listed (treated) and 0 control episodes have passed their "
        f"horizon ({counts['treated'].open} and {counts['control'].open} still open)"
    ) in info
    assert "Churn, control" not in [m.label for m in at.metric]
    assert "Save rate, contacted" in [m.label for m in at.metric]


def test_save_rate_page_warns_when_the_split_does_not_match(app_env, tmp_path, monkeypatch):
    _edited_snapshot(
        app_env,
        tmp_path,
        monkeypatch,
        "update marts.save_effect set srm_mismatch = true, srm_p_value = 0.0002 where cumulative",
    )
    at = _run(PAGES["save_rate"])
    assert at.warning and "do not trust this estimate" in at.warning[0].value
    assert "p = 0.0002" in at.warning[0].value


def test_model_health_page(app_env):
    health = read_app_table("model_health", app_env.settings).iloc[0]
    at = _run(PAGES["health"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion"] == f"v{health.champion_version}"
    assert "score" in metrics, "the last score run is shown"
    assert health.drift_status in metrics["Feature drift"]
    assert pd.notna(health.champion_since)

    # the control-group assignment, on this page only (admins): every held-out customer listed
    cases = read_app_table("high_risk_cases", app_env.settings)
    control = set(cases.loc[cases["holdout_group"] == "control", "customer_id"])
    listed = [df.value for df in at.dataframe if "still_active_at_horizon" in df.value.columns]
    if control:
        assert listed and set(listed[0]["customer_id"]) == control
    else:
        assert any("kept off the CS list yet" in i.value for i in at.info)


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
