"""`generate`: simulate the whole period once and keep the private history on disk.

Later `release` calls only slice this history by date, so that every release of one
simulation is consistent with every other one.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator import config as C
from simulator import formats
from simulator.clock import DAY, NEVER, from_day
from simulator.engine import Simulation
from simulator.plan import FilePlan, ListSource, read_plan, write_plan
from simulator.storage import SimPaths, write_parquet

USAGE_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("cust", pa.int32()),
        ("user", pa.int32()),
        ("etype", pa.int8()),
        ("feature", pa.int8()),
        ("occurred", pa.timestamp("s")),
        ("received", pa.timestamp("s")),
        ("bad_ts", pa.int8()),
        ("raw", pa.bool_()),
    ]
)
ACTION_NOTES = (
    "check-in call",
    "left voicemail",
    "offered discount, accepted",
    "offered discount, customer will cancel",
    "offered discount, thinking about it",
)


def _usage_sink(paths: SimPaths):
    def sink(ev: dict[str, np.ndarray]) -> None:
        arrival = ev["received"] // DAY
        order = np.lexsort((ev["event_id"], ev["received"], ev["raw"], arrival))
        ev = {k: v[order] for k, v in ev.items()}
        arrival = arrival[order]
        bounds = np.flatnonzero(np.diff(arrival)) + 1
        for chunk in np.split(np.arange(len(arrival)), bounds):
            if not len(chunk):
                continue
            cols = {k: ev[k][chunk] for k in USAGE_SCHEMA.names}
            cols["occurred"] = cols["occurred"].astype("datetime64[s]")
            cols["received"] = cols["received"].astype("datetime64[s]")
            table = pa.table(cols, schema=USAGE_SCHEMA)
            write_parquet(table, paths.usage_day(from_day(arrival[chunk[0]]).isoformat()))

    return sink


def _frame(cols: dict[str, np.ndarray], names: list[str]) -> pd.DataFrame:
    if cols:
        return pd.DataFrame(cols)
    return pd.DataFrame({n: pd.Series(dtype="int64") for n in names})


def generate(
    customers: int = 1000,
    seed: int = 42,
    start: date | str = date(2024, 1, 1),
    end: date | str = date(2025, 12, 31),
    out: Path | str = Path("data/sim"),
    dirt_rate: float = 0.01,
    activity_scale: float = 1.0,
    cs_mode: str = "self",
    cs_list_share: float = 0.8,
    plan: ListSource | Path | str | None = None,
) -> Path:
    """Simulate `customers` customers from `start` to `end` and write the history to `out`.

    Returns the simulation directory. An earlier simulation there is replaced; any other
    non-empty folder (but one holding only a plan file) is refused. In "list" mode CS works
    the contact plan `plan` (a function, or a plan file); without one, the plan file of `out`
    (`cs_plan.parquet`) if there is one, which is kept. A file plan is stored as
    `out/cs_plan.parquet`.
    """
    cfg = C.SimConfig(
        customers=customers,
        seed=seed,
        start=date.fromisoformat(str(start)),
        end=date.fromisoformat(str(end)),
        dirt_rate=dirt_rate,
        activity_scale=activity_scale,
        cs_mode=cs_mode,
        cs_list_share=cs_list_share,
    )
    paths = SimPaths(out)
    source = _plan(plan, paths, cfg)
    if paths.root.exists() and any(p != paths.plan for p in paths.root.iterdir()):
        if not paths.meta.exists():
            raise FileExistsError(f"{paths.root} is not empty and holds no simulation")
        shutil.rmtree(paths.root)
    paths.root.mkdir(parents=True, exist_ok=True)
    if isinstance(source, FilePlan):
        write_plan(source.rows, paths.plan)
    sim = Simulation(cfg, _usage_sink(paths), source)
    sim.run()
    _fill_empty_days(paths, sim)
    _write_history(paths, sim, cfg)
    if sim.team is not None:
        write_parquet(
            pa.Table.from_pandas(sim.team.episodes(), preserve_index=False), paths.episodes
        )
    paths.meta.write_text(cfg.to_json())
    return paths.root


def _plan(
    plan: ListSource | Path | str | None, paths: SimPaths, cfg: C.SimConfig
) -> ListSource | None:
    """The contact plan to run with (read before `out` is cleared: the plan file lives there)."""
    if cfg.cs_mode != "list":
        if plan is not None:
            raise ValueError('a contact plan needs cs_mode="list"')
        return None
    if plan is None:
        return FilePlan(read_plan(paths.plan)) if paths.plan.exists() else None
    if isinstance(plan, str | Path):
        return FilePlan(read_plan(plan))
    return plan


def _fill_empty_days(paths: SimPaths, sim: Simulation) -> None:
    for day in range(sim.start_day, sim.end_day + 1):
        p = paths.usage_day(from_day(day).isoformat())
        if not p.exists():
            write_parquet(USAGE_SCHEMA.empty_table(), p)


def _write_history(paths: SimPaths, sim: Simulation, cfg: C.SimConfig) -> None:
    pop, st, rec = sim.pop, sim.st, sim.rec
    cid = pop.customer_ids
    con = formats.connect(spill_dir=paths.root / ".spill")
    ids = pd.DataFrame(
        {
            "cust": np.arange(pop.n),
            "customer_id": cid,
            "name": pop.company_name,
            "email": np.char.add(
                np.char.add("billing@", np.char.replace(np.char.lower(pop.company_name), " ", "-")),
                ".example",
            ),
            "signup_ts": pop.signup_ts,
            "cus": pop.stripe_customer,
            "sub": pop.stripe_subscription,
            "annual": pop.annual,
        }
    )
    write_parquet(
        pa.Table.from_pandas(
            pd.DataFrame(
                {
                    "customer_id": cid,
                    "signup_ts": pop.signup_ts,
                    "churn_ts": np.where(st.churn_ts < NEVER, st.churn_ts, -1),
                    "annual": pop.annual,
                }
            ),
            preserve_index=False,
        ),
        paths.customers,
    )

    churn = st.churn_ts
    # Stripe: nothing of a customer after its churn, except the deletion itself
    subs = _frame(rec.columns("subs"), ["cust", "ts", "kind"])
    subs = subs[
        (subs.ts <= churn[subs.cust])
        & (subs.ts < sim.end_ts)
        & ((subs.kind == 2) | (subs.ts < churn[subs.cust]))
    ]
    inv = _frame(rec.columns("invoices"), ["cust", "ts"])
    inv = inv[(inv.ts < churn[inv.cust]) & (inv.ts < sim.end_ts)]
    created = _frame(rec.columns("cus_created"), ["cust", "ts"])
    formats.stripe_events(con, ids, subs, inv, created, cfg.seed, paths.stripe)

    tickets = _frame(rec.columns("tickets"), ["id", "updated"])
    rng = np.random.default_rng(cfg.seed + 1)
    tickets["dup"] = 0
    again = tickets[rng.random(len(tickets)) < cfg.dirt_rate].assign(dup=1)
    tickets = pd.concat([tickets, again], ignore_index=True)
    formats.ticket_versions(con, tickets, paths.tickets)
    formats.organizations(con, ids, paths.organizations)
    con.close()
    shutil.rmtree(paths.root / ".spill", ignore_errors=True)

    v = _frame(rec.columns("versions"), ["cust", "ts"])
    v = v[v.ts < np.minimum(churn[v.cust] + 1, sim.end_ts)].sort_values(
        ["cust", "ts"], kind="stable"
    )
    ts = v.ts.to_numpy().copy()
    same = v.cust.to_numpy()
    for _ in range(20):  # updated_at strictly increases per customer
        bump = np.r_[False, (same[1:] == same[:-1]) & (ts[1:] <= ts[:-1])]
        if not bump.any():
            break
        ts[bump] = ts[np.flatnonzero(bump) - 1] + 1
    ind, ctry = pop.industry[v.cust], pop.country[v.cust]
    versions = pd.DataFrame(
        {
            "customer_id": cid[v.cust],
            "company_name": pop.company_name[v.cust],
            "industry": np.where(ind >= 0, np.asarray(C.INDUSTRIES)[ind], None),
            "country": np.where(ctry >= 0, np.asarray(C.COUNTRIES)[ctry], None),
            "plan": np.asarray(C.PLANS)[v.plan],
            "seats": v.seats.astype("int64"),
            "contract_type": np.where(pop.annual[v.cust], "annual", "monthly"),
            "signup_date": (pop.signup_ts[v.cust] // DAY).astype("datetime64[D]"),
            "account_owner": np.asarray(C.CS_MANAGERS)[v.owner],
            "updated_at": ts.astype("datetime64[s]"),
        }
    )
    write_parquet(pa.Table.from_pandas(versions, preserve_index=False), paths.customer_versions)

    a = _frame(rec.columns("actions"), ["cust", "ts", "kind", "owner", "outcome", "note"])
    a = a[a.ts < churn[a.cust]].sort_values(["ts", "cust"], kind="stable")
    actions = pd.DataFrame(
        {
            "action_id": [f"A{i:08d}" for i in range(1, len(a) + 1)],
            "customer_id": cid[a.cust],
            "action_type": np.where(a.kind == 0, "contacted", "offer_made"),
            "action_at": a.ts.to_numpy().astype("datetime64[s]"),
            "performed_by": np.asarray(C.CS_MANAGERS)[a.owner],
            "outcome": np.where(
                a.outcome >= 0,
                np.asarray(["retained", "churned", "pending"])[np.maximum(a.outcome, 0)],
                None,
            ),
            "note": np.asarray(ACTION_NOTES)[a.note],
        }
    )
    write_parquet(pa.Table.from_pandas(actions, preserve_index=False), paths.cs_actions)

    t = _frame(rec.columns("truth"), ["cust", "day", "hazard"])
    truth = pa.table(
        {
            "customer_id": cid[t.cust],
            "week_start": t.day.to_numpy().astype("datetime64[D]"),
            "hazard": t.hazard.to_numpy(),
        }
    )
    write_parquet(truth, paths.hazard)
