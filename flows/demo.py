"""The demo: a company's weekly loop replayed over simulated time on the embedded default.

With the list-driven CS team (the default) the loop is closed: the simulated CS team contacts
only the customers on the list the pipeline publishes (`marts.at_risk_customers`, High risk,
which leaves out the randomized control group), so the save effect can be measured against
the control group and checked against the simulator's truth.

1. simulate the four source systems (list-driven: nobody is contacted before the first list);
2. the weeks before week 0, each as a short weekly cycle: release, ingest, dbt build, score,
   marts, publish the High-risk list to the simulated CS team, simulate again so that the
   next week holds CS's contacts (the history before that list stays the same). The first
   cycle trains the first champion. These weeks start the loop early enough for the 28-day
   horizon of its first episodes to pass before the demo ends;
3. week 0 is the last such cycle, with a drift check;
4. the following weeks: the Prefect `weekly` flow (ingest -> dbt -> train -> score -> marts
   -> drift), training only every other week as a Sunday job would, so that a challenger
   meets a champion; each week's list goes to CS as above;
5. the monthly outcomes check; the save effect measured against the control group, beside the
   simulator's true effect; then how to look at it.

With the self-driven CS team (`cs_team="self"`, CS picks whom to call by itself) the
simulation runs once, and week 0 scores the past Mondays at once with a first champion trained
on the labels known at the start of the backfill (features are point-in-time, so these are the
scores the company would have had; their outcomes are honest).

It prints one line per step with its time (on a terminal, the running step's line shows its
progress); dbt's node log, Prefect's run lines and the libraries' messages go to the log files
it names once, and only errors reach the terminal besides the step lines.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flows.console import StepPrinter, log_dir, progress_lines, quiet_terminal
from warehouse.settings import Settings

if TYPE_CHECKING:
    from simulator.plan import WeekView

CS_TEAMS = ("list", "self")


@dataclass
class DemoPlan:
    customers: int = 3_000
    seed: int = 42
    start: date = date(2024, 1, 1)
    end: date = date(2026, 1, 1)
    weeks: int = 3  # weekly loops after week 0
    # "list": CS works the published at-risk list (control kept off it); "self": CS picks
    cs_team: str = "list"
    backfill_weeks: int = 8  # self-driven CS: past Mondays scored at once in week 0
    # list-driven CS: weekly cycles before week 0. With 3 loop weeks, 2 lead weeks let the
    # 28-day horizon of the first list's episodes pass before the last Monday
    lead_weeks: int = 2

    def __post_init__(self) -> None:
        if self.cs_team not in CS_TEAMS:
            raise ValueError(f"cs_team must be one of {CS_TEAMS}, not {self.cs_team!r}")

    @property
    def mondays(self) -> list[date]:
        """Week 0 then each loop week: the last Mondays before `end`."""
        last = self.end - timedelta(days=(self.end.weekday() or 7))
        return [last - timedelta(weeks=k) for k in range(self.weeks, -1, -1)]

    @property
    def past_mondays(self) -> list[date]:
        """The Mondays before week 0 that get scores: backfilled at once (self-driven CS) or
        one cycle each (list-driven CS)."""
        n = self.lead_weeks if self.cs_team == "list" else self.backfill_weeks
        week0 = self.mondays[0]
        return [week0 - timedelta(weeks=k) for k in range(n, 0, -1)]


@dataclass
class DemoLog:
    printer: StepPrinter = field(default_factory=StepPrinter)
    timings: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, text: str, prefix: str = "") -> Iterator[None]:
        """Print the block as one step; its time adds up under `name` for the summary."""
        started = time.perf_counter()
        try:
            with self.printer.step(text, prefix):
                yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


DEMO_STATE = (
    "sim",
    "sources",
    "dlt",
    "app",
    "reports",
    "metrics",
    "mlartifacts",
    "mlflow.db",
    "logs",
)


def reset_demo_state(settings: Settings) -> list[Path]:
    """Remove what an earlier demo left under the data directory, so a rerun starts from the
    same clean slate (an old champion would otherwise judge the new first model on labels it
    was trained on). Only the demo's own paths inside `data_dir` are touched."""
    data = settings.data_dir.resolve()
    targets = [data / name for name in DEMO_STATE]
    warehouse = settings.warehouse_file.resolve()
    if warehouse.is_relative_to(data):
        targets += [warehouse, warehouse.with_name(warehouse.name + ".wal")]
    removed = []
    for path in targets:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def _prepare_environment(settings: Settings) -> None:
    """Offline defaults for the libraries; a user's own environment wins."""
    # the ephemeral API server starts in a subprocess: give a busy laptop time to start it
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect's client telemetry and its notice
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    prefect_home = (settings.data_dir / "prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))


def run_demo(
    plan: DemoPlan,
    settings: Settings,
    printer: StepPrinter | None = None,
    fresh: bool = True,
) -> DemoLog:
    """Run the whole demo (from a clean slate unless `fresh` is False); returns timings and
    what happened."""
    from flows.dbt_runner import dbt_output

    _prepare_environment(settings)
    # Prefect binds its console handler to the terminal when imported: before it is quieted
    from flows.flows import weekly_flow

    log = DemoLog(printer or StepPrinter())
    if fresh:
        removed = reset_demo_state(settings)
        if removed:
            log.printer.note(f"removed the previous demo's state: {_names(removed)}")
    logs = log_dir(settings)
    log.printer.note(
        f"churn demo: {plan.customers:,} customers, {plan.start} to {plan.end}; "
        f"{_team_text(plan)}; week 0 then {plan.weeks} weekly loop(s)\n"
        f"logs: {logs / 'dbt.log'} (dbt), {logs / 'demo.log'} (Prefect, MLflow, the jobs)\n"
    )
    with ExitStack() as stack:
        stack.enter_context(quiet_terminal(logs / "demo.log", log.printer))
        stack.callback(_quiet_prefect_at_exit)
        stack.enter_context(progress_lines(log.printer))
        stack.enter_context(dbt_output(logs, log.printer.nodes))
        replay = _replay_list if plan.cs_team == "list" else _replay
        replay(plan, settings, log, weekly_flow)
    return log


def _team_text(plan: DemoPlan) -> str:
    if plan.cs_team == "list":
        return f"CS works the published list from {[*plan.past_mondays, plan.mondays[0]][0]}"
    return "CS picks whom to call by itself"


def _quiet_prefect_at_exit() -> None:
    """Prefect stops its temporary API server when the process exits and says so (INFO) on the
    terminal, below the summary: keep that line off it. Registered after the server's own exit
    hook, so it runs first; Prefect's warnings and errors still show."""
    atexit.register(logging.getLogger("prefect").setLevel, logging.WARNING)


def _replay(plan: DemoPlan, settings: Settings, log: DemoLog, weekly_flow: Callable) -> None:
    """The demo's steps with the self-driven CS team, in order (see the module's docstring)."""
    import simulator
    from flows import jobs

    sim = settings.data_dir / "sim"
    with log.step("simulate", f"simulate {plan.customers:,} customers"):
        simulator.generate(
            customers=plan.customers, seed=plan.seed, start=plan.start, end=plan.end, out=sim
        )

    week0, *loop_weeks = plan.mondays
    backfill = plan.past_mondays or [week0]
    week = _week(0, week0)
    _release(log, sim, week0, settings, week)
    with log.step("ingest", "ingest", week):
        jobs.ingest_job(week0, settings)
    with log.step("dbt build", "dbt build", week):
        jobs.transform_job(week0, settings)
    with log.step("train", f"train as of {backfill[0]}", week):
        first = jobs.train_job(backfill[0], settings, stop_on_rejection=False)
    log.events.append(_train_line(backfill[0], first))
    scored = sorted({*backfill, week0})
    with log.step("score", f"score {len(scored)} Monday(s)", week):
        for monday in scored:
            jobs.score_job(monday, settings)
    with log.step("dbt build", "dbt build (marts)", week):
        jobs.transform_job(week0, settings, marts=True)
    with log.step("drift", "drift", week):
        drift = jobs.drift_job(week0, settings)
    log.events.append(f"{week0}: drift {drift.status} ({drift.drift_share:.0%} of features)")

    for k, monday in enumerate(loop_weeks):
        week = _week(k + 1, monday)
        _release(log, sim, monday, settings, week)
        with log.step("weekly flow", "weekly flow", week):
            outcome = weekly_flow(monday, train=(k % 2 == 0), stop_on_rejection=False)
        log.events.append(
            f"{monday}: weekly flow: promoted={outcome['promoted']}, tiers {outcome['tiers']}, "
            f"drift {outcome['drift']}"
        )
    _outcomes(loop_weeks[-1] if loop_weeks else week0, len(loop_weeks), settings, log)


def _outcomes(last: date, k: int, settings: Settings, log: DemoLog) -> None:
    """The monthly outcomes check (it publishes the app's snapshot, so Model health shows it)."""
    from flows import jobs

    with log.step("outcomes", "outcomes", _week(k, last)):
        outcomes = jobs.outcomes_job(last, settings)
    for row in outcomes.itertuples():
        log.events.append(
            f"outcomes {row.scoring_month}: v{row.model_version} scored {row.scored:,}, "
            f"AUC {row.roc_auc:.3f}, High-tier precision {row.precision_high:.0%}"
        )


def _replay_list(plan: DemoPlan, settings: Settings, log: DemoLog, weekly_flow: Callable) -> None:
    """The demo's steps with the list-driven CS team, in order (see the module's docstring)."""
    from flows import jobs

    sim = settings.data_dir / "sim"
    week0, *loop_weeks = plan.mondays
    cycles = [*plan.past_mondays, week0]
    offset = len(cycles) - 1  # week 0 is the last cycle; the ones before count down to it
    _simulate(plan, sim, cycles[0], log, f"simulate {plan.customers:,} customers")
    for k, monday in enumerate(cycles):
        week = _week(k - offset, monday)
        if k:
            _simulate(plan, sim, cycles[0], log, "simulate with the lists so far", week)
        _release(log, sim, monday, settings, week)
        with log.step("ingest", "ingest", week):
            jobs.ingest_job(monday, settings)
        with log.step("dbt build", "dbt build", week):
            jobs.transform_job(monday, settings)
        if k == 0:
            with log.step("train", f"train as of {monday}", week):
                first = jobs.train_job(monday, settings, stop_on_rejection=False)
            log.events.append(_train_line(monday, first))
        with log.step("score", "score", week):
            jobs.score_job(monday, settings)
        with log.step("dbt build", "dbt build (marts)", week):
            jobs.transform_job(monday, settings, marts=True)
        _publish_list(sim, monday, settings, log, week)
    with log.step("drift", "drift", _week(0, week0)):
        drift = jobs.drift_job(week0, settings)
    log.events.append(f"{week0}: drift {drift.status} ({drift.drift_share:.0%} of features)")

    for k, monday in enumerate(loop_weeks):
        week = _week(k + 1, monday)
        _simulate(plan, sim, cycles[0], log, "simulate with the lists so far", week)
        _release(log, sim, monday, settings, week)
        with log.step("weekly flow", "weekly flow", week):
            outcome = weekly_flow(monday, train=(k % 2 == 0), stop_on_rejection=False)
        log.events.append(
            f"{monday}: weekly flow: promoted={outcome['promoted']}, tiers {outcome['tiers']}, "
            f"drift {outcome['drift']}"
        )
        _publish_list(sim, monday, settings, log, week)
    _outcomes(loop_weeks[-1] if loop_weeks else week0, len(loop_weeks), settings, log)
    log.events.extend(save_effect_lines(settings, sim, plan.customers))


class ContactPlan:
    """What the simulated CS team works from in the list-driven demo.

    Before the project's first list the company's CS team already called the customers that
    looked at risk to it (the top 5% by what the sources show, as the self-driven team does),
    so the history the first model learns from holds CS contacts; the week before the first
    list it calls nobody of its own, so every episode of the first list starts fresh. From
    the first list on it works only the published lists (the plan file's rows).
    """

    def __init__(self, first_list: date, rows: pd.DataFrame) -> None:
        from simulator.plan import FilePlan

        self.first_list, self.lists = first_list, FilePlan(rows)

    def __call__(self, view: WeekView) -> list[str]:
        if view.as_of >= self.first_list:
            return self.lists(view)
        if view.as_of >= self.first_list - timedelta(weeks=1) or not len(view.risk):
            return []
        from simulator.engine import CS_AT_RISK_QUANTILE

        watched = view.risk >= np.quantile(view.risk, CS_AT_RISK_QUANTILE)
        return [str(c) for c in view.customer_ids[watched]]


def _simulate(
    plan: DemoPlan, sim: Path, first_list: date, log: DemoLog, text: str, week: str = ""
) -> None:
    """Simulate with the list-driven CS team working the plan file's lists. Run again after a
    new list: the history before that list's Monday comes out the same, the weeks after it
    now hold CS's contacts."""
    import simulator
    from simulator.plan import PLAN_COLUMNS, read_plan, write_plan
    from simulator.storage import SimPaths

    path = SimPaths(sim).plan
    rows = read_plan(path) if path.exists() else pd.DataFrame(columns=PLAN_COLUMNS)
    with log.step("simulate", text, week):
        simulator.generate(
            customers=plan.customers,
            seed=plan.seed,
            start=plan.start,
            end=plan.end,
            out=sim,
            cs_mode="list",
            plan=ContactPlan(first_list, rows),
        )
        # a plan given as a function is not stored: keep the published lists beside the run
        write_plan(rows, path)


def published_list(settings: Settings, as_of: date) -> list[str]:
    """The customers on the published CS list of `as_of`: High risk on `at_risk_customers`
    (which leaves out the control group while its episode is open)."""
    from warehouse import get_warehouse

    frame = get_warehouse(settings, read_only=True).query(
        "select as_of_date, customer_id, risk_tier from marts.at_risk_customers"
    )
    weeks = {_day(d) for d in frame["as_of_date"]}
    if weeks != {as_of}:
        raise RuntimeError(f"the CS list should be of {as_of}, the marts hold {sorted(weeks)}")
    return sorted(frame.loc[frame["risk_tier"] == "High", "customer_id"].astype(str))


def _day(value: object) -> date:
    """A date from what a warehouse query returns for a DATE column (a date or a Timestamp)."""
    return pd.Timestamp(value).date()


def _publish_list(sim: Path, monday: date, settings: Settings, log: DemoLog, week: str) -> None:
    """Hand the week's published list to the simulated CS team (the plan file)."""
    from models_ml.config import MLConfig
    from models_ml.holdout import control_customers
    from simulator.plan import append_plan
    from warehouse import get_warehouse

    with log.step("list", "list to CS", week):
        ids = published_list(settings, monday)
        append_plan(sim, monday, ids)
        control = control_customers(get_warehouse(settings), monday, MLConfig().holdout_table)
    log.events.append(
        f"{monday}: CS list: {len(ids)} High-risk customers"
        + (f" ({len(control)} newly High held out as control)" if control else "")
    )


def save_effect_lines(settings: Settings, sim: Path, customers: int) -> list[str]:
    """The save effect measured against the control group (`marts.save_effect`, all months),
    and the simulator's true effect on the same listed episodes, as printable lines."""
    from simulator.truth import list_episodes
    from warehouse import get_warehouse

    wh = get_warehouse(settings, read_only=True)
    total = wh.query("select * from marts.save_effect where cumulative")
    if total.empty or not (total.treated_n.iloc[0] and total.control_n.iloc[0]):
        return [
            "save effect (randomized): not enough customers yet: no High-risk episode's "
            "28-day horizon has passed in both groups"
        ]
    row = total.iloc[0]
    width = (row.ci_high - row.ci_low) * 100
    measured = (
        f"save effect (randomized, {row.treated_n:,} treated / {row.control_n:,} control, "
        f"horizon passed): control churn {row.control_churn_rate:.1%} vs listed "
        f"{row.treated_churn_rate:.1%}, difference {row.effect * 100:+.1f} pts, 95% CI "
        f"[{row.ci_low * 100:+.1f}, {row.ci_high * 100:+.1f}]"
        + (f" — wide at {customers:,} customers" if width > 10 else "")
        + (
            "; the control share is off (sample-ratio check): not to be trusted"
            if bool(row.get("srm_mismatch", False))
            else ""
        )
    )
    treated = wh.query(
        "select customer_id, episode_start from marts.high_risk_episodes "
        "where horizon_passed and holdout_group = 'treated'"
    )
    treated["as_of"] = [_day(d) for d in treated.pop("episode_start")]
    truth = list_episodes(sim)
    both = treated.merge(truth, on=["customer_id", "as_of"], how="inner")
    if both.empty:
        return [measured, "true effect (simulator): no listed episode matches the treated ones"]
    saved = both.churned_untreated.astype(int) - both.churned_treated.astype(int)
    return [
        measured,
        f"true effect (simulator's truth, the same {len(both):,} listed episodes): "
        f"{saved.mean() * 100:+.1f} pts ({int(saved.sum())} saved of {len(both):,}, "
        f"{both.reached.mean():.0%} reached by CS)",
    ]


def _week(k: int, monday: date) -> str:
    return f"week {k:<2} {monday}  "


def _names(paths: list[Path]) -> str:
    return ", ".join(p.name for p in paths)


def _release(log: DemoLog, sim: Path, as_of: date, settings: Settings, week: str) -> None:
    import simulator

    with log.step("release", "release", week):
        simulator.release(
            as_of=as_of, sim=sim, out=settings.sources_path, customer_db_url=settings.customer_db
        )


def _train_line(as_of: date, result) -> str:  # noqa: ANN001
    verdict = "promoted to champion" if result.promoted else "rejected"
    return (
        f"{as_of}: trained v{result.version} ({result.chosen}), ROC-AUC "
        f"{result.metrics.get('roc_auc', float('nan')):.3f}: {verdict}"
    )
