"""The hidden churn process: a weekly hazard from what the four sources show.

hazard = sigmoid(intercept + sum of weighted visible signals + CS effects + noise). The signals
are computed from the very events the simulator emits (logins, tickets, failed payments, ...),
so a model on the contract's features can learn them; the per customer-week noise is the part
no data explains, and it bounds how well any model can do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import HazardWeights


@dataclass
class Signals:
    """What the sources show about each customer at a week start (arrays of length n)."""

    logins_4w: np.ndarray
    logins_prev_4w: np.ndarray
    events_4w: np.ndarray
    days_since_login: np.ndarray
    seat_utilisation: np.ndarray
    seats: np.ndarray
    failed_payments_90d: np.ndarray
    failure_14d: np.ndarray
    open_tickets: np.ndarray
    oldest_open_days: np.ndarray
    escalated_90d: np.ndarray
    bad_satisfaction_90d: np.ndarray
    plan: np.ndarray
    annual: np.ndarray
    days_to_renewal: np.ndarray
    tenure_days: np.ndarray
    mrr_change_90d: np.ndarray
    has_discount: np.ndarray


def visible_logit(s: Signals, w: HazardWeights, month: int, day_of_month: int) -> np.ndarray:
    """Log-odds of churn this week from visible signals only (what the CS team can see too)."""
    change = np.where(
        s.logins_prev_4w > 0,
        (s.logins_4w - s.logins_prev_4w) / np.maximum(s.logins_prev_4w, 1),
        0.0,
    )
    expected = 4.0 * np.sqrt(s.seats)
    low_act = np.maximum(0.0, -np.log((s.events_4w + 1.0) / (expected + 1.0)))
    z = np.full(len(s.seats), w.intercept)
    z += w.login_decline * -np.clip(change, -1.0, 1.0)
    z += w.low_activity * low_act
    z += w.inactive_14d * (s.days_since_login > 14)
    z += w.low_seat_use * np.maximum(0.0, 0.5 - s.seat_utilisation)
    z += w.failed_payments * np.minimum(s.failed_payments_90d, 3)
    z += w.recent_failure * s.failure_14d
    z += w.open_tickets * np.minimum(s.open_tickets, 3)
    z += w.old_open_ticket * (s.oldest_open_days > 14)
    z += w.escalated * np.minimum(s.escalated_90d, 2)
    z += w.bad_satisfaction * np.minimum(s.bad_satisfaction_90d, 2)
    z += np.asarray(w.plan)[s.plan]
    ramp = np.clip((120 - s.days_to_renewal) / 90, 0.0, 1.0)  # smooth: hazard persists
    annual = w.annual_mid_term + (w.annual_near_renewal - w.annual_mid_term) * ramp
    z += np.where(s.annual, annual, 0.0)
    z += w.new_customer * (s.tenure_days < 120) + w.old_customer * (s.tenure_days > 730)
    z += w.downgrade * (s.mrr_change_90d < -0.05)
    z += w.discount * s.has_discount
    if month == 1:
        z += w.january
    if month in (3, 6, 12) and day_of_month >= 15:
        z += w.fiscal_year_end
    return z


def hazard(visible: np.ndarray, cs_effect: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Weekly churn probability from visible log-odds, CS effects and hidden noise."""
    return 1.0 / (1.0 + np.exp(-(visible + cs_effect + noise)))
