"""The list-driven CS team: it contacts only listed customers, a plan changes nothing before
its first Monday, and the truth's potential outcomes follow the hidden contact effect."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from simulator import generate, release
from simulator.clock import DAY, to_day
from simulator.config import HazardWeights, SimConfig
from simulator.engine import Simulation
from simulator.plan import WeekView, append_plan, read_plan, write_plan
from simulator.truth import list_episodes

START, END = date(2024, 1, 1), date(2024, 3, 31)


class TopRiskPlan:
    """Lists the riskiest `share` of active customers each Monday, minus every third one of
    them (by id), which it keeps as a control group; remembers both."""

    def __init__(self, share: float = 0.1) -> None:
        self.share = share
        self.listed: set[tuple[date, str]] = set()
        self.control: set[str] = set()

    def __call__(self, view: WeekView) -> list[str]:
        top = view.customer_ids[view.risk >= np.quantile(view.risk, 1 - self.share)]
        control = {c for c in top if int(c[1:]) % 3 == 0}
        self.control |= control
        out = [c for c in top if c not in control]
        self.listed |= {(view.as_of, c) for c in out}
        return out


def _run(plan, customers: int = 1000, **weights: float) -> Simulation:
    cfg = SimConfig(
        customers=customers,
        seed=5,
        start=START,
        end=END,
        cs_mode="list",
        weights=HazardWeights(**weights),
    )
    sim = Simulation(cfg, lambda events: None, plan)
    sim.run()
    return sim


def _actions(sim: Simulation) -> pd.DataFrame:
    a = pd.DataFrame(sim.rec.columns("actions"))
    a["customer_id"] = sim.pop.customer_ids[a.cust]
    a["monday"] = [date(1970, 1, 5) + timedelta(days=7 * ((t // DAY - 4) // 7)) for t in a.ts]
    return a


def test_self_driven_team_is_unchanged() -> None:
    # the self-driven team's output for this seed: a change here changes every simulation
    cfg = SimConfig(customers=400, seed=7, start=START, end=END)
    sim = Simulation(cfg, lambda events: None)
    sim.run()
    kinds = pd.Series(sim.rec.columns("actions")["kind"]).value_counts()
    assert (kinds.get(0), kinds.get(1)) == (63, 24)
    assert int((sim.st.churn_ts < 10**17).sum()) == 29
    assert sim.team is None


def test_the_team_contacts_only_listed_customers_in_their_week() -> None:
    plan = TopRiskPlan()
    sim = _run(plan)
    a = _actions(sim)
    assert len(a) > 20 and plan.control
    assert (a.kind == 0).all()  # contacts only, no offers
    assert {(m, c) for m, c in zip(a.monday, a.customer_id, strict=True)} <= plan.listed
    assert not set(a.customer_id) & plan.control


def test_no_plan_no_contacts() -> None:
    sim = _run(None, customers=300)
    assert not sim.rec.columns("actions")
    assert sim.team.episodes().empty


def test_plan_changes_nothing_before_its_first_monday(tmp_path: Path) -> None:
    first, second = date(2024, 2, 5), date(2024, 2, 12)
    args = dict(customers=300, seed=9, start=START, end=END, dirt_rate=0.02, cs_mode="list")
    a = generate(out=tmp_path / "a", **args)
    hazard = pq.read_table(a / "truth" / "weekly_hazard.parquet").to_pandas()

    def riskiest(day: date) -> list[str]:
        week = hazard[pd.to_datetime(hazard.week_start) == pd.Timestamp(day)]
        return list(week.nlargest(30, "hazard").customer_id)

    append_plan(tmp_path / "b", first, riskiest(first))
    b = generate(out=tmp_path / "b", **args)  # reads the plan file under its folder
    assert read_plan(b / "cs_plan.parquet").as_of.unique().tolist() == [first]
    c = generate(out=tmp_path / "c", plan=b / "cs_plan.parquet", **args)
    append_plan(c, second, riskiest(second))
    c = generate(out=c, **args)  # the same plan, one week longer

    assert pq.read_table(a / "cs_actions.parquet").num_rows == 0
    acted = pq.read_table(b / "cs_actions.parquet").to_pandas()
    assert len(acted) > 0 and (acted.action_at >= pd.Timestamp(first)).all()
    for x, y, day in ((a, b, first), (b, c, second)):
        release(day, x, tmp_path / f"r-{x.name}-{day}")
        release(day, y, tmp_path / f"r-{y.name}-{day}")
        _assert_same_files(tmp_path / f"r-{x.name}-{day}", tmp_path / f"r-{y.name}-{day}")
    # after its first Monday, the plan does change the history
    later = second + timedelta(days=35)
    release(later, a, tmp_path / "late-a")
    release(later, b, tmp_path / "late-b")
    with pytest.raises(AssertionError):
        _assert_same_files(tmp_path / "late-a", tmp_path / "late-b")
    episodes = list_episodes(b)
    assert set(episodes.as_of) == {first}
    assert list(episodes.columns) == [
        "customer_id",
        "as_of",
        "contacted",
        "reached",
        "churned_treated",
        "churned_untreated",
    ]


def _assert_same_files(x: Path, y: Path) -> None:
    files = sorted(p.relative_to(x) for p in x.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(y) for p in y.rglob("*") if p.is_file())
    for f in files:
        if f.suffix == ".sqlite":
            _assert_same_db(x / f, y / f)
        else:
            assert (x / f).read_bytes() == (y / f).read_bytes(), f


def _assert_same_db(x: Path, y: Path) -> None:
    import sqlite3

    with sqlite3.connect(x) as cx, sqlite3.connect(y) as cy:
        tables = [t for (t,) in cx.execute("select name from sqlite_master where type='table'")]
        assert tables
        for t in tables:
            query = f"select * from {t} order by 1, 2"
            pd.testing.assert_frame_equal(pd.read_sql(query, cx), pd.read_sql(query, cy))


@pytest.mark.parametrize("effect", [-3.0, 3.0])
def test_potential_outcomes_differ_only_where_a_reached_contact_acted(effect: float) -> None:
    sim = _run(TopRiskPlan(), cs_contact=effect)
    e = sim.team.episodes()
    treated, untreated = e.churned_treated.astype(int), e.churned_untreated.astype(int)
    differ = treated != untreated
    assert len(e) > 100 and differ.sum() >= 3
    assert e[differ].reached.all()
    assert (e.reached <= e.contacted).all()
    saved = untreated - treated
    assert (saved >= 0).all() if effect < 0 else (saved <= 0).all()
    # the treated outcome is the simulated history
    start = np.array([to_day(d) for d in e.as_of]) * DAY
    churn = sim.st.churn_ts[sim.team.index_of(e.customer_id)]
    assert (e.churned_treated == ((churn >= start) & (churn < start + 28 * DAY))).all()


def test_plans_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Mondays"):
        write_plan(
            pd.DataFrame({"as_of": [date(2024, 2, 6)], "customer_id": ["C0000001"]}),
            tmp_path / "p.parquet",
        )
    with pytest.raises(ValueError, match="unknown"):
        _run(lambda view: ["C9999999"], customers=100)
    with pytest.raises(ValueError, match="list"):
        Simulation(SimConfig(customers=10), lambda events: None, lambda view: [])
    rows = pd.DataFrame({"as_of": ["2024-02-05"], "customer_id": ["C0000002"]})
    rows.to_json(tmp_path / "p.json", orient="records")
    assert read_plan(tmp_path / "p.json").as_of.tolist() == [date(2024, 2, 5)]


def test_cli_generates_from_the_plan_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simulator.__main__ import app

    sim = tmp_path / "sim"
    append_plan(sim, date(2024, 1, 8), [f"C{i:07d}" for i in range(1, 201)])
    args = ["generate", "--customers", "200", "--seed", "3", "--end", "2024-02-29"]
    res = CliRunner().invoke(app, [*args, "--out", str(sim), "--cs-mode", "list"])
    assert res.exit_code == 0, res.output
    acted = pq.read_table(sim / "cs_actions.parquet").to_pandas()
    assert len(acted) > 0
    assert (acted.action_at.dt.normalize().between("2024-01-08", "2024-01-12")).all()
    assert set(list_episodes(sim).as_of) == {date(2024, 1, 8)}
