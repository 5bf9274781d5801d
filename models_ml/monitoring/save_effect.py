"""The save effect of the CS program, measured against the randomized control group.

Intention to treat: every episode counts in the group it was drawn into, whatever CS then did.
Per scoring month (the month of the episode start) and for all months together: the churn rate
within the horizon of the treated and of the control group, their difference (control minus
treated: the share of High-risk customers the program saves) with a 95% normal-approximation
interval, the customers and MRR that implies for the treated group, and a sample-ratio check
(is the control share what was configured? a mismatch means the assignment or the logging is
broken, and the estimate is not to be trusted).

The dbt mart `save_effect` computes the same numbers in SQL; this is the reference the tests
and the benchmarks hold it to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# two-sided 95%: the standard normal's 97.5th percentile
Z_95 = 1.959963984540054
SRM_ALPHA = 0.001

COLUMNS = [
    "month",
    "cumulative",
    "treated_n",
    "control_n",
    "treated_churned",
    "control_churned",
    "treated_churn_rate",
    "control_churn_rate",
    "effect",
    "ci_low",
    "ci_high",
    "saved_customers",
    "saved_mrr",
    "observed_control_share",
    "srm_p_value",
    "srm_mismatch",
]


def srm_p_value(control_n: int, total: int, share: float) -> float:
    """Two-sided p-value of seeing `control_n` controls among `total` episodes when each is
    control with probability `share` (normal approximation: the chi-square test with 1 df)."""
    if total <= 0 or not 0.0 < share < 1.0:
        return float("nan")
    z = (control_n - total * share) / math.sqrt(total * share * (1.0 - share))
    return math.erfc(abs(z) / math.sqrt(2.0))


def _row(group: pd.DataFrame, share: float, alpha: float) -> dict:
    treated = group[group["holdout_group"] == "treated"]
    control = group[group["holdout_group"] == "control"]
    n_t, n_c = len(treated), len(control)
    churned_t, churned_c = int(treated["churned"].sum()), int(control["churned"].sum())
    p_t = churned_t / n_t if n_t else float("nan")
    p_c = churned_c / n_c if n_c else float("nan")
    effect = p_c - p_t
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c) if n_t and n_c else math.nan
    p_srm = srm_p_value(n_c, n_t + n_c, share)
    return {
        "treated_n": n_t,
        "control_n": n_c,
        "treated_churned": churned_t,
        "control_churned": churned_c,
        "treated_churn_rate": p_t,
        "control_churn_rate": p_c,
        "effect": effect,
        # a difference of two shares lies in [-1, 1]; a small group's interval can reach past
        "ci_low": max(effect - Z_95 * se, -1.0),
        "ci_high": min(effect + Z_95 * se, 1.0),
        "saved_customers": effect * n_t,
        "saved_mrr": effect * float(treated["mrr"].sum()),
        "observed_control_share": n_c / (n_t + n_c) if n_t + n_c else float("nan"),
        "srm_p_value": p_srm,
        "srm_mismatch": bool(p_srm < alpha) if not math.isnan(p_srm) else False,
    }


def estimate(episodes: pd.DataFrame, share: float = 0.10, alpha: float = SRM_ALPHA) -> pd.DataFrame:
    """The save effect per month and cumulated (the row with `cumulative` True, month NaT).

    `episodes`: one row per episode whose horizon has passed, with `month` (of the episode
    start), `holdout_group` ('treated' | 'control'; other groups are ignored), `churned`
    (within the horizon) and `mrr` (at the episode start). `share` is the configured control
    share the sample-ratio check compares with; `srm_mismatch` is its p-value below `alpha`.
    A group with no episodes gives NaN rates, effect and interval.
    """
    tracked = episodes[episodes["holdout_group"].isin(["treated", "control"])].copy()
    tracked["churned"] = tracked["churned"].astype(bool)
    tracked["month"] = pd.to_datetime(tracked["month"])
    rows = [
        {"month": month, "cumulative": False, **_row(group, share, alpha)}
        for month, group in tracked.groupby("month", sort=True)
    ]
    if len(tracked):
        rows.append({"month": pd.NaT, "cumulative": True, **_row(tracked, share, alpha)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["month"] = pd.to_datetime(out["month"])
    for column in ("treated_n", "control_n", "treated_churned", "control_churned"):
        out[column] = out[column].astype(np.int64)
    out["cumulative"] = out["cumulative"].astype(bool)
    out["srm_mismatch"] = out["srm_mismatch"].astype(bool)
    return out
