"""The demo: a company's weekly loop replayed over simulated time on the embedded default.

1. simulate the four source systems;
2. week 0: release, ingest, dbt build, train a first champion on the labels known at the
   start of the backfill, and score the past Mondays with it (features are point-in-time,
   so these are the scores the company would have had; their outcomes are honest);
3. the following weeks: the Prefect `weekly` flow (ingest -> dbt -> train -> score -> marts
   -> drift), training only every other week as a Sunday job would, so that a challenger
   meets a champion;
4. the monthly outcomes check; then what happened and how to look at it.

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

from flows.console import StepPrinter, log_dir, progress_lines, quiet_terminal
from warehouse.settings import Settings


@dataclass
class DemoPlan:
    customers: int = 3_000
    seed: int = 42
    start: date = date(2024, 1, 1)
    end: date = date(2026, 1, 1)
    weeks: int = 3  # weekly loops after week 0
    backfill_weeks: int = 8  # past Mondays scored in week 0

    @property
    def mondays(self) -> list[date]:
        """Week 0 then each loop week: the last Mondays before `end`."""
        last = self.end - timedelta(days=(self.end.weekday() or 7))
        return [last - timedelta(weeks=k) for k in range(self.weeks, -1, -1)]


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
        f"week 0 then {plan.weeks} weekly loop(s)\n"
        f"logs: {logs / 'dbt.log'} (dbt), {logs / 'demo.log'} (Prefect, MLflow, the jobs)\n"
    )
    with ExitStack() as stack:
        stack.enter_context(quiet_terminal(logs / "demo.log", log.printer))
        stack.callback(_quiet_prefect_at_exit)
        stack.enter_context(progress_lines(log.printer))
        stack.enter_context(dbt_output(logs, log.printer.nodes))
        _replay(plan, settings, log, weekly_flow)
    return log


def _quiet_prefect_at_exit() -> None:
    """Prefect stops its temporary API server when the process exits and says so (INFO) on the
    terminal, below the summary: keep that line off it. Registered after the server's own exit
    hook, so it runs first; Prefect's warnings and errors still show."""
    atexit.register(logging.getLogger("prefect").setLevel, logging.WARNING)


def _replay(plan: DemoPlan, settings: Settings, log: DemoLog, weekly_flow: Callable) -> None:
    """The demo's steps, in order (see the module's docstring)."""
    import simulator
    from flows import jobs

    sim = settings.data_dir / "sim"
    with log.step("simulate", f"simulate {plan.customers:,} customers"):
        simulator.generate(
            customers=plan.customers, seed=plan.seed, start=plan.start, end=plan.end, out=sim
        )

    week0, *loop_weeks = plan.mondays
    backfill = [week0 - timedelta(weeks=k) for k in range(plan.backfill_weeks, 0, -1)]
    week = _week(0, week0)
    _release(log, sim, week0, settings, week)
    with log.step("ingest", "ingest", week):
        jobs.ingest_job(week0, settings)
    with log.step("dbt build", "dbt build", week):
        jobs.transform_job(week0, settings)
    with log.step("train", f"train as of {backfill[0]}", week):
        first = jobs.train_job(backfill[0], settings, stop_on_rejection=False)
    log.events.append(_train_line(backfill[0], first))
    with log.step("score", f"score {len(backfill) + 1} Mondays", week):
        for monday in [*backfill, week0]:
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
    last = loop_weeks[-1] if loop_weeks else week0
    with log.step("outcomes", "outcomes", _week(len(loop_weeks), last)):
        outcomes = jobs.outcomes_job(last, settings)
    for row in outcomes.itertuples():
        log.events.append(
            f"outcomes {row.scoring_month}: v{row.model_version} scored {row.scored:,}, "
            f"AUC {row.roc_auc:.3f}, High-tier precision {row.precision_high:.0%}"
        )


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
