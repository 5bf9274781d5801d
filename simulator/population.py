"""Who the customers are: static attributes drawn once, sorted by signup time.

About `existing_share` of all customers signed up in the three years before the start; the
rest sign up during the simulated period. Customer ids follow signup order, like a database
sequence would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import config as C
from simulator.clock import DAY, to_day

_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_NAME_A = (
    "Blue",
    "North",
    "Bright",
    "Iron",
    "Silver",
    "Quick",
    "Green",
    "Clear",
    "Red",
    "Swift",
    "Prime",
    "Atlas",
    "Nova",
    "Summit",
    "Urban",
    "Delta",
    "Golden",
    "Polar",
    "Vista",
    "Oak",
)
_NAME_B = (
    "River",
    "Peak",
    "Labs",
    "Works",
    "Bridge",
    "Harbor",
    "Stone",
    "Field",
    "Wave",
    "Forge",
    "Path",
    "Point",
    "Cloud",
    "Logic",
    "Systems",
    "Foods",
    "Health",
    "Motion",
    "Media",
    "Data",
)
_NAME_C = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "AB", "BV", "SA", "Partners")


@dataclass
class Population:
    """Static per-customer arrays (index i is customer `C{i+1:07d}`)."""

    n: int
    signup_ts: np.ndarray  # int64 unix seconds
    plan: np.ndarray  # int8 index into PLANS (initial)
    seats: np.ndarray  # int32 (initial)
    annual: np.ndarray  # bool
    industry: np.ndarray  # int8, -1 = null (dirt)
    country: np.ndarray  # int8, -1 = null (dirt)
    owner: np.ndarray  # int8 index into CS_MANAGERS (initial)
    company_name: np.ndarray  # str
    base_rate: np.ndarray  # usage events per day at neutral engagement
    util0: np.ndarray  # share of seats that are real users when engaged
    breadth: np.ndarray  # number of distinct features used when engaged
    pay_risk: np.ndarray  # probability that a payment attempt fails
    engagement0: np.ndarray  # initial log engagement
    discount0: np.ndarray  # percent off at signup (0 = none)
    anchor: np.ndarray  # billing day of month (1..28)
    stripe_customer: np.ndarray  # "cus_..."
    stripe_subscription: np.ndarray  # "sub_..."

    @property
    def customer_ids(self) -> np.ndarray:
        """`C0000001`-style ids."""
        return np.char.add("C", np.char.zfill(np.arange(1, self.n + 1).astype(str), 7))


def _random_ids(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    chars = _ALPHABET[rng.integers(0, len(_ALPHABET), (n, 14))]
    return np.char.add(prefix, chars.view("<U14").ravel())


def draw_population(cfg: C.SimConfig, rng: np.random.Generator) -> Population:
    """Draw every customer's static attributes."""
    n = cfg.customers
    start, end = to_day(cfg.start), to_day(cfg.end)
    existing = rng.random(n) < cfg.existing_share
    day = np.where(
        existing,
        rng.integers(start - 3 * 365, start, n),
        rng.integers(start, max(start + 1, end - 6), n),
    )
    ts = day * DAY + rng.integers(7 * 3600, 19 * 3600, n)
    ts = np.sort(ts)

    plan = rng.choice(3, n, p=C.PLAN_SHARE).astype(np.int8)
    seats = np.select(
        [plan == 0, plan == 1],
        [rng.integers(1, 11, n), np.clip(rng.lognormal(np.log(14), 0.5, n), 5, 60)],
        np.clip(rng.lognormal(np.log(70), 0.6, n), 25, 400),
    ).astype(np.int32)
    annual = rng.random(n) < np.asarray(C.ANNUAL_SHARE)[plan]
    industry = rng.integers(0, len(C.INDUSTRIES), n).astype(np.int8)
    country = rng.choice(len(C.COUNTRIES), n, p=C.COUNTRY_SHARE).astype(np.int8)
    industry[rng.random(n) < cfg.dirt_rate] = -1
    country[rng.random(n) < cfg.dirt_rate] = -1
    names = np.char.add(
        np.char.add(np.asarray(_NAME_A)[rng.integers(0, 20, n)], " "),
        np.char.add(
            np.char.add(np.asarray(_NAME_B)[rng.integers(0, 20, n)], " "),
            np.asarray(_NAME_C)[rng.integers(0, 10, n)],
        ),
    )
    raw_rate = np.sqrt(seats) * rng.lognormal(0.0, 0.35, n)
    base_rate = raw_rate / raw_rate.mean()
    signup_dom = ts.astype("datetime64[s]").astype("datetime64[D]")
    dom = (signup_dom - signup_dom.astype("datetime64[M]")).astype(int) + 1
    return Population(
        n=n,
        signup_ts=ts.astype(np.int64),
        plan=plan,
        seats=seats,
        annual=annual,
        industry=industry,
        country=country,
        owner=rng.integers(0, len(C.CS_MANAGERS), n).astype(np.int8),
        company_name=names,
        base_rate=base_rate,
        util0=rng.beta(6, 3, n),
        breadth=rng.integers(3, len(C.FEATURES) + 1, n),
        pay_risk=np.where(rng.random(n) < 0.15, rng.uniform(0.15, 0.4, n), 0.025),
        engagement0=rng.normal(0.0, 0.25, n),
        discount0=np.where(rng.random(n) < 0.1, rng.choice([10, 15, 20], n), 0).astype(np.int16),
        anchor=np.minimum(dom, 28).astype(np.int64),
        stripe_customer=_random_ids(rng, "cus_", n),
        stripe_subscription=_random_ids(rng, "sub_", n),
    )
