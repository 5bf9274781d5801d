"""The weekly simulation loop: one pass over the whole period, vectorised over customers.

Each week, in order: read the visible signals at the Monday, compute the hazard, draw churn,
let the CS team act, then simulate the week's usage, tickets, plan changes and invoices. The
CS team either picks customers that look at risk itself ("self" mode) or works the published
at-risk list of a contact plan ("list" mode, `simulator.listing`). Nine warm-up weeks before
the start fill the usage windows (nothing is emitted for them), so the first weeks' hazards
are not distorted by empty history.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from simulator import behaviour as B
from simulator.clock import DAY, NEVER, add_months, monday_on_or_before, to_day
from simulator.config import CS_CONTACT_GAP_WEEKS, CS_MANAGERS, CS_REACH_SHARE, SimConfig
from simulator.dirt import deliver
from simulator.hazard import hazard, visible_logit
from simulator.listing import ListTeam
from simulator.plan import ListSource
from simulator.population import Population, draw_population
from simulator.state import State, season

WARMUP_WEEKS = 9
CS_AT_RISK_QUANTILE = 0.95
CS_CONTACT_SHARE = 0.35


class Recorder:
    """Accumulates column arrays per output table."""

    def __init__(self) -> None:
        self.parts: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)

    def add(self, table: str, **cols: np.ndarray | int) -> None:
        """Append rows (scalars are broadcast to the length of the first array)."""
        n = next(len(v) for v in cols.values() if isinstance(v, np.ndarray))
        if n:
            self.parts[table].append({k: np.broadcast_to(v, n) for k, v in cols.items()})

    def columns(self, table: str) -> dict[str, np.ndarray]:
        """All rows of a table as concatenated columns (empty dict if none)."""
        parts = self.parts.get(table, [])
        if not parts:
            return {}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Simulation:
    """Runs the company from warm-up to the end; results are left in `rec` and `usage`.

    `plan` gives the published list of each Monday in "list" mode (no list: nobody is
    contacted); "self" mode takes none.
    """

    def __init__(self, cfg: SimConfig, usage_sink, plan: ListSource | None = None) -> None:
        if cfg.cs_mode == "self" and plan is not None:
            raise ValueError('a contact plan needs cs_mode="list"')
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.pop: Population = draw_population(cfg, self.rng)
        self.start_day, self.end_day = to_day(cfg.start), to_day(cfg.end)
        self.start_ts, self.end_ts = self.start_day * DAY, (self.end_day + 1) * DAY
        self.first_monday = to_day(monday_on_or_before(cfg.start))
        self.st = State(self.pop, self.start_day)
        self.st.noise = self.rng.normal(0.0, cfg.weights.noise_sd, self.pop.n)
        self.rec = Recorder()
        self.usage_sink = usage_sink
        self.usage_buffer: list[dict[str, np.ndarray]] = []
        self.next_event_id = 1
        self.next_invoice = 1
        self.next_ticket = 1
        self.team = ListTeam(self, plan) if cfg.cs_mode == "list" else None

    # ------------------------------------------------------------------ billing
    def subscription_event(self, cust: np.ndarray, ts: np.ndarray, kind: int, status: int) -> None:
        """Record customer.subscription.* events with the current subscription state."""
        st = self.st
        self.rec.add(
            "subs",
            cust=cust,
            ts=ts,
            kind=kind,
            status=status,
            plan=st.plan[cust],
            seats=st.seats[cust],
            discount=st.discount[cust],
            pstart=st.period_start[cust],
            pend=st.period_end[cust],
            canceled_at=np.where(kind == 2, ts, -1),
        )

    def bill(self, cust: np.ndarray, ts: np.ndarray) -> None:
        """Invoice customers at `ts`: attempts, retries, past_due and recovery."""
        if not len(cust):
            return
        st = self.st
        attempts, paid = B.payment_attempts(cust, ts, self.pop.pay_risk, self.rng)
        inv = self.next_invoice + np.arange(len(cust))
        self.next_invoice += len(cust)
        due = np.round(st.mrr()[cust] * np.where(self.pop.annual[cust], 12, 1) * 100).astype(
            np.int64
        )
        for j, offset in enumerate(B.RETRY_OFFSETS):
            tried = attempts > j
            if not tried.any():
                break
            last = attempts == j + 1
            ok = tried & last & paid
            fail = tried & ~ok
            at = ts + offset
            self.rec.add(
                "invoices",
                cust=cust[tried],
                ts=at[tried],
                paid=ok[tried],
                inv=inv[tried],
                due=due[tried],
                attempt=j + 1,
                created=ts[tried],
            )
            st.add_failures(cust[fail], at[fail])
            if j == 0 and fail.any():
                self.subscription_event(cust[fail], at[fail] + 5, 1, 1)
            if j > 0 and ok.any():
                self.subscription_event(cust[ok], at[ok] + 5, 1, 0)

    def signups(self) -> None:
        """Everything that happens at signup: DB row, Stripe customer and subscription."""
        pop, st = self.pop, self.st
        idx = np.arange(pop.n)
        self.record_versions(idx, pop.signup_ts)
        self.rec.add("cus_created", cust=idx, ts=pop.signup_ts)
        # subscription.created shows the first period
        first_end = add_months(pop.signup_ts // DAY, st.interval, pop.anchor)
        cur_start, cur_end = st.period_start.copy(), st.period_end.copy()
        st.period_start, st.period_end = pop.signup_ts // DAY, first_end
        self.subscription_event(idx, pop.signup_ts + 30, 0, 0)
        new = pop.signup_ts >= self.start_ts
        self.bill(idx[new], pop.signup_ts[new] + 60)
        st.period_start, st.period_end = cur_start, cur_end
        # existing customers: the renewal that opened their current period, paid
        old = np.flatnonzero(~new & (st.period_start * DAY > pop.signup_ts))
        ts = st.period_start[old] * DAY + 3600
        self.subscription_event(old, ts, 1, 0)
        inv = self.next_invoice + np.arange(len(old))
        self.next_invoice += len(old)
        due = np.round(st.mrr()[old] * np.where(pop.annual[old], 12, 1) * 100).astype(np.int64)
        self.rec.add(
            "invoices",
            cust=old,
            ts=ts + 60,
            paid=True,
            inv=inv,
            due=due,
            attempt=1,
            created=ts + 60,
        )

    def record_versions(self, cust: np.ndarray, ts: np.ndarray) -> None:
        """Customer DB rows as they are after a change at `ts`."""
        st = self.st
        self.rec.add(
            "versions",
            cust=cust,
            ts=ts,
            plan=st.plan[cust],
            seats=st.seats[cust],
            owner=st.owner[cust],
        )

    # ------------------------------------------------------------------ the week
    def week(self, w: int, day: int) -> None:
        """Simulate the week starting at Monday `day` (week index `w`, negative in warm-up)."""
        emit = w >= 0
        now = day * DAY
        st, pop, rng, wts = self.st, self.pop, self.rng, self.cfg.weights
        st.mrr_hist[:, w % 14] = st.mrr()
        alive = np.flatnonzero((pop.signup_ts < now) & (st.churn_ts >= now))
        if emit and day <= self.end_day:
            sig = st.signals(day, w)
            month, dom = season(day)
            vis_all = visible_logit(sig, wts, month, dom)
            effect, noise = st.cs_effect(w, wts), st.step_noise(wts, rng)
            vis = vis_all[alive]
            h = hazard(vis, effect[alive], noise[alive])
            self.rec.add("truth", cust=alive, day=day, hazard=h)
            if self.team is None:
                u = rng.random(len(alive))
            else:
                listed = self.team.listed(w, day, alive, vis)
                u_all = self.team.uniforms(w)
                self.team.untreated_week(w, now, u_all, vis_all, effect, noise)
                u = u_all[alive]
            churn = alive[u < h]
            cts = np.maximum(now + rng.integers(0, 7 * DAY, len(churn)), self.start_ts)
            churn, cts = churn[cts < self.end_ts], cts[cts < self.end_ts]
            st.churn_ts[churn] = cts
            self.subscription_event(churn, cts, 2, 2)
            if self.team is None:
                self.cs_team(w, now, alive, vis)
            else:
                self.team.contact(w, now, listed)
        self.usage(w, day, emit)
        if emit:
            self.tickets(w, now, alive)
            self.plan_changes(w, now, alive)
            self.renewals(day, now, alive)
            st.prune(now)
        self.flush_usage(day + 7)
        B.drift_engagement(st.e, st.declining, st.decline_rate, st.problem(w), rng)
        new_problem = rng.random(pop.n) < 0.01
        st.problem_until[new_problem] = w + rng.integers(2, 9, new_problem.sum())

    def cs_team(self, w: int, now: int, alive: np.ndarray, vis: np.ndarray) -> None:
        """Contact a random share of the customers that look at risk; offer some a discount."""
        st, rng = self.st, self.rng
        if not len(alive):
            return
        threshold = np.quantile(vis, CS_AT_RISK_QUANTILE)
        at_risk = alive[(vis >= threshold) & (w - st.cs_any_w[alive] >= CS_CONTACT_GAP_WEEKS)]
        chosen = at_risk[rng.random(len(at_risk)) < CS_CONTACT_SHARE]
        ts = (
            now
            + rng.integers(0, 5, len(chosen)) * DAY
            + rng.integers(9 * 3600, 17 * 3600, len(chosen))
        )
        keep = ts < np.minimum(st.churn_ts[chosen], self.end_ts)
        chosen, ts = chosen[keep], ts[keep]
        reached = rng.random(len(chosen)) < CS_REACH_SHARE
        self.record_contacts(w, chosen, ts, reached)
        pick = np.flatnonzero(reached)
        pick = pick[rng.random(len(pick)) < 0.5]
        offer, ots = chosen[pick], ts[pick] + rng.integers(3600, 2 * DAY, len(pick))
        keep = ots < np.minimum(st.churn_ts[offer], self.end_ts)
        offer, ots = offer[keep], ots[keep]
        outcome = rng.choice(3, len(offer), p=[0.5, 0.15, 0.35])  # retained, churned, pending
        self.rec.add(
            "actions",
            cust=offer,
            ts=ots,
            kind=1,
            owner=st.owner[offer],
            outcome=outcome,
            note=2 + outcome,
        )
        acc = offer[outcome == 0]
        st.cs_accept_w[acc] = w
        st.cs_announce_w[offer[outcome == 1]] = w
        st.cs_pending_w[offer[outcome == 2]] = w
        st.discount[acc] = np.maximum(st.discount[acc], rng.choice([15, 20, 25], len(acc)))
        self.subscription_event(acc, ots[outcome == 0] + 3600, 1, 0)

    def record_contacts(
        self, w: int, chosen: np.ndarray, ts: np.ndarray, reached: np.ndarray
    ) -> None:
        """One CS contact attempt per customer of `chosen` at `ts` (week `w`), whichever team
        made it; the `reached` ones take the contact's hidden effect."""
        st = self.st
        st.cs_any_w[chosen] = w
        st.cs_contact_w[chosen[reached]] = w
        self.rec.add(
            "actions",
            cust=chosen,
            ts=ts,
            kind=0,
            owner=st.owner[chosen],
            outcome=np.where(reached, 2, -1),
            note=np.where(reached, 0, 1),
        )

    def usage(self, w: int, day: int, emit: bool) -> None:
        """Usage events of the week; updates the login/event windows."""
        st, pop, rng = self.st, self.pop, self.rng
        signup_day = pop.signup_ts // DAY
        idx = np.flatnonzero((signup_day < day + 6) & (st.churn_ts >= day * DAY))
        days = day + np.arange(7)
        cd = st.churn_ts[idx] // DAY
        ok = (signup_day[idx, None] < days) & (days < cd[:, None]) & (days <= self.end_day)
        if emit:
            ok &= days >= self.start_day
        rate = pop.base_rate[idx] * np.exp(st.e[idx]) * self.cfg.activity_scale
        ev = B.usage_week(
            idx, days, ok, rate, st.pool()[idx], st.n_features()[idx], st.plan[idx], rng
        )
        logins = ev["etype"] == 0
        st.logins[:, w % 8] = np.bincount(ev["cust"][logins], minlength=pop.n)
        st.events[:, w % 4] = np.bincount(ev["cust"], minlength=pop.n)
        np.maximum.at(st.last_login_day, ev["cust"][logins], ev["occurred"][logins] // DAY)
        if emit and len(ev["cust"]):
            order = np.argsort(ev["occurred"], kind="stable")
            ev = {k: v[order] for k, v in ev.items()}
            ev["event_id"] = self.next_event_id + np.arange(len(order), dtype=np.int64)
            self.next_event_id += len(order)
            self.usage_buffer.append(deliver(ev, self.cfg.dirt_rate, rng))

    def flush_usage(self, before_day: int | None) -> None:
        """Hand complete arrival days (< before_day; all if None) to the usage sink."""
        if not self.usage_buffer:
            return
        ev = {k: np.concatenate([p[k] for p in self.usage_buffer]) for k in self.usage_buffer[0]}
        arrival = ev["received"] // DAY
        done = arrival < before_day if before_day is not None else np.ones(len(arrival), bool)
        self.usage_buffer = [{k: v[~done] for k, v in ev.items()}] if (~done).any() else []
        if done.any():
            self.usage_sink({k: v[done] for k, v in ev.items()})

    def tickets(self, w: int, now: int, alive: np.ndarray) -> None:
        """New support tickets of the week and their whole life."""
        st = self.st
        prob = st.problem(w)[alive]
        lam = 0.012 * st.seats[alive] ** 0.4 * (1 + 3 * prob) * (1 + 0.5 * st.declining[alive])
        t = B.new_tickets(alive, lam, prob.astype(float), self.rng)
        created = now + 9 * 3600 + t["offset"]
        keep = (created < st.churn_ts[t["cust"]]) & (created < self.end_ts)
        keep = np.flatnonzero(keep)[np.argsort(created[keep], kind="stable")]
        t = {k: v[keep] for k, v in t.items()}
        created = created[keep]
        n = len(created)
        if not n:
            return
        ids = self.next_ticket + np.arange(n)
        self.next_ticket += n
        opened = created + t["open_after"]
        solved = created + np.maximum(t["resolve_after"], t["open_after"] + 600)
        esc = np.where(t["escalate_after"] >= 0, created + t["escalate_after"], NEVER)
        esc = np.where(esc < solved, esc, NEVER)
        rated = np.where(t["rated"], solved + t["rate_after"], NEVER)
        pending = np.where(t["pending"], (opened + solved) // 2, NEVER)
        closed = solved + 4 * DAY + 600
        st.add_tickets(t["cust"], created, solved, esc, rated, t["bad"])
        stamps = {
            "new": created,
            "open": opened,
            "escalated": esc,
            "pending": pending,
            "solved": solved,
            "rated": rated,
            "closed": closed,
        }
        for step, ts in stamps.items():
            m = (ts < NEVER) & (ts < self.end_ts)
            if not m.any():
                continue
            status = {
                "new": 0,
                "open": 1,
                "escalated": 1,
                "pending": 2,
                "solved": 3,
                "rated": 3,
                "closed": 4,
            }[step]
            if step == "rated":
                status = np.where(rated < closed, 3, 4)
            sat = np.where(ts >= rated, np.where(t["bad"], 3, 2), np.where(ts >= solved, 1, 0))
            self.rec.add(
                "tickets",
                id=ids[m],
                cust=t["cust"][m],
                status=np.broadcast_to(status, n)[m],
                priority=np.where(ts >= esc, np.maximum(t["priority"], 2), t["priority"])[m],
                ttype=t["ttype"][m],
                subject=t["subject"][m],
                tag=t["tag"][m],
                escalated=(ts >= esc)[m],
                sat=sat[m],
                requester=t["requester"][m],
                created=created[m],
                updated=ts[m],
            )

    def plan_changes(self, w: int, now: int, alive: np.ndarray) -> None:
        """Upgrades, downgrades, owner changes and no-op DB touches (dirt)."""
        st, rng, n = self.st, self.rng, len(alive)
        util = (st.pool() / st.seats)[alive]
        e, dec = st.e[alive], st.declining[alive]
        p_up = 0.004 * (1 + 2 * (util > 0.8)) * (1 + (e > 0.3))
        p_down = 0.003 * (1 + 2 * (util < 0.4)) * (1 + 2 * dec)
        r = rng.random(n)
        up, down = alive[r < p_up], alive[(r >= p_up) & (r < p_up + p_down)]
        tier = rng.random(len(up)) < 0.3
        st.plan[up[tier]] = np.minimum(st.plan[up[tier]] + 1, 2)
        st.seats[up] = np.ceil(st.seats[up] * rng.uniform(1.2, 1.5, len(up))).astype(np.int32)
        tier = rng.random(len(down)) < 0.2
        st.plan[down[tier]] = np.maximum(st.plan[down[tier]] - 1, 0)
        st.seats[down] = np.maximum(1, np.floor(st.seats[down] * rng.uniform(0.6, 0.8, len(down))))
        changed = np.concatenate([up, down])
        ts = now + rng.integers(0, 7 * DAY, len(changed))
        ok = ts < np.minimum(st.churn_ts[changed], self.end_ts)
        self.record_versions(changed[ok], ts[ok])
        self.subscription_event(changed[ok], ts[ok], 1, 0)
        owner = alive[rng.random(n) < 0.002]
        st.owner[owner] = rng.integers(0, len(CS_MANAGERS), len(owner))
        touch = np.concatenate([owner, alive[rng.random(n) < self.cfg.dirt_rate * 0.3]])
        ts = now + rng.integers(0, 7 * DAY, len(touch))
        ok = ts < np.minimum(st.churn_ts[touch], self.end_ts)
        self.record_versions(touch[ok], ts[ok])

    def renewals(self, day: int, now: int, alive: np.ndarray) -> None:
        """Start a new billing period for subscriptions whose period ends this week."""
        st, pop = self.st, self.pop
        due = alive[(st.period_end[alive] >= day) & (st.period_end[alive] < day + 7)]
        ts = st.period_end[due] * DAY + 3600 + self.rng.integers(0, 3 * 3600, len(due))
        ok = ts < np.minimum(st.churn_ts[due], self.end_ts)
        due, ts = due[ok], ts[ok]
        st.period_start[due] = st.period_end[due]
        st.period_end[due] = add_months(st.period_end[due], st.interval[due], pop.anchor[due])
        self.subscription_event(due, ts, 1, 0)
        self.bill(due, ts + 60)

    def run(self) -> None:
        """Simulate from the warm-up to the end date."""
        self.signups()
        first = self.first_monday - WARMUP_WEEKS * 7
        for day in range(first, self.end_day + 1, 7):
            self.week((day - self.first_monday) // 7, day)
        self.flush_usage(None)
