"""What customers do in one week, vectorised over customers: use the product, open tickets,
pay invoices, change plans, and drift in engagement.

Each function takes the current state arrays and a random generator and returns plain arrays;
the engine decides what is recorded and when.
"""

from __future__ import annotations

import numpy as np

from simulator.clock import DAY

WEEKDAY_FACTOR = np.array([1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.2])
WEEKDAY_FACTOR = WEEKDAY_FACTOR / WEEKDAY_FACTOR.mean()
# cumulative shares of login, feature_use, export, integration_sync per plan
TYPE_CUMSHARE = np.array([[0.33, 0.86, 0.96], [0.30, 0.80, 0.90], [0.27, 0.72, 0.82]])
N_FEATURES, N_EXPORTS, N_INTEGRATIONS = 12, 2, 4
RETRY_OFFSETS = np.array([0, 3, 6, 10]) * DAY
RETRY_SUCCESS = 0.55


def time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into a UTC day, mostly office hours."""
    return np.mod(rng.normal(13.5 * 3600, 3.5 * 3600, n), DAY).astype(np.int64)


def usage_week(
    idx: np.ndarray,
    days: np.ndarray,
    day_ok: np.ndarray,
    rate: np.ndarray,
    pool: np.ndarray,
    n_features: np.ndarray,
    plan: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Usage events of customers `idx` over `days` (7 day numbers).

    `day_ok[i, d]` says customer i may have events on day d; `rate` is events per day,
    `pool` the number of active users, `n_features` how many features they touch.
    Returns columns cust, user, etype, feature, occurred (unix seconds).
    """
    lam = rate[:, None] * WEEKDAY_FACTOR[None, :] * day_ok
    counts = rng.poisson(lam)
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    ci, di = flat // 7, flat % 7
    m = len(flat)
    u = rng.random(m)
    etype = (u[:, None] > TYPE_CUMSHARE[plan[ci]]).sum(axis=1).astype(np.int8)
    r = rng.random(m)
    feature = np.select(
        [etype == 1, etype == 2, etype == 3],
        [
            (r * n_features[ci]).astype(int),
            N_FEATURES + (r * N_EXPORTS).astype(int),
            N_FEATURES + N_EXPORTS + (r * N_INTEGRATIONS).astype(int),
        ],
        -1,
    ).astype(np.int8)
    return {
        "cust": idx[ci].astype(np.int32),
        "user": (rng.random(m) * pool[ci]).astype(np.int32),
        "etype": etype,
        "feature": feature,
        "occurred": days[di] * DAY + time_of_day(rng, m),
    }


def payment_attempts(
    cust: np.ndarray, ts: np.ndarray, risk: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Attempts of invoices first tried at `ts`: returns (number of attempts, paid?).

    The first attempt fails with the customer's risk; Stripe-like retries after 3, 6 and 10
    days succeed with probability RETRY_SUCCESS each.
    """
    n = len(cust)
    ok = np.column_stack(
        [rng.random(n) >= risk[cust]]
        + [rng.random(n) < RETRY_SUCCESS for _ in range(len(RETRY_OFFSETS) - 1)]
    )
    paid = ok.any(axis=1)
    attempts = np.where(paid, ok.argmax(axis=1) + 1, len(RETRY_OFFSETS))
    return attempts, paid


def new_tickets(
    idx: np.ndarray, lam: np.ndarray, problem: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Tickets opened in one week by customers `idx` with weekly rates `lam`.

    Returns per ticket: cust, offset (seconds into the week), and its life: escalation,
    resolution time, satisfaction, priority, type, subject.
    """
    k = rng.poisson(lam)
    ci = np.repeat(np.arange(len(idx)), k)
    n = len(ci)
    prob = problem[ci]
    escalated = rng.random(n) < 0.12 + 0.25 * prob
    resolve_days = rng.lognormal(0.0, 0.9, n) * np.where(escalated, 2.5, 1.0)
    stuck = rng.random(n) < 0.06 + 0.15 * prob
    resolve_days = np.where(stuck, rng.uniform(20, 100, n), resolve_days)
    bad_p = 0.06 + 0.35 * (resolve_days > 7) + 0.2 * escalated + 0.15 * prob
    rated = rng.random(n) < 0.6
    priority = rng.choice(4, n, p=[0.2, 0.55, 0.18, 0.07])
    priority = np.where(escalated, np.maximum(priority, 2), priority)
    priority = np.where(rng.random(n) < 0.05, -1, priority)
    ttype = rng.choice(4, n, p=[0.45, 0.3, 0.15, 0.1])
    ttype = np.where(rng.random(n) < 0.05, -1, ttype)
    return {
        "cust": idx[ci],
        "offset": rng.integers(0, 5 * DAY, n) + rng.integers(-3 * 3600, 6 * 3600, n),
        "escalate_after": np.where(escalated, rng.uniform(0.3, 3.0, n) * DAY, -1).astype(np.int64),
        "resolve_after": (resolve_days * DAY).astype(np.int64) + 600,
        "open_after": rng.integers(300, 8 * 3600, n),
        "pending": rng.random(n) < 0.35,
        "rated": rated,
        "rate_after": rng.integers(3600, 3 * DAY, n),
        "bad": rated & (rng.random(n) < bad_p),
        "priority": priority.astype(np.int8),
        "ttype": ttype.astype(np.int8),
        "subject": rng.integers(0, 12, n).astype(np.int8),
        "tag": rng.integers(0, 6, n).astype(np.int8),
        "requester": rng.integers(0, 1_000_000, n),
    }


def drift_engagement(
    e: np.ndarray,
    declining: np.ndarray,
    decline_rate: np.ndarray,
    problem: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Move log-engagement one week in place: mean-reverting noise, or a steady decline.

    Healthy customers enter a decline now and then (more often with product problems);
    declining customers sometimes recover.
    """
    n = len(e)
    start = ~declining & (rng.random(n) < 0.005 + 0.03 * problem)
    decline_rate[start] = rng.uniform(0.06, 0.25, start.sum())
    declining |= start
    recover = declining & (rng.random(n) < 0.04)
    declining &= ~recover
    e[:] = np.where(
        declining,
        e - decline_rate + rng.normal(0, 0.08, n),
        0.9 * e + rng.normal(0, 0.12, n),
    )
    np.clip(e, -4.0, 1.0, out=e)
