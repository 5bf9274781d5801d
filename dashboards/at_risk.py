"""The at-risk list's logic as plain functions of DataFrames: filters, sort orders, the headline
numbers and the tables the page shows.

Kept apart from the Streamlit page so each rule can be tested on a few hand-made rows, and so
"newly High" means here exactly what it means in the scoring alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from models_ml.monitoring.newly_high import HIGH, newly_high

# label shown in the "Sort by" box -> (column, ascending)
SORTS: dict[str, tuple[str, bool]] = {
    "Risk (highest first)": ("churn_probability", False),
    "MRR at risk (highest first)": ("mrr_at_risk", False),
    "Risk increase since last week": ("probability_change", False),
    "Company name": ("company_name", True),
}
DRIVER_COLUMNS = ("driver_1", "driver_2", "driver_3")
# action columns (published or from the app's store) -> the headers CS reads
ACTION_LABELS = {
    "action_at": "When",
    "action_type": "Action",
    "performed_by": "By",
    "outcome": "Outcome",
    "note": "Note",
    "source_system": "Logged in",
}
SOURCE_SYSTEMS = {"crm": "CRM", "app": "this app"}


@dataclass(frozen=True)
class Filters:
    """What the CS manager picked; an empty selection means "no filter" on that column."""

    tiers: Sequence[str] = ()
    owners: Sequence[str] = ()
    plans: Sequence[str] = ()
    segments: Sequence[str] = ()
    search: str = ""


@dataclass(frozen=True)
class Headline:
    """This week's counts in context, for the four metrics above the list."""

    high_accounts: int
    # vs the previous scored week's High count; None in the first scored week
    high_change: int | None
    high_mrr: float
    expected_mrr_at_risk: float
    newly_high_accounts: int


@dataclass(frozen=True)
class ListTotals:
    """Size and money of the accounts the filters leave, for the line above the table."""

    accounts: int
    mrr: float
    mrr_at_risk: float


def search_mask(customers: pd.DataFrame, search: str | None) -> pd.Series:
    """True where the company name or customer id contains `search`, ignoring case and the
    spaces around it, so a pasted id or a half-remembered name both find the account."""
    needle = (search or "").strip().lower()
    if not needle:
        return pd.Series(True, index=customers.index)
    names = customers["company_name"].fillna("").astype(str).str.lower()
    ids = customers["customer_id"].fillna("").astype(str).str.lower()
    return names.str.contains(needle, regex=False) | ids.str.contains(needle, regex=False)


def filter_customers(customers: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows that pass every filter at once (tier, owner, plan, segment and search)."""
    keep = search_mask(customers, filters.search)
    for column, chosen in (
        ("risk_tier", filters.tiers),
        ("account_owner", filters.owners),
        ("plan", filters.plans),
        ("industry", filters.segments),
    ):
        if chosen:
            keep &= customers[column].isin(list(chosen))
    return customers[keep]


def sort_customers(customers: pd.DataFrame, sort_label: str) -> pd.DataFrame:
    """Rows in the order named by a `SORTS` label; missing values last, ties keep their order
    (a stable sort, so the list does not reshuffle between reruns)."""
    column, ascending = SORTS[sort_label]
    return customers.sort_values(column, ascending=ascending, na_position="last", kind="stable")


def previous_high_count(cutoffs: pd.DataFrame | None) -> int | None:
    """High accounts in the scored week before the latest (None when only one week is scored),
    as the tier cutoffs counted them: every account scored that week."""
    if cutoffs is None or len(cutoffs) < 2:
        return None
    ordered = cutoffs.sort_values("as_of_date")
    return int(ordered.iloc[-2]["high_customers"])


def headline(customers: pd.DataFrame, cutoffs: pd.DataFrame | None) -> Headline:
    """The headline numbers of this week's list.

    The High count is of accounts still customers, compared with the previous week's count
    from the cutoffs; newly High uses the definition the scoring alert uses, so a customer
    scored for the first time and High counts as newly High."""
    is_high = customers["risk_tier"].eq(HIGH)
    high = int(is_high.sum())
    previous = previous_high_count(cutoffs)
    newly = newly_high(customers["risk_tier"], customers["previous_tier"])
    return Headline(
        high_accounts=high,
        high_change=None if previous is None else high - previous,
        high_mrr=float(customers.loc[is_high, "mrr"].sum()),
        expected_mrr_at_risk=float(customers["mrr_at_risk"].sum()),
        newly_high_accounts=int(newly.sum()),
    )


def list_totals(shown: pd.DataFrame) -> ListTotals:
    """How many accounts, and how much MRR and expected MRR at risk, the filtered list holds."""
    return ListTotals(
        accounts=len(shown),
        mrr=float(shown["mrr"].sum()),
        mrr_at_risk=float(shown["mrr_at_risk"].sum()),
    )


def _recorded(drivers: Sequence[object]) -> list[str]:
    return [d for d in drivers if isinstance(d, str) and d]


def top_drivers(row: pd.Series) -> list[str]:
    """The customer's recorded drivers, strongest first (missing or blank ones left out)."""
    return _recorded([row.get(c) for c in DRIVER_COLUMNS])


def high_since(shown: pd.DataFrame) -> pd.Series:
    """The first week of each High customer's current High episode, as dates (missing for
    Medium and Low, and in a snapshot published before the column existed)."""
    if "high_since" not in shown.columns:
        return pd.Series(None, index=shown.index, dtype=object)
    return pd.to_datetime(shown["high_since"]).dt.date


def list_table(shown: pd.DataFrame) -> pd.DataFrame:
    """The at-risk table as CS reads it: percentages in points, drivers joined in one column,
    and since when a High account has been High (a week-old case is not a new one)."""
    drivers = shown[list(DRIVER_COLUMNS)].itertuples(index=False)
    why = pd.Series(["; ".join(_recorded(d)) for d in drivers], index=shown.index, dtype=object)
    return pd.DataFrame(
        {
            "Company": shown["company_name"],
            "Customer": shown["customer_id"],
            "Tier": shown["risk_tier"],
            "High since": high_since(shown),
            "Churn risk": shown["churn_probability"] * 100,
            "Change (pts)": shown["probability_change"] * 100,
            "Why": why,
            "Owner": shown["account_owner"],
            "Plan": shown["plan"],
            "MRR": shown["mrr"],
            "MRR at risk": shown["mrr_at_risk"],
            "Last CS contact": pd.to_datetime(shown["last_cs_contact_at"]).dt.date,
        }
    )


def unpublished_actions(logged: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Actions logged in the app that the published marts do not hold yet, so none shows
    twice while a pipeline run has not picked it up."""
    if published.empty:
        return logged
    return logged[~logged["action_id"].isin(published["action_id"])]


def actions_table(actions: pd.DataFrame) -> pd.DataFrame:
    """CS actions newest first, with readable headers, action names and source systems."""
    table = actions.sort_values("action_at", ascending=False)
    table = table[[c for c in ACTION_LABELS if c in table.columns]].rename(columns=ACTION_LABELS)
    table["Action"] = table["Action"].str.replace("_", " ")
    if "Logged in" in table.columns:
        table["Logged in"] = table["Logged in"].map(SOURCE_SYSTEMS)
    return table


def mrr_at_risk_help(horizon_days: int) -> str:
    """What "expected MRR at risk" means, over the horizon the model predicts."""
    return f"Sum of MRR × churn probability: the MRR expected to cancel within {horizon_days} days."
