"""The demo closes the loop: the simulated CS team works only the lists the pipeline published,
never contacts a customer held out as control, and the demo reports the save effect measured
against the control group beside the simulator's truth.

One small real demo (list-driven CS team, one weekly cycle and no Prefect loop week: the loop
weeks hand over their list the same way), simulated once more with its list as the next cycle
would; and the save-effect lines on a warehouse and truth file written for the purpose.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flows.console import StepPrinter
from flows.demo import DemoLog, DemoPlan, _simulate, run_demo, save_effect_lines
from simulator.plan import read_plan
from simulator.storage import SimPaths
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.settings import Settings, get_settings

pytestmark = pytest.mark.slow
# the simulation ends a week after week 0, so CS works the whole week of the list
SMALL = DemoPlan(
    customers=500, start=date(2025, 1, 1), end=date(2025, 12, 29), weeks=0, lead_weeks=0
)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, DemoLog]]:
    """The demo run once, then simulated with its list as the next cycle would (jobs read the
    process settings, so they point at its directory)."""
    data = tmp_path_factory.mktemp("demo")
    patch = pytest.MonkeyPatch()
    patch.setenv("CHURN_DATA_DIR", str(data))
    patch.setenv("PREFECT_HOME", str(data / "prefect"))
    # a small company has few High-risk customers: a larger control share draws some
    patch.setenv("CHURN_ML_HOLDOUT_SHARE", "0.5")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        log = run_demo(SMALL, settings, StepPrinter(io.StringIO(), live=False))
        _simulate(SMALL, settings.data_dir / "sim", SMALL.mondays[0], log, "next cycle")
        yield settings, log
    finally:
        patch.undo()
        get_settings.cache_clear()


def _monday(ts: pd.Series) -> pd.Series:
    day = pd.to_datetime(ts).dt.normalize()
    return (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.date


def _latest_tiers(wh: DuckDBWarehouse) -> pd.DataFrame:
    """Each customer's tier per scored Monday (the latest batch of that Monday)."""
    frame = wh.query(
        "select customer_id, as_of_date, risk_tier from ml.churn_predictions "
        "qualify row_number() over (partition by customer_id, as_of_date "
        "order by scored_at desc, model_version desc) = 1"
    )
    frame["as_of_date"] = [pd.Timestamp(d).date() for d in frame["as_of_date"]]
    return frame


def _control_weeks(wh: DuckDBWarehouse, tiers: pd.DataFrame) -> set[tuple[str, date]]:
    """(customer, Monday) of every week a control customer's High episode is open: from its
    start on, for as long as each scored week is High."""
    control = wh.query(
        "select customer_id, episode_start from ml.holdout_assignments "
        "where holdout_group = 'control'"
    )
    high = set(
        tiers.loc[tiers.risk_tier == "High", ["customer_id", "as_of_date"]].itertuples(
            index=False, name=None
        )
    )
    mondays = sorted(set(tiers.as_of_date))
    weeks = set()
    for customer, start in control.itertuples(index=False, name=None):
        for monday in (m for m in mondays if m >= pd.Timestamp(start).date()):
            if (customer, monday) not in high:
                break
            weeks.add((customer, monday))
    return weeks


def test_cs_works_only_the_published_list_and_never_the_control_group(small_demo) -> None:
    settings, log = small_demo
    sim = settings.data_dir / "sim"
    cycles = [*SMALL.past_mondays, SMALL.mondays[0]]
    plan = read_plan(SimPaths(sim).plan)
    assert sorted(set(plan.as_of)) == cycles, "one published list per cycle, from the first"

    wh = DuckDBWarehouse(settings.warehouse_file)
    tiers = _latest_tiers(wh)
    high = tiers[tiers.risk_tier == "High"]
    control = _control_weeks(wh, tiers)
    assert control, "the holdout drew control customers"
    for monday, rows in plan.groupby("as_of"):
        listed = set(rows.customer_id)
        assert listed, f"{monday}: an empty list"
        assert listed <= set(high.loc[high.as_of_date == monday, "customer_id"]), monday
        assert not {(c, monday) for c in listed} & control, f"{monday}: control on the list"
    first = plan.as_of.min()
    assert len(plan[plan.as_of == first]) == len(high[high.as_of_date == first]) - len(
        {c for c, m in control if m == first}
    ), "the first list is every High customer but the control group"

    # the simulated CS history from the first list on: only listed customers, in their week
    # (a listed customer CS tried in the last eight weeks is not tried again, so at this size
    # the list's week may hold no contact at all)
    actions = pd.read_parquet(SimPaths(sim).cs_actions)
    actions["monday"] = _monday(actions["action_at"])
    after = actions[actions.monday >= first]
    worked = set(after[["customer_id", "monday"]].itertuples(index=False, name=None))
    assert worked <= set(plan[["customer_id", "as_of"]].itertuples(index=False, name=None))
    controls = {c for c, _ in control}
    assert not controls & set(after.customer_id), "a control customer got a CS action"
    gap = actions[(actions.monday < first) & (actions.monday >= first - timedelta(7))]
    assert gap.empty, "the week before the first list CS calls nobody of its own"
    assert len(actions[actions.monday < first - timedelta(7)]), "CS called before the list"


def test_demo_prints_the_save_effect(small_demo) -> None:
    _, log = small_demo
    (line,) = [e for e in log.events if e.startswith("save effect (randomized")]
    # one weekly cycle ends before any episode's 28-day horizon has passed
    assert "not enough customers yet" in line
    assert any(e.startswith(f"{SMALL.mondays[0]}: CS list: ") for e in log.events)


def test_save_effect_lines_put_the_estimate_beside_the_truth(tmp_path: Path) -> None:
    """The measured line from `marts.save_effect` and the truth on the same treated episodes."""
    settings = Settings(data_dir=tmp_path)
    start = date(2025, 11, 3)
    con = duckdb.connect(str(settings.warehouse_file))
    con.execute("create schema marts")
    con.execute(
        "create table marts.save_effect as select null::date as scoring_month, true as "
        "cumulative, 40 as treated_n, 5 as control_n, 0.05 as treated_churn_rate, "
        "0.2 as control_churn_rate, 0.15 as effect, -0.05 as ci_low, 0.35 as ci_high"
    )
    episodes = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "episode_start": [start] * 4,
            "horizon_passed": [True, True, True, False],
            "holdout_group": ["treated", "treated", "control", "treated"],
        }
    )
    con.register("episodes", episodes)
    con.execute("create table marts.high_risk_episodes as select * from episodes")
    con.close()
    truth = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C4"],
            "as_of": [start] * 3,
            "contacted": [True, True, False],
            "reached": [True, False, False],
            "churned_treated": [False, False, True],
            "churned_untreated": [True, False, True],
        }
    )
    sim = tmp_path / "sim"
    SimPaths(sim).episodes.parent.mkdir(parents=True)
    truth.to_parquet(SimPaths(sim).episodes)

    measured, true = save_effect_lines(settings, sim, 3_000)
    assert measured == (
        "save effect (randomized, 40 treated / 5 control, horizon passed): control churn "
        "20.0% vs listed 5.0%, difference +15.0 pts, 95% CI [-5.0, +35.0] — wide at 3,000 "
        "customers"
    )
    assert true.startswith("true effect (simulator's truth, the same 2 listed episodes): +50.0")
