"""The mutable state of every customer during the simulation, and what can be read off it.

Rolling windows are kept as small per-customer ring buffers of weekly counts, plus flat arrays
of recent failed payments and tickets, so that the weekly signals are cheap at 1M customers.
"""

from __future__ import annotations

import numpy as np

from simulator.clock import DAY, NEVER, add_months, month_of
from simulator.config import (
    ANNUAL_PRICE_FACTOR,
    CS_CONTACT_WEEKS,
    PRICE_PER_SEAT_MONTH,
    HazardWeights,
)
from simulator.hazard import Signals
from simulator.population import Population


def mrr_of(plan: np.ndarray, seats: np.ndarray, discount: np.ndarray, annual: np.ndarray):
    """Monthly recurring revenue in dollars after discount."""
    price = np.asarray(PRICE_PER_SEAT_MONTH, float)[plan]
    price = np.where(annual, price * ANNUAL_PRICE_FACTOR / 12, price)
    return seats * price * (1 - discount / 100)


class State:
    """Per-customer arrays that change week by week."""

    def __init__(self, pop: Population, start_day: int) -> None:
        n = pop.n
        self.pop = pop
        self.churn_ts = np.full(n, NEVER, np.int64)
        self.e = pop.engagement0.copy()
        self.declining = np.zeros(n, bool)
        self.decline_rate = np.zeros(n)
        self.problem_until = np.full(n, -100, np.int64)
        self.plan = pop.plan.copy()
        self.seats = pop.seats.copy()
        self.owner = pop.owner.copy()
        self.discount = pop.discount0.copy()
        self.interval = np.where(pop.annual, 12, 1)
        signup_day = pop.signup_ts // DAY
        months = np.datetime64(int(start_day), "D").astype("datetime64[M]").astype(
            int
        ) - signup_day.astype("datetime64[D]").astype("datetime64[M]").astype(int)
        k = np.maximum(0, -(-months // self.interval) * self.interval)
        end = add_months(signup_day, k, pop.anchor)
        end = np.where(end < start_day, add_months(signup_day, k + self.interval, pop.anchor), end)
        end = np.where(end <= signup_day, add_months(signup_day, self.interval, pop.anchor), end)
        self.period_end = end
        self.period_start = np.maximum(add_months(end, -self.interval, pop.anchor), signup_day)
        self.logins = np.zeros((n, 8), np.int32)
        self.events = np.zeros((n, 4), np.int32)
        self.last_login_day = np.full(n, -(10**6), np.int64)
        self.mrr_hist = np.repeat(self.mrr()[:, None], 14, axis=1)
        self.fail_cust = np.zeros(0, np.int64)
        self.fail_ts = np.zeros(0, np.int64)
        self.t_cust = np.zeros(0, np.int64)
        self.t_created = np.zeros(0, np.int64)
        self.t_solved = np.zeros(0, np.int64)
        self.t_escalated = np.zeros(0, np.int64)
        self.t_rated = np.zeros(0, np.int64)
        self.t_bad = np.zeros(0, bool)
        self.noise = np.zeros(n)  # hidden AR(1) log-odds noise
        self.cs_contact_w = np.full(n, -1000, np.int64)  # last reached contact
        self.cs_any_w = np.full(n, -1000, np.int64)  # last contact attempt
        self.cs_accept_w = np.full(n, -1000, np.int64)
        self.cs_pending_w = np.full(n, -1000, np.int64)
        self.cs_announce_w = np.full(n, -1000, np.int64)

    def step_noise(self, w: HazardWeights, rng: np.random.Generator) -> np.ndarray:
        """Advance the hidden AR(1) log-odds noise one week and return it."""
        rho = w.noise_persistence
        self.noise = rho * self.noise + np.sqrt(1 - rho**2) * rng.normal(0, w.noise_sd, self.pop.n)
        return self.noise

    def mrr(self) -> np.ndarray:
        """Current MRR per customer."""
        return mrr_of(self.plan, self.seats, self.discount, self.pop.annual)

    def pool(self) -> np.ndarray:
        """Number of distinct active users (engaged customers use more of their seats)."""
        u = self.pop.util0 * np.minimum(1.0, np.exp(0.8 * self.e))
        return np.maximum(1, np.round(u * self.seats)).astype(np.int64)

    def n_features(self) -> np.ndarray:
        """Number of distinct features in use."""
        f = np.round(self.pop.breadth * np.minimum(1.0, np.exp(0.8 * self.e)))
        return np.clip(f, 1, 12).astype(np.int64)

    def problem(self, week: int) -> np.ndarray:
        """Customers with an ongoing product problem."""
        return self.problem_until > week

    def add_failures(self, cust: np.ndarray, ts: np.ndarray) -> None:
        """Remember failed payment attempts (for the 90-day signals)."""
        self.fail_cust = np.concatenate([self.fail_cust, cust])
        self.fail_ts = np.concatenate([self.fail_ts, ts])

    def add_tickets(self, cust, created, solved, escalated, rated, bad) -> None:
        """Remember ticket lives (for the open/escalated/bad signals)."""
        self.t_cust = np.concatenate([self.t_cust, cust])
        self.t_created = np.concatenate([self.t_created, created])
        self.t_solved = np.concatenate([self.t_solved, solved])
        self.t_escalated = np.concatenate([self.t_escalated, escalated])
        self.t_rated = np.concatenate([self.t_rated, rated])
        self.t_bad = np.concatenate([self.t_bad, bad])

    def prune(self, now: int) -> None:
        """Forget failures and closed tickets older than 90 days."""
        keep = self.fail_ts >= now - 91 * DAY
        self.fail_cust, self.fail_ts = self.fail_cust[keep], self.fail_ts[keep]
        keep = (self.t_created >= now - 91 * DAY) | (self.t_solved >= now)
        for name in ("t_cust", "t_created", "t_solved", "t_escalated", "t_rated", "t_bad"):
            setattr(self, name, getattr(self, name)[keep])

    def signals(self, day: int, week: int) -> Signals:
        """What the sources show at the start of `day` (a Monday), for every customer."""
        n, now = self.pop.n, day * DAY
        last4 = [(week - j) % 8 for j in range(1, 5)]
        prev4 = [(week - j) % 8 for j in range(5, 9)]
        in90 = (self.fail_ts >= now - 90 * DAY) & (self.fail_ts < now)
        in14 = (self.fail_ts >= now - 14 * DAY) & (self.fail_ts < now)
        openm = (self.t_created < now) & (self.t_solved >= now)
        oldest = np.zeros(n)
        np.maximum.at(oldest, self.t_cust[openm], (now - self.t_created[openm]) / DAY)
        win = (self.t_created >= now - 90 * DAY) & (self.t_created < now)
        esc = win & (self.t_escalated < now)
        bad = win & self.t_bad & (self.t_rated < now)
        then = self.mrr_hist[:, (week - 13) % 14]
        return Signals(
            logins_4w=self.logins[:, last4].sum(axis=1),
            logins_prev_4w=self.logins[:, prev4].sum(axis=1),
            events_4w=self.events.sum(axis=1),
            days_since_login=day - self.last_login_day,
            seat_utilisation=self.pool() / self.seats,
            seats=self.seats,
            failed_payments_90d=np.bincount(self.fail_cust[in90], minlength=n),
            failure_14d=np.bincount(self.fail_cust[in14], minlength=n) > 0,
            open_tickets=np.bincount(self.t_cust[openm], minlength=n),
            oldest_open_days=oldest,
            escalated_90d=np.bincount(self.t_cust[esc], minlength=n),
            bad_satisfaction_90d=np.bincount(self.t_cust[bad], minlength=n),
            plan=self.plan,
            annual=self.pop.annual,
            days_to_renewal=self.period_end - day,
            tenure_days=day - self.pop.signup_ts // DAY,
            mrr_change_90d=np.where(then > 0, (self.mrr() - then) / np.maximum(then, 1e-9), 0.0),
            has_discount=self.discount > 0,
        )

    def cs_effect(self, week: int, w: HazardWeights) -> np.ndarray:
        """Log-odds effect of recent CS actions on this week's hazard."""
        return (
            w.cs_contact * recent(self.cs_contact_w, week, CS_CONTACT_WEEKS)
            + w.offer_accepted * recent(self.cs_accept_w, week, 13)
            + w.offer_pending * recent(self.cs_pending_w, week, 6)
            + w.announced_leaving * recent(self.cs_announce_w, week, 3)
        )


def recent(last: np.ndarray, week: int, weeks: int) -> np.ndarray:
    """Whether an action of week `last` still acts in `week` (from the next week on, for
    `weeks` weeks)."""
    return (week - last >= 1) & (week - last <= weeks)


def season(day: int) -> tuple[int, int]:
    """(month, day of month) of a day number."""
    d = np.datetime64(int(day), "D")
    return int(month_of(day)), int((d - d.astype("datetime64[M]")).astype(int) + 1)
