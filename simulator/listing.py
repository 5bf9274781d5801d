"""The list-driven CS team, and the true effect of the list on every listed episode.

In "list" mode CS contacts only customers on the published at-risk list (`simulator.plan`):
each Monday it tries a share `cs_list_share` of the listed customers it has not tried in the
last eight weeks; as in "self" mode three in four attempts reach the customer, and a reached
contact lowers the hidden hazard of the next six weeks by `HazardWeights.cs_contact` (log-odds).
It makes no discount offers: an offer changes what the sources show (discount, MRR), and the
untreated path below could then no longer be computed from the hazard alone.

Every draw of this mode comes from a generator keyed by (seed, stream, week), never from the
simulation's main stream, and churn is drawn from a uniform fixed per customer and week. So a
list never changes anything before its Monday, and the same uniforms give each listed episode
both potential outcomes (common random numbers):

- treated: the simulated path, in which the customer was on the list;
- untreated: the same hazards without the list's contacts within the episode's weeks
  (contacts before the episode stay), churning at the first week whose uniform falls below
  that hazard.

Contacts only lower the hazard when `cs_contact` < 0, so then a customer who churns on the
treated path churns on the untreated one too, and both outcomes are exact. With `cs_contact`
> 0 the untreated path can outlive the treated one; after the treated churn it keeps the
untreated hazard of the churn week, an approximation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.clock import DAY, from_day
from simulator.config import CS_CONTACT_GAP_WEEKS, CS_CONTACT_WEEKS, CS_REACH_SHARE
from simulator.hazard import hazard
from simulator.plan import ListSource, WeekView
from simulator.state import recent

if TYPE_CHECKING:
    from simulator.engine import Simulation

HORIZON_WEEKS = 4  # an episode's outcome: churn within 28 days of its Monday
CHURN_STREAM, CONTACT_STREAM = 1, 2
_OPEN = ("cust", "week", "prior", "alive0", "h0", "churn0", "contacted", "reached")


class ListTeam:
    """CS working the plan's list, and the bookkeeping of the listed episodes' outcomes.

    An episode starts at a Monday the customer is listed and was not listed the Monday
    before; it lasts `HORIZON_WEEKS` weeks.
    """

    def __init__(self, sim: Simulation, plan: ListSource | None) -> None:
        self.sim, self.plan = sim, plan
        n = sim.pop.n
        self.ids = sim.pop.customer_ids
        self.index = {str(c): i for i, c in enumerate(self.ids)}
        self.was_listed = np.zeros(n, bool)
        self.open: dict[str, np.ndarray] = {
            "cust": np.zeros(0, np.int64),
            "week": np.zeros(0, np.int64),
            "prior": np.zeros(0, np.int64),
            "alive0": np.zeros(0, bool),
            "h0": np.zeros(0),
            "churn0": np.zeros(0, bool),
            "contacted": np.zeros(0, bool),
            "reached": np.zeros(0, bool),
        }
        self.closed: list[dict[str, np.ndarray]] = []

    def index_of(self, customer_ids) -> np.ndarray:
        """Simulation indices of customer ids (ValueError on an unknown id)."""
        unknown = [i for i in customer_ids if str(i) not in self.index]
        if unknown:
            raise ValueError(f"unknown customers: {unknown[:3]}")
        return np.asarray([self.index[str(i)] for i in customer_ids], np.int64)

    def _keyed(self, stream: int, w: int) -> np.random.Generator:
        return np.random.default_rng([self.sim.cfg.seed, stream, w])

    def uniforms(self, w: int) -> np.ndarray:
        """The churn uniform of every customer in week `w` (churn when below the hazard)."""
        return self._keyed(CHURN_STREAM, w).random(self.sim.pop.n)

    def listed(self, w: int, day: int, alive: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """Active customers on the list of Monday `day` (indices); opens their new episodes."""
        sim, n = self.sim, self.sim.pop.n
        ids = [] if self.plan is None else list(self.plan(self._view(day, alive, risk)))
        try:
            idx = np.unique(self.index_of(ids))
        except ValueError as err:
            raise ValueError(f"the plan of {from_day(day)}: {err}") from None
        now = np.zeros(n, bool)
        now[idx] = True
        active = np.zeros(n, bool)
        active[alive] = True
        now &= active
        new = np.flatnonzero(now & ~self.was_listed)
        self.was_listed = now
        add = {
            "cust": new,
            "week": np.full(len(new), w, np.int64),
            "prior": sim.st.cs_contact_w[new].copy(),
            "alive0": np.ones(len(new), bool),
            "h0": np.zeros(len(new)),
            "churn0": np.zeros(len(new), bool),
            "contacted": np.zeros(len(new), bool),
            "reached": np.zeros(len(new), bool),
        }
        self.open = {k: np.concatenate([self.open[k], add[k]]) for k in _OPEN}
        return np.flatnonzero(now)

    def _view(self, day: int, alive: np.ndarray, risk: np.ndarray) -> WeekView:
        return WeekView(
            as_of=from_day(day),
            customer_ids=self.ids[alive],
            risk=risk,
            mrr=self.sim.st.mrr()[alive],
        )

    def untreated_week(
        self, w: int, now: int, u: np.ndarray, vis: np.ndarray, eff: np.ndarray, noise: np.ndarray
    ) -> None:
        """Advance every open episode's untreated path by week `w` (full-length arrays of the
        week's visible log-odds, CS effects and hidden noise)."""
        st, cs = self.sim.st, self.sim.cfg.weights.cs_contact
        ep = self.open
        c = ep["cust"]
        with_list = cs * recent(st.cs_contact_w[c], w, CS_CONTACT_WEEKS)
        without = cs * recent(ep["prior"], w, CS_CONTACT_WEEKS)
        eff0 = np.where(with_list == without, eff[c], eff[c] - with_list + without)
        h = hazard(vis[c], eff0, noise[c])
        ep["h0"] = np.where(st.churn_ts[c] >= now, h, ep["h0"])
        hit = ep["alive0"] & (u[c] < ep["h0"])
        ep["churn0"] |= hit
        ep["alive0"] &= ~hit

    def contact(self, w: int, now: int, listed: np.ndarray) -> None:
        """Contact a share of the listed customers this week; then close finished episodes."""
        sim, st, n = self.sim, self.sim.st, self.sim.pop.n
        g = self._keyed(CONTACT_STREAM, w)
        try_u, reach_u = g.random(n), g.random(n)
        days, secs = g.integers(0, 5, n), g.integers(9 * 3600, 17 * 3600, n)
        free = w - st.cs_any_w[listed] >= CS_CONTACT_GAP_WEEKS
        chosen = listed[free & (try_u[listed] < sim.cfg.cs_list_share)]
        ts = now + days[chosen] * DAY + secs[chosen]
        keep = ts < np.minimum(st.churn_ts[chosen], sim.end_ts)
        chosen, ts = chosen[keep], ts[keep]
        reached = reach_u[chosen] < CS_REACH_SHARE
        sim.record_contacts(w, chosen, ts, reached)
        ep = self.open
        ep["contacted"] |= np.isin(ep["cust"], chosen)
        ep["reached"] |= np.isin(ep["cust"], chosen[reached])
        self._close(w, now)

    def _close(self, w: int, now: int) -> None:
        ep = self.open
        done = w - ep["week"] >= HORIZON_WEEKS - 1
        if not done.any():
            return
        # the horizon must lie inside the simulated period, or late churn would be missing
        if now // DAY + 7 <= self.sim.end_day + 1:
            self.closed.append({k: v[done] for k, v in ep.items()})
        self.open = {k: v[~done] for k, v in ep.items()}

    def episodes(self) -> pd.DataFrame:
        """Every listed episode whose horizon ended inside the simulated period, with both
        potential outcomes (the columns of `truth/list_episodes.parquet`)."""
        sim = self.sim
        parts = self.closed or [{k: v[:0] for k, v in self.open.items()}]
        ep = {k: np.concatenate([p[k] for p in parts]) for k in _OPEN}
        start = (sim.first_monday + 7 * ep["week"]) * DAY
        churn = sim.st.churn_ts[ep["cust"]]
        order = np.lexsort((ep["cust"], ep["week"]))
        frame = pd.DataFrame(
            {
                "customer_id": self.ids[ep["cust"]].astype(str),
                "as_of": (start // DAY).astype("datetime64[D]"),
                "contacted": ep["contacted"],
                "reached": ep["reached"],
                "churned_treated": (churn >= start) & (churn < start + HORIZON_WEEKS * 7 * DAY),
                "churned_untreated": ep["churn0"],
            }
        )
        frame = frame.iloc[order].reset_index(drop=True)
        frame["as_of"] = frame["as_of"].dt.date
        return frame
