"""The randomized save effect as the Save rate page states it: when there is enough to say
anything, the one sentence that says it, and the monthly table.

Plain functions of the `save_effect` and `high_risk_episodes` marts, kept apart from the page
so each rule (too few customers, an interval that includes 0, a rough interval) is tested on
hand-made rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# below this many customers in a group the normal approximation behind the 95% interval is
# rough (the usual rule of thumb), so the page says so instead of reading the interval
MIN_RELIABLE_GROUP = 30
# an interval wider than this (in shares: 20 points) cannot tell a useful program from none
WIDE_INTERVAL = 0.20
GROUPS = ("treated", "control")


@dataclass(frozen=True)
class EpisodeCounts:
    """High-risk episodes of one group: how many have passed their horizon, how many not."""

    passed: int
    open: int


@dataclass(frozen=True)
class Readout:
    """What the page leads with: the cumulative estimate, or why there is none yet."""

    enough: bool
    counts: dict[str, EpisodeCounts]
    row: pd.Series | None
    sentence: str
    caution: str | None


def episode_counts(episodes: pd.DataFrame | None) -> dict[str, EpisodeCounts]:
    """Treated and control episodes whose horizon passed, and those still within it."""
    out = {}
    for group in GROUPS:
        if episodes is None or episodes.empty:
            out[group] = EpisodeCounts(0, 0)
            continue
        mine = episodes[episodes["holdout_group"] == group]
        passed = int(mine["horizon_passed"].fillna(False).astype(bool).sum())
        out[group] = EpisodeCounts(passed, len(mine) - passed)
    return out


def cumulative_row(effect: pd.DataFrame | None) -> pd.Series | None:
    """The row over all months (None before any tracked episode passed its horizon)."""
    if effect is None or effect.empty:
        return None
    rows = effect[effect["cumulative"].astype(bool)]
    return None if rows.empty else rows.iloc[0]


def pts(share: float) -> str:
    """0.021 -> '2.1' (percentage points, one decimal)."""
    return f"{share * 100:.1f}"


def interval(row: pd.Series) -> str:
    """'[-1.0, 5.2]' in points."""
    return f"[{pts(row['ci_low'])}, {pts(row['ci_high'])}]"


def _rough(row: pd.Series) -> str | None:
    """Why the interval cannot be read at face value (too few customers in a group, or a
    group where all or none churned, which the approximation gives no spread), or None."""
    treated, control = int(row["treated_n"]), int(row["control_n"])
    group, smallest = ("control", control) if control <= treated else ("treated", treated)
    if smallest < MIN_RELIABLE_GROUP:
        return f"rests on only {smallest:,} {group} customers"
    for g in GROUPS:
        rate = float(row[f"{g}_churn_rate"])
        if rate in (0.0, 1.0):
            which = "no" if rate == 0 else "every"
            return f"understates the uncertainty: {which} {g} customer churned"
    return None


def _sentence(row: pd.Series, rough: str | None) -> str:
    effect = float(row["effect"])
    if abs(effect) < 0.0005:
        head = "Listed customers churned as often as the control group"
    elif effect > 0:
        head = f"Listed customers churned {pts(effect)} pts less than the control group"
    else:
        head = f"Listed customers churned {pts(-effect)} pts more than the control group"
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if rough is not None:
        tail = f"the 95% interval {interval(row)} {rough}, so this could still be chance."
    elif low <= 0 <= high:
        tail = f"the 95% interval {interval(row)} includes 0, so this could be chance."
    elif low > 0:
        tail = f"the 95% interval {interval(row)} is above 0: being on the list kept customers."
    else:
        tail = (
            f"the 95% interval {interval(row)} is below 0: listed customers churned more than "
            "those CS never saw."
        )
    return f"{head}; {tail}"


def _caution(row: pd.Series, rough: str | None) -> str | None:
    """What to keep in mind when reading the interval, or None."""
    if rough is not None:
        return (
            f"Too few customers yet: fewer than {MIN_RELIABLE_GROUP} in a group, or a group "
            "where all or none churned, makes the interval rough and narrower than the truth. "
            "It firms up as more episodes pass their horizon."
        )
    if float(row["ci_high"]) - float(row["ci_low"]) > WIDE_INTERVAL:
        return (
            f"The interval is wide ({pts(row['ci_high'] - row['ci_low'])} pts): too few "
            "customers yet to tell a small effect from none."
        )
    return None


def readout(effect: pd.DataFrame | None, episodes: pd.DataFrame | None) -> Readout:
    """The headline: enough once at least one treated and one control episode have passed
    their horizon (a difference needs both groups); until then, why not, with the counts."""
    counts = episode_counts(episodes)
    row = cumulative_row(effect)
    if row is None or int(row["treated_n"]) < 1 or int(row["control_n"]) < 1:
        t, c = counts["treated"], counts["control"]
        return Readout(
            False,
            counts,
            row,
            "Not enough customers yet: "
            f"{t.passed:,} listed (treated) and {c.passed:,} control episodes have passed "
            f"their horizon ({t.open:,} and {c.open:,} still open). The comparison needs at "
            "least one of each.",
            None,
        )
    rough = _rough(row)
    return Readout(True, counts, row, _sentence(row, rough), _caution(row, rough))


def split_warning(row: pd.Series | None) -> str | None:
    """The sample-ratio check's warning when the split is not the configured one."""
    if row is None or not bool(row["srm_mismatch"]):
        return None
    return (
        f"The control group is {float(row['observed_control_share']):.1%} of the episodes, "
        f"not the configured {float(row['expected_control_share']):.0%} (sample-ratio check "
        f"p = {float(row['srm_p_value']):.2g}): the assignment or its logging is broken, so "
        "do not trust this estimate until it is fixed."
    )


def monthly_table(effect: pd.DataFrame) -> pd.DataFrame:
    """One row per month of episode start, as the page shows it (points, not shares)."""
    months = effect[~effect["cumulative"].astype(bool)].sort_values("scoring_month")

    def points(column: str) -> pd.Series:
        return months[column].astype(float) * 100

    return pd.DataFrame(
        {
            "Month": pd.to_datetime(months["scoring_month"]).dt.strftime("%Y-%m"),
            "Listed": months["treated_n"].astype(int),
            "Control": months["control_n"].astype(int),
            "Churn, listed (%)": points("treated_churn_rate"),
            "Churn, control (%)": points("control_churn_rate"),
            "Effect (pts)": points("effect"),
            "95% low": points("ci_low"),
            "95% high": points("ci_high"),
            "Saved customers": months["saved_customers"].astype(float),
            "Saved MRR": months["saved_mrr"].astype(float),
            "Split check": months["srm_mismatch"].map({True: "mismatch", False: "ok"}),
        }
    ).reset_index(drop=True)
