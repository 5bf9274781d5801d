"""The at-risk list's rules on a few hand-made rows: filters combine, search ignores case, every
sort order (ties included), the headline numbers (first scored week included), newly High as
the scoring alert counts it, the tables, and texts that follow the configured churn horizon.
The last tests check the page shows those numbers on the built warehouse."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.at_risk import (
    SORTS,
    Filters,
    actions_table,
    filter_customers,
    headline,
    list_table,
    list_totals,
    mrr_at_risk_help,
    previous_high_count,
    search_mask,
    sort_customers,
    top_drivers,
    unpublished_actions,
)
from dashboards.data import tier_definition
from warehouse.settings import Settings

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
COLUMNS = [
    "customer_id", "company_name", "risk_tier", "previous_tier", "account_owner", "plan",
    "industry", "churn_probability", "probability_change", "mrr", "mrr_at_risk",
]  # fmt: skip
ROWS = [
    ("C1", "Acme Corp", "High", "Medium", "Ann", "Pro", "Retail", 0.9, 0.2, 1000.0, 900.0),
    ("C2", "Beta LLC", "High", "High", "Bob", "Basic", "Retail", 0.8, 0.05, 500.0, 400.0),
    ("C3", "Acme Labs", "High", None, "Ann", "Basic", "Media", 0.7, None, 200.0, 140.0),
    ("C4", "Delta", "Medium", "High", "Ann", "Pro", "Retail", 0.5, -0.3, 2000.0, 1000.0),
    ("C5", "Echo", "Low", "Low", "Bob", "Pro", "Media", 0.1, 0.0, 300.0, 30.0),
    ("C6", None, "Low", "Medium", "Cy", "Pro", "Retail", 0.1, -0.1, 100.0, 10.0),
]


@pytest.fixture()
def customers() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


def _cutoffs(high_by_week: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": pd.to_datetime(list(high_by_week)),
            "model_version": "3",
            "high_min_probability": 0.6,
            "medium_min_probability": 0.3,
            "high_customers": list(high_by_week.values()),
            "medium_customers": 10,
            "low_customers": 100,
        }
    )


def _ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["customer_id"])


# ---------- search and filters


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ACME", ["C1", "C3"]),
        ("acme labs", ["C3"]),
        ("  c4 ", ["C4"]),
        ("c6", ["C6"]),  # no company name: found by id
        ("c.", []),  # literal text, not a pattern ("c." would match "cm" in "acme")
        ("", ["C1", "C2", "C3", "C4", "C5", "C6"]),
        ("   ", ["C1", "C2", "C3", "C4", "C5", "C6"]),
        (None, ["C1", "C2", "C3", "C4", "C5", "C6"]),
    ],
)
def test_search_ignores_case_and_spaces_and_matches_name_or_id(customers, search, expected):
    assert _ids(customers[search_mask(customers, search)]) == expected


def test_no_filter_keeps_every_row_in_order(customers):
    assert _ids(filter_customers(customers, Filters())) == ["C1", "C2", "C3", "C4", "C5", "C6"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(tiers=["High"]), ["C1", "C2", "C3"]),
        (Filters(tiers=["High"], owners=["Ann"]), ["C1", "C3"]),
        (Filters(tiers=["High"], owners=["Ann"], plans=["Basic"]), ["C3"]),
        (Filters(tiers=["High"], owners=["Ann"], plans=["Basic"], segments=["Retail"]), []),
        (Filters(tiers=["High", "Medium"], segments=["Retail"]), ["C1", "C2", "C4"]),
        (Filters(owners=["Ann", "Bob"], plans=["Pro"]), ["C1", "C4", "C5"]),
        (Filters(tiers=["High"], search="acme"), ["C1", "C3"]),
        (Filters(tiers=["Low"], search="acme"), []),
        (Filters(segments=["Media"], search="c5"), ["C5"]),
    ],
)
def test_filters_combine(customers, filters, expected):
    assert _ids(filter_customers(customers, filters)) == expected


# ---------- sort orders


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # C5 and C6 tie at 0.1: they keep the order they came in
        ("Risk (highest first)", ["C1", "C2", "C3", "C4", "C5", "C6"]),
        ("MRR at risk (highest first)", ["C4", "C1", "C2", "C3", "C5", "C6"]),
        # C3 was never scored before (no change): last
        ("Risk increase since last week", ["C1", "C2", "C5", "C6", "C4", "C3"]),
        # no company name: last
        ("Company name", ["C1", "C3", "C2", "C4", "C5", "C6"]),
    ],
)
def test_sort_orders(customers, label, expected):
    assert _ids(sort_customers(customers, label)) == expected


def test_every_sort_label_is_tested():
    assert list(SORTS) == [
        "Risk (highest first)",
        "MRR at risk (highest first)",
        "Risk increase since last week",
        "Company name",
    ]


def test_ties_keep_the_incoming_order(customers):
    reversed_rows = customers.iloc[::-1]
    assert _ids(sort_customers(reversed_rows, "Risk (highest first)")) == [
        "C1", "C2", "C3", "C4", "C6", "C5",
    ]  # fmt: skip
    shuffled = customers.assign(mrr_at_risk=5.0).iloc[[3, 0, 5, 1, 4, 2]]
    assert _ids(sort_customers(shuffled, "MRR at risk (highest first)")) == [
        "C4", "C1", "C6", "C2", "C5", "C3",
    ]  # fmt: skip


def test_unknown_sort_label_is_refused(customers):
    with pytest.raises(KeyError):
        sort_customers(customers, "Newest first")


# ---------- headline numbers


def test_headline_numbers(customers):
    # cutoffs in no particular order: the previous week is the second latest by date
    cutoffs = _cutoffs({"2025-01-13": 7, "2025-01-20": 3, "2025-01-06": 1})
    numbers = headline(customers, cutoffs)
    assert numbers.high_accounts == 3
    assert numbers.high_change == -4  # 3 now, 7 in the week of 2025-01-13
    assert numbers.high_mrr == 1700.0
    assert numbers.expected_mrr_at_risk == 2480.0
    # C1 went Medium -> High, C3 has no previous score; C2 was High already
    assert numbers.newly_high_accounts == 2


@pytest.mark.parametrize("cutoffs", [None, _cutoffs({"2025-01-06": 3}), _cutoffs({})])
def test_first_scored_week_has_no_change(customers, cutoffs):
    numbers = headline(customers, cutoffs)
    assert numbers.high_change is None
    assert (numbers.high_accounts, numbers.newly_high_accounts) == (3, 2)
    assert previous_high_count(cutoffs) is None


def test_previous_high_count_is_the_second_latest_week():
    assert previous_high_count(_cutoffs({"2025-01-06": 9, "2025-01-13": 4})) == 9


def test_a_customer_never_scored_before_counts_as_newly_high():
    frame = pd.DataFrame(
        {
            "risk_tier": ["High", "High", "High", "Medium", "Low"],
            "previous_tier": [None, float("nan"), "High", None, "High"],
            "mrr": [10.0, 20.0, 40.0, 80.0, 160.0],
            "mrr_at_risk": [1.0, 2.0, 4.0, 8.0, 16.0],
        }
    )
    numbers = headline(frame, None)
    assert numbers.newly_high_accounts == 2
    assert numbers.high_accounts == 3
    assert numbers.high_mrr == 70.0
    assert numbers.expected_mrr_at_risk == 31.0


def test_headline_of_a_week_without_high(customers):
    numbers = headline(
        customers[customers.risk_tier != "High"], _cutoffs({"2025-01-06": 2, "2025-01-13": 0})
    )
    assert (numbers.high_accounts, numbers.high_change, numbers.high_mrr) == (0, -2, 0.0)
    assert numbers.newly_high_accounts == 0


def test_list_totals(customers):
    totals = list_totals(filter_customers(customers, Filters(owners=["Ann"])))
    assert (totals.accounts, totals.mrr, totals.mrr_at_risk) == (3, 3200.0, 2040.0)
    empty = list_totals(customers.iloc[0:0])
    assert (empty.accounts, empty.mrr, empty.mrr_at_risk) == (0, 0.0, 0.0)


# ---------- tables


def _with_details(customers: pd.DataFrame) -> pd.DataFrame:
    return customers.assign(
        driver_1=["few logins", "a", None, "", "x", None],
        driver_2=[None, "b", None, "y", "", None],
        driver_3=["open tickets", "c", None, None, "z", None],
        last_cs_contact_at=[pd.Timestamp("2025-01-02 09:30"), None, None, None, None, None],
        high_since=pd.to_datetime(["2024-12-16", "2024-11-04", "2025-01-06", None, None, None]),
    )


def test_top_drivers_leave_out_missing_and_blank(customers):
    rows = _with_details(customers)
    assert top_drivers(rows.iloc[0]) == ["few logins", "open tickets"]
    assert top_drivers(rows.iloc[1]) == ["a", "b", "c"]
    assert top_drivers(rows.iloc[2]) == []


def test_list_table(customers):
    table = list_table(_with_details(customers))
    assert list(table.columns) == [
        "Company", "Customer", "Tier", "High since", "Churn risk", "Change (pts)", "Why",
        "Owner", "Plan", "MRR", "MRR at risk", "Last CS contact",
    ]  # fmt: skip
    assert table["High since"].iloc[1] == pd.Timestamp("2024-11-04").date()
    assert table["High since"].iloc[3:].isna().all()
    assert list(table["Why"]) == ["few logins; open tickets", "a; b; c", "", "y", "x; z", ""]
    assert table["Churn risk"].tolist() == pytest.approx([90, 80, 70, 50, 10, 10])
    assert table["Change (pts)"].iloc[0] == pytest.approx(20)
    assert math.isnan(table["Change (pts)"].iloc[2])
    assert table["Last CS contact"].iloc[0] == pd.Timestamp("2025-01-02").date()
    assert pd.isna(table["Last CS contact"].iloc[1])


def test_list_table_of_no_rows_has_the_columns(customers):
    table = list_table(_with_details(customers).iloc[0:0])
    assert table.empty and "Why" in table.columns


def test_list_table_of_a_snapshot_without_high_since_leaves_it_blank(customers):
    table = list_table(_with_details(customers).drop(columns="high_since"))
    assert table["High since"].isna().all()


def _actions(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "action_id": ids,
            "customer_id": "C1",
            "action_type": ["contacted", "offer_made", "contacted"][: len(ids)],
            "action_at": pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02"][: len(ids)]),
            "performed_by": "Dana",
            "outcome": None,
            "note": "called",
        }
    )


def test_unpublished_actions_leave_out_what_the_marts_hold():
    logged = _actions(["A1", "A2", "A3"])
    assert list(unpublished_actions(logged, _actions(["A2"]))["action_id"]) == ["A1", "A3"]
    assert list(unpublished_actions(logged, pd.DataFrame())["action_id"]) == ["A1", "A2", "A3"]


def test_actions_table_newest_first_with_readable_names():
    published = _actions(["A1", "A2", "A3"]).assign(source_system=["crm", "app", "crm"])
    table = actions_table(published)
    assert list(table.columns) == ["When", "Action", "By", "Outcome", "Note", "Logged in"]
    assert list(table["Action"]) == ["offer made", "contacted", "contacted"]
    assert list(table["Logged in"]) == ["this app", "CRM", "CRM"]
    # the app's own store has no source system
    assert "Logged in" not in actions_table(_actions(["A1"])).columns


# ---------- the churn horizon in the texts


def test_mrr_at_risk_help_follows_the_horizon():
    assert mrr_at_risk_help(14) == (
        "Sum of MRR × churn probability: the MRR expected to cancel within 14 days."
    )


def test_tier_definition_follows_the_configured_horizon(monkeypatch):
    cutoffs = _cutoffs({"2025-01-06": 5, "2025-01-13": 3})
    assert "within the next 14 days;" in tier_definition(cutoffs, horizon_days=14)
    monkeypatch.setenv("CHURN_CHURN_HORIZON_DAYS", "42")
    text = tier_definition(cutoffs)
    assert "within the next 42 days;" in text
    assert "28" not in text
    monkeypatch.delenv("CHURN_CHURN_HORIZON_DAYS")
    default = Settings().churn_horizon_days
    assert f"within the next {default} days;" in tier_definition(cutoffs)


# ---------- the page, on the built warehouse


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(DASHBOARDS / "pages" / page), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_page_headline_counts_newly_high_as_the_scoring_alert_does(app_env):
    from dashboards.snapshot import read_app_table

    customers = read_app_table("at_risk_customers", app_env.settings)
    cutoffs = read_app_table("risk_tier_cutoffs", app_env.settings).sort_values("as_of_date")
    high = customers.risk_tier == "High"
    newly = high & (customers.previous_tier.isna() | (customers.previous_tier != "High"))
    metrics = {m.label: m for m in _run("at_risk_customers.py").metric}
    assert metrics["High-risk accounts"].value == f"{int(high.sum()):,}"
    change = int(high.sum()) - int(cutoffs.iloc[-2].high_customers)
    assert metrics["High-risk accounts"].delta == f"{change:+,} vs last week"
    assert metrics["Newly High this week"].value == f"{int(newly.sum()):,}"


@pytest.mark.slow
def test_pages_state_the_configured_horizon(app_env, monkeypatch):
    monkeypatch.setenv("CHURN_CHURN_HORIZON_DAYS", "14")
    at = _run("at_risk_customers.py")
    assert any("within the next 14 days;" in c.value for c in at.caption)
    metrics = {m.label: m for m in at.metric}
    assert "within 14 days." in metrics["Expected MRR at risk (all accounts)"].help
    health = _run("model_health.py")
    texts = [i.value for i in health.info] + [
        str(c.proto.spec) for c in health.get("vega_lite_chart")
    ]
    assert any("14-day" in t for t in texts)
    assert not any("28-day" in t for t in texts)
