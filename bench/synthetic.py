"""Synthetic customer-week features with a known churn signal, for tests and benchmarks.

Columns follow docs/contracts.md §3/§4 (a subset of the features): numbers with NaNs,
nullable booleans and text categories with nulls. Churn risk falls with activity and rises
with failed payments, escalations, monthly contracts and falling logins; a customer who
churns leaves the later snapshots, as in the real spine.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

PLANS = np.array(["starter", "growth", "enterprise"])
CONTRACTS = np.array(["monthly", "annual"])
INDUSTRIES = np.array(["software", "retail", "finance", "health", "education"])
COUNTRIES = np.array(["US", "GB", "DE", "FR", "NL", "BR"])


def make_training_set(
    customers: int,
    weeks: int,
    seed: int = 0,
    start: date = date(2024, 1, 1),
) -> pd.DataFrame:
    """`customers` x `weeks` Monday snapshots with label `churned` (customers who churned
    disappear from later snapshots)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:07d}" for i in range(1, customers + 1)])
    engagement = rng.normal(0, 1, customers)
    plan = rng.choice(PLANS, customers, p=[0.5, 0.35, 0.15])
    contract = rng.choice(CONTRACTS, customers, p=[0.6, 0.4])
    industry = rng.choice(INDUSTRIES, customers).astype(object)
    industry[rng.random(customers) < 0.05] = None
    country = rng.choice(COUNTRIES, customers)
    seats = rng.integers(1, 60, customers)
    signup = rng.integers(30, 900, customers)
    discount = rng.random(customers) < 0.2
    frames = []
    for w in range(weeks):
        as_of = start + timedelta(days=7 * w)
        frames.append(
            _week(
                rng,
                ids,
                engagement,
                plan,
                contract,
                industry,
                country,
                seats,
                signup,
                discount,
                as_of,
                w,
            )
        )
    df = pd.concat(frames, ignore_index=True)
    # churn events strictly before each row (rows are week-major, so cumsum runs in time order)
    before = df.groupby("customer_id")["churned"].cumsum() - df["churned"]
    return df[before == 0].reset_index(drop=True)


def _week(
    rng, ids, engagement, plan, contract, industry, country, seats, signup, discount, as_of, w
):  # noqa: ANN001 - a private generator step
    n = len(ids)
    drift = engagement + rng.normal(0, 0.5, n)
    base = np.exp(1.5 + 0.8 * drift)
    logins_30d = rng.poisson(base * 4)
    logins_prev = rng.poisson(np.exp(1.5 + 0.8 * engagement) * 4)
    logins_7d = rng.binomial(logins_30d, 0.25)
    logins_90d = logins_30d + rng.poisson(base * 8)
    events_30d = logins_30d * 3 + rng.poisson(base * 5)
    active_days = np.minimum(30, rng.poisson(np.clip(base, 0, 30)))
    active_users = np.minimum(seats, rng.poisson(seats * 0.2 * np.exp(0.4 * drift)))
    change = np.where(
        logins_prev > 0, (logins_30d - logins_prev) / np.maximum(logins_prev, 1), np.nan
    )
    last_login = np.where(logins_90d > 0, rng.exponential(30 / (1 + base)), np.nan)
    tickets = rng.poisson(0.6, n)
    escalated = rng.binomial(tickets, 0.2)
    failed = rng.poisson(0.15 + 0.2 * (drift < -1), n)
    mrr = seats * np.select([plan == "starter", plan == "growth"], [20.0, 45.0], 90.0)
    mrr = np.where(discount, mrr * 0.8, mrr)
    has_discount = pd.array(discount, dtype="boolean")
    has_discount[rng.random(n) < 0.03] = pd.NA
    renewal = rng.integers(0, 365, n)
    tenure = signup + 7 * w
    logit = (
        -3.2
        - 0.9 * np.log1p(logins_30d) / 2
        - 1.1 * drift
        + 0.7 * failed
        + 0.5 * escalated
        + 0.8 * (contract == "monthly")
        + 0.4 * (plan == "starter")
        - 0.3 * discount
        - 0.8 * np.nan_to_num(np.clip(change, -1, 1))
        + 0.6 * (renewal < 30)
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "as_of_date": as_of,
            "logins_7d": logins_7d,
            "logins_30d": logins_30d,
            "logins_90d": logins_90d,
            "events_30d": events_30d,
            "active_days_30d": active_days,
            "active_users_30d": active_users,
            "seat_utilisation": active_users / seats,
            "logins_30d_change_pct": change,
            "days_since_last_login": np.round(last_login),
            "tickets_90d": tickets,
            "escalated_tickets_90d": escalated,
            "failed_payments_90d": failed,
            "mrr": mrr,
            "has_discount": has_discount,
            "plan": plan,
            "contract_type": contract,
            "industry": industry,
            "country": country,
            "seats": seats,
            "tenure_days": tenure,
            "days_to_renewal": renewal,
            "churned": churned,
        }
    )


def features_only(df: pd.DataFrame, label: str = "churned") -> pd.DataFrame:
    """The customer_features shape of a training frame (no label)."""
    return df.drop(columns=[label])


def make_scoring_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    """One snapshot of `rows` customers (bench scoring)."""
    df = make_training_set(rows, 1, seed=seed)
    return features_only(df)
