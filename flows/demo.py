"""The demo: a company's weekly loop replayed over simulated time on the embedded default.

1. simulate the four source systems;
2. week 0: release, ingest, dbt build, train a first champion on the labels known at the
   start of the backfill, and score the past Mondays with it (features are point-in-time,
   so these are the scores the company would have had; their outcomes are honest);
3. the following weeks: the Prefect `weekly` flow (ingest -> dbt -> train -> score -> marts
   -> drift), training only every other week as a Sunday job would, so that a challenger
   meets a champion;
4. the monthly outcomes check; then what happened and how to look at it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

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
    timings: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def step(self, name: str, func: Callable, *args, **kwargs):  # noqa: ANN201
        started = time.perf_counter()
        result = func(*args, **kwargs)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started
        return result


DEMO_STATE = ("sim", "sources", "dlt", "app", "reports", "metrics", "mlartifacts", "mlflow.db")


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


def run_demo(
    plan: DemoPlan,
    settings: Settings,
    echo: Callable[[str], None] = print,
    fresh: bool = True,
) -> DemoLog:
    """Run the whole demo (from a clean slate unless `fresh` is False); returns timings and
    what happened."""
    import os

    import simulator
    from flows import jobs

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # the ephemeral API server starts in a subprocess: give a busy laptop time to start it
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    prefect_home = (settings.data_dir / "prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))
    from flows.flows import weekly_flow

    log = DemoLog()
    if fresh:
        removed = reset_demo_state(settings)
        if removed:
            echo(f"-> removed the previous demo's state: {', '.join(p.name for p in removed)}")
    sim = settings.data_dir / "sim"
    echo(f"-> simulate {plan.customers:,} customers, {plan.start} to {plan.end}")
    log.step(
        "simulate",
        simulator.generate,
        customers=plan.customers,
        seed=plan.seed,
        start=plan.start,
        end=plan.end,
        out=sim,
    )

    week0, *loop_weeks = plan.mondays
    backfill = [week0 - timedelta(weeks=k) for k in range(plan.backfill_weeks, 0, -1)]
    echo(f"-> week 0 ({week0}): release, ingest, dbt build")
    _release(log, sim, week0, settings)
    log.step("ingest", jobs.ingest_job, week0, settings)
    log.step("dbt build", jobs.transform_job, week0, settings)
    echo(f"-> train the first champion as of {backfill[0]} and score {len(backfill) + 1} Mondays")
    first = log.step("train", jobs.train_job, backfill[0], settings, stop_on_rejection=False)
    log.events.append(_train_line(backfill[0], first))
    for monday in [*backfill, week0]:
        log.step("score", jobs.score_job, monday, settings)
    log.step("dbt build", jobs.transform_job, week0, settings, marts=True)
    drift = log.step("drift", jobs.drift_job, week0, settings)
    log.events.append(f"{week0}: drift {drift.status} ({drift.drift_share:.0%} of features)")

    for k, monday in enumerate(loop_weeks):
        echo(f"-> week {k + 1} ({monday}): release, then the Prefect weekly flow")
        _release(log, sim, monday, settings)
        outcome = log.step(
            "weekly flow", weekly_flow, monday, train=(k % 2 == 0), stop_on_rejection=False
        )
        log.events.append(
            f"{monday}: weekly flow: promoted={outcome['promoted']}, tiers {outcome['tiers']}, "
            f"drift {outcome['drift']}"
        )
    last = loop_weeks[-1] if loop_weeks else week0
    outcomes = log.step("outcomes", jobs.outcomes_job, last, settings)
    for row in outcomes.itertuples():
        log.events.append(
            f"outcomes {row.scoring_month}: v{row.model_version} scored {row.scored:,}, "
            f"AUC {row.roc_auc:.3f}, High-tier precision {row.precision_high:.0%}"
        )
    return log


def _release(log: DemoLog, sim, as_of: date, settings: Settings) -> None:  # noqa: ANN001
    import simulator

    log.step(
        "release",
        simulator.release,
        as_of=as_of,
        sim=sim,
        out=settings.sources_path,
        customer_db_url=settings.customer_db,
    )


def _train_line(as_of: date, result) -> str:  # noqa: ANN001
    verdict = "promoted to champion" if result.promoted else "rejected"
    return (
        f"{as_of}: trained v{result.version} ({result.chosen}), ROC-AUC "
        f"{result.metrics.get('roc_auc', float('nan')):.3f}: {verdict}"
    )
