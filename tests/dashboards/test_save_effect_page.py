"""The Save rate page's reading of the randomized result, on hand-made rows of the
`save_effect` and `high_risk_episodes` marts: when there is enough to say anything, what the
sentence says for an interval that includes 0, lies above or below it, or rests on too few
customers, the sample-ratio warning and the monthly table."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards.save_effect import (
    episode_counts,
    monthly_table,
    readout,
    split_warning,
)


def _effect(
    treated_n: int, control_n: int, treated_churned: int, control_churned: int, **extra
) -> pd.DataFrame:
    """A cumulative save_effect row computed as the mart computes it."""
    p_t = treated_churned / treated_n if treated_n else float("nan")
    p_c = control_churned / control_n if control_n else float("nan")
    effect = p_c - p_t
    se = (p_t * (1 - p_t) / treated_n + p_c * (1 - p_c) / control_n) ** 0.5 if control_n else 0
    row = {
        "scoring_month": pd.NaT,
        "cumulative": True,
        "treated_n": treated_n,
        "control_n": control_n,
        "treated_churned": treated_churned,
        "control_churned": control_churned,
        "treated_churn_rate": p_t,
        "control_churn_rate": p_c,
        "effect": effect,
        "ci_low": effect - 1.96 * se,
        "ci_high": effect + 1.96 * se,
        "saved_customers": effect * treated_n,
        "saved_mrr": effect * treated_n * 500,
        "observed_control_share": control_n / (treated_n + control_n),
        "expected_control_share": 0.1,
        "srm_p_value": 0.5,
        "srm_mismatch": False,
    }
    row.update(extra)
    return pd.DataFrame([row])


def _episodes(passed: dict[str, int], still_open: dict[str, int]) -> pd.DataFrame:
    rows = [
        {"holdout_group": group, "horizon_passed": is_passed}
        for counts, is_passed in ((passed, True), (still_open, False))
        for group, n in counts.items()
        for _ in range(n)
    ]
    rows.append({"holdout_group": "untracked", "horizon_passed": True})
    return pd.DataFrame(rows)


def test_episode_counts_per_group_leave_out_untracked():
    counts = episode_counts(_episodes({"treated": 5, "control": 1}, {"treated": 3}))
    assert (counts["treated"].passed, counts["treated"].open) == (5, 3)
    assert (counts["control"].passed, counts["control"].open) == (1, 0)
    assert episode_counts(None)["control"].passed == 0


@pytest.mark.parametrize(
    ("effect", "episodes"),
    [
        (None, None),
        (pd.DataFrame(columns=["cumulative"]), _episodes({}, {"treated": 4, "control": 1})),
        (_effect(12, 0, 3, 0), _episodes({"treated": 12}, {"treated": 4, "control": 1})),
    ],
)
def test_not_enough_customers_until_both_groups_have_a_passed_episode(effect, episodes):
    result = readout(effect, episodes)
    assert not result.enough
    assert result.sentence.startswith("Not enough customers yet: ")
    counts = episode_counts(episodes)
    assert (
        f"{counts['treated'].passed} listed (treated) and {counts['control'].passed} control "
        "episodes have passed their horizon "
        f"({counts['treated'].open} and {counts['control'].open} still open)"
    ) in result.sentence


def test_an_interval_that_includes_zero_could_be_chance():
    result = readout(_effect(400, 45, 80, 10), _episodes({"treated": 400, "control": 45}, {}))
    assert result.enough
    row = result.row
    assert result.sentence == (
        f"Listed customers churned {(row.effect * 100):.1f} pts less than the control group; "
        f"the 95% interval [{row.ci_low * 100:.1f}, {row.ci_high * 100:.1f}] includes 0, so "
        "this could be chance."
    )
    assert row.ci_low < 0 < row.ci_high


def test_an_interval_above_zero_says_the_list_kept_customers():
    result = readout(_effect(2000, 220, 300, 66), None)
    assert result.row.ci_low > 0
    assert "pts less than the control group" in result.sentence
    assert "is above 0: being on the list kept customers." in result.sentence
    assert result.caution is None


def test_an_interval_below_zero_says_listed_customers_churned_more():
    result = readout(_effect(2000, 220, 600, 33), None)
    assert "pts more than the control group" in result.sentence
    assert "is below 0" in result.sentence


def test_few_customers_make_the_interval_rough_whatever_it_says():
    # 0 of 4 control churned: the approximation's interval is narrow and lies below 0
    result = readout(_effect(36, 4, 9, 0), None)
    assert result.enough and result.row.ci_high < 0
    assert "rests on only 4 control customers, so this could still be chance." in result.sentence
    assert "Too few customers yet" in result.caution


def test_a_wide_interval_is_named():
    result = readout(_effect(60, 40, 15, 14), None)
    assert result.row.ci_high - result.row.ci_low > 0.2
    assert result.caution.startswith("The interval is wide (")


def test_split_warning_only_on_a_mismatch():
    assert split_warning(None) is None
    assert split_warning(_effect(100, 10, 1, 1).iloc[0]) is None
    row = _effect(100, 40, 1, 1, srm_mismatch=True, srm_p_value=0.00012).iloc[0]
    warning = split_warning(row)
    assert "28.6% of the episodes, not the configured 10%" in warning
    assert "p = 0.00012" in warning and "do not trust this estimate" in warning


def test_monthly_table_in_points_without_the_cumulative_row():
    months = pd.concat(
        [
            _effect(20, 2, 4, 1, scoring_month=pd.Timestamp("2025-12-01"), cumulative=False),
            _effect(10, 1, 1, 0, scoring_month=pd.Timestamp("2025-11-01"), cumulative=False),
            _effect(30, 3, 5, 1),
        ]
    )
    table = monthly_table(months)
    assert list(table["Month"]) == ["2025-11", "2025-12"]
    assert list(table["Listed"]) == [10, 20] and list(table["Control"]) == [1, 2]
    assert table["Churn, listed (%)"].tolist() == pytest.approx([10.0, 20.0])
    assert table["Effect (pts)"].tolist() == pytest.approx([-10.0, 30.0])
    assert list(table["Split check"]) == ["ok", "ok"]
