"""The save-effect estimator on synthetic episodes with a known effect: the interval covers the
truth about 95% of the time, covers zero when there is no effect, and the sample-ratio check
catches a broken split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models_ml.monitoring.save_effect import COLUMNS, estimate

SHARE = 0.10
MONTHS = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])
REPLICATES = 200


def episodes(rng, n: int, p_control: float, p_treated: float, share: float = SHARE):
    """n episodes over three months, control with probability `share`, churned with the
    group's probability, MRR drawn per customer."""
    control = rng.random(n) < share
    churned = rng.random(n) < np.where(control, p_control, p_treated)
    return pd.DataFrame(
        {
            "month": MONTHS[rng.integers(0, len(MONTHS), n)],
            "holdout_group": np.where(control, "control", "treated"),
            "churned": churned,
            "mrr": rng.gamma(2.0, 500.0, n),
        }
    )


def _coverage_bound(replicates: int, level: float = 0.95) -> float:
    """4 binomial sigmas of an empirical coverage around `level`."""
    return 4 * math.sqrt(level * (1 - level) / replicates)


def test_counts_rates_and_saves_follow_from_the_rows():
    rng = np.random.default_rng(1)
    rows = episodes(rng, 3000, 0.30, 0.20)
    rows.loc[rows.index[:5], "holdout_group"] = "untracked"  # not in either group
    out = estimate(rows, share=SHARE)
    assert list(out.columns) == COLUMNS
    months, total = out[~out["cumulative"]], out[out["cumulative"]].iloc[0]
    assert months["month"].tolist() == list(MONTHS) and pd.isna(total["month"])
    tracked = rows[rows["holdout_group"] != "untracked"]
    treated, control = (tracked[tracked["holdout_group"] == g] for g in ("treated", "control"))
    assert total["treated_n"] == len(treated) and total["control_n"] == len(control)
    assert months["treated_n"].sum() == len(treated)
    assert math.isclose(total["control_churn_rate"], control["churned"].mean())
    assert math.isclose(total["treated_churn_rate"], treated["churned"].mean())
    effect = control["churned"].mean() - treated["churned"].mean()
    assert math.isclose(total["effect"], effect)
    assert math.isclose(total["saved_customers"], effect * len(treated))
    assert math.isclose(total["saved_mrr"], effect * treated["mrr"].sum())
    assert (out["ci_low"] < out["effect"]).all() and (out["effect"] < out["ci_high"]).all()
    assert math.isclose(total["observed_control_share"], len(control) / len(tracked))


def test_the_interval_covers_a_known_effect_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    truth = 0.30 - 0.20
    covered = []
    for _ in range(REPLICATES):
        total = estimate(episodes(rng, 4000, 0.30, 0.20)).query("cumulative").iloc[0]
        covered.append(total["ci_low"] <= truth <= total["ci_high"])
    assert abs(np.mean(covered) - 0.95) < _coverage_bound(REPLICATES)


def test_with_no_effect_the_interval_covers_zero_most_of_the_time():
    rng = np.random.default_rng(3)
    covered = []
    for _ in range(REPLICATES):
        out = estimate(episodes(rng, 3000, 0.25, 0.25))
        covered += ((out["ci_low"] <= 0) & (out["ci_high"] >= 0)).tolist()
    # per month and cumulative: 4 intervals a replicate (correlated: the bound is loose)
    assert abs(np.mean(covered) - 0.95) < _coverage_bound(REPLICATES)


def test_the_sample_ratio_check_flags_a_broken_split_only():
    rng = np.random.default_rng(4)
    fine = estimate(episodes(rng, 5000, 0.3, 0.2, share=SHARE), share=SHARE)
    broken = estimate(episodes(rng, 5000, 0.3, 0.2, share=2 * SHARE), share=SHARE)
    assert not fine.query("cumulative")["srm_mismatch"].iloc[0]
    assert fine.query("cumulative")["srm_p_value"].iloc[0] > 0.001
    assert broken["srm_mismatch"].all() and (broken["srm_p_value"] < 0.001).all()


def test_a_month_without_controls_has_no_effect_but_counts_its_treated():
    rows = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-01-01"] * 3),
            "holdout_group": ["treated"] * 3,
            "churned": [True, False, False],
            "mrr": [100.0, 200.0, 300.0],
        }
    )
    month = estimate(rows).query("not cumulative").iloc[0]
    assert month["treated_n"] == 3 and month["control_n"] == 0
    assert math.isclose(month["treated_churn_rate"], 1 / 3)
    assert np.isnan(month["effect"]) and np.isnan(month["ci_low"])
    assert month["srm_p_value"] < 1


def test_a_tiny_control_group_keeps_the_interval_within_possible_differences():
    """1 of 2 control customers churned, 8 of 49 listed: the normal interval would reach past
    +100 pts, which no difference of two shares can."""
    rows = pd.DataFrame(
        {
            "month": MONTHS[0],
            "holdout_group": ["control"] * 2 + ["treated"] * 49,
            "churned": [True, False] + [True] * 8 + [False] * 41,
            "mrr": 100.0,
        }
    )
    total = estimate(rows, share=SHARE).query("cumulative").iloc[0]
    assert math.isclose(total["effect"], 0.5 - 8 / 49)
    assert total["ci_high"] == 1.0 and -1.0 < total["ci_low"] < total["effect"]
