"""The whole pipeline at a given size: a first load, then one weekly cycle, step by step.

    python -m bench --part pipeline --customers 1000000 [--workdir DIR] [--restart]

First load: simulate two years, release them up to a week before the last Monday, drop the
simulator's history of the released usage days (never read again; 6 GB at 1M customers that
the warehouse needs), ingest, build every layer up to the features. Weekly cycle on the last
Monday: release the last week, ingest, build, train, score, build the marts, publish the
app's snapshot, check drift. Each step is the project's own job with its date given (`churn
simulate`, `churn release --as-of`, `churn train --as-of`, `churn score --as-of`, `churn
transform --select tag:marts`, `churn publish`, `churn drift --as-of`; ingest and the
features build through `flows.jobs`, which take the date the CLI commands do not), run as a
child process with the work dir's `data` as CHURN_DATA_DIR. Each prints its wall time, peak
RSS and the data dir's size (bench/steps.py says how they are measured); the run is resumable
from its last finished step.

The goals it reports against are those of a company of a million customers on one machine:
the weekly cycle, training included, under 15 minutes; the first load under 2 hours; the data
dir's peak under 60 GB.

`bench.weekly` replays only the weekly feature build on kept data, against a plain GROUP BY;
the two helpers below read dbt's run results for it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.steps import Step, StepFigures, run_steps, shown

FIRST_LOAD, WEEKLY = "first load", "weekly cycle"
# steps that stand in for the sources (the simulator), not the pipeline's own jobs
SOURCE_STEPS = {"simulate", "release", "forget released history", "weekly release"}
GOALS = {FIRST_LOAD: 2 * 3600.0, WEEKLY: 15 * 60.0}
DISK_GOAL_BYTES = 60 * 10**9
# what a user's environment names elsewhere would send the jobs outside the work dir
REDIRECTING_ENV = (
    "CHURN_TARGET",
    "CHURN_WAREHOUSE_PATH",
    "CHURN_SOURCES_DIR",
    "CHURN_CUSTOMER_DB_URL",
    "CHURN_MLFLOW_TRACKING_URI",
    "CHURN_APP_SNAPSHOT_PATH",
    "CHURN_APP_ACTIONS_DB_URL",
    "CHURN_METRICS_TEXTFILE",
    "CHURN_PUSHGATEWAY_URL",
    "CHURN_SLACK_WEBHOOK_URL",
    "CHURN_ZENDESK_BASE_URL",
    "CHURN_STRIPE_BASE_URL",
)


@dataclass(frozen=True)
class PipelinePlan:
    """One company: its size, simulated span and seed; the dates of its two loads."""

    customers: int
    start: date = date(2024, 1, 1)
    end: date = date(2026, 1, 1)
    seed: int = 1

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError(f"--customers must be at least 1, not {self.customers}")
        if self.first_load_as_of <= self.start:
            raise ValueError(
                f"--start {self.start} to --end {self.end} is too short: the first load is "
                "released a week before the last Monday before the end"
            )

    @property
    def weekly_as_of(self) -> date:
        """The last Monday before `end`: the weekly cycle's scoring date."""
        return self.end - timedelta(days=self.end.weekday() or 7)

    @property
    def first_load_as_of(self) -> date:
        return self.weekly_as_of - timedelta(weeks=1)

    def params(self) -> dict[str, object]:
        """What identifies the run in its state file."""
        return {
            "customers": self.customers,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seed": self.seed,
        }

    def steps(self) -> list[Step]:
        """First load then the weekly cycle, as command lines."""
        churn = _churn_command()
        job = [sys.executable, "-m", "bench.pipeline"]
        first, week = self.first_load_as_of.isoformat(), self.weekly_as_of.isoformat()
        simulate = [
            *churn,
            "simulate",
            f"--customers={self.customers}",
            f"--seed={self.seed}",
            f"--start={self.start.isoformat()}",
            f"--end={self.end.isoformat()}",
        ]
        return [
            # a simulation stopped half-way is refused by the next one: start both clean
            Step("simulate", (*simulate,), FIRST_LOAD, fresh=("sim",)),
            Step("release", (*churn, "release", "--as-of", first), FIRST_LOAD, fresh=("sources",)),
            # the simulator's usage history of released days: never read again, and at 1M
            # customers 6 GB that the built warehouse needs on this disk
            Step("forget released history", (*job, "forget"), FIRST_LOAD),
            Step("ingest", (*job, "ingest", first), FIRST_LOAD),
            Step("build", (*job, "build", first), FIRST_LOAD),
            Step("weekly release", (*churn, "release", "--as-of", week), WEEKLY),
            Step("weekly ingest", (*job, "ingest", week), WEEKLY),
            Step("weekly build", (*job, "build", week), WEEKLY),
            Step("train", (*churn, "train", "--as-of", week), WEEKLY),
            Step("score", (*churn, "score", "--as-of", week), WEEKLY),
            Step("marts", (*churn, "transform", "--select", "tag:marts"), WEEKLY),
            Step("publish", (*churn, "publish"), WEEKLY),
            Step("drift", (*churn, "drift", "--as-of", week, "--no-retrain"), WEEKLY),
        ]


def _churn_command() -> list[str]:
    """The `churn` command of this environment (the module when no script is installed)."""
    script = Path(sys.executable).with_name("churn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]


def child_env(workdir: Path) -> dict[str, str]:
    """The jobs' environment: the work dir's data; dbt's target files and Prefect's home
    beside it (not in the repository, where other runs may write); offline defaults."""
    env = {k: v for k, v in os.environ.items() if k not in REDIRECTING_ENV}
    runtime = (workdir / "runtime").resolve()
    env.update(
        CHURN_DATA_DIR=str((workdir / "data").resolve()),
        DBT_TARGET_PATH=str(runtime / "dbt-target"),
        PREFECT_HOME=str(runtime / "prefect"),
    )
    for key, value in {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "DO_NOT_TRACK": "1",
        # a failed step's traceback goes to its log; its one-line error is still the last line
        "CHURN_DEBUG": "1",
    }.items():
        env.setdefault(key, value)
    return env


# ---------- the run and its report


def run(
    plan: PipelinePlan,
    workdir: Path,
    restart: bool = False,
    keep: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, StepFigures]:
    """Run (or resume) the plan in `workdir`; return every step's figures.

    Without `keep`, the data dir is removed once every step is done; the state file stays,
    so the same command prints the figures again without running anything.
    """
    data_dir = workdir / "data"
    steps = plan.steps()
    existing = next(path for path in (workdir, *workdir.resolve().parents) if path.exists())
    free = shutil.disk_usage(existing).free
    echo(
        f"pipeline at {plan.customers:,} customers in {workdir} "
        f"(first load {plan.first_load_as_of}, weekly cycle {plan.weekly_as_of}; "
        f"{gb(free)} free on its disk)"
    )
    figures = run_steps(
        steps,
        workdir,
        plan.params(),
        data_dir,
        env=child_env(workdir),
        restart=restart,
        echo=echo,
        describe=lambda step, f: describe(f),
    )
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


def gb(size: float) -> str:
    return f"{size / 10**9:.2f} GB"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"{minutes // 60} h {minutes % 60:02d} min"
        if minutes >= 60
        else f"{minutes} min {rest:02d} s"
    )


def describe(figures: StepFigures) -> str:
    """One step's figures on one line."""
    return (
        f"{duration(figures.seconds)}, peak RSS {gb(figures.peak_rss)} "
        f"(tree {gb(figures.tree_rss)}), disk {gb(figures.disk_after)} "
        f"(peak {gb(figures.disk_peak)})"
    )


def report(
    plan: PipelinePlan,
    figures: dict[str, StepFigures],
    stopped: Mapping[str, Sequence[float]] | None = None,
) -> list[str]:
    """Markdown: a table of the steps, then the goals with what was measured (the finishing
    attempts), then the time of stopped attempts, if any."""
    lines = [
        f"\n### pipeline at {plan.customers:,} customers ({plan.start} to {plan.end}, "
        f"seed {plan.seed})\n",
        "| stage | step | command | wall time | peak RSS (largest process) "
        "| peak RSS (process tree, sampled) | data dir after | data dir peak (sampled) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    steps = plan.steps()
    for step in steps:
        f = figures[step.name]
        command = shown(step.command).replace("|", "\\|")
        lines.append(
            f"| {step.stage} | {step.name} | `{command}` | {duration(f.seconds)} "
            f"| {gb(f.peak_rss)} | {gb(f.tree_rss)} | {gb(f.disk_after)} | {gb(f.disk_peak)} |"
        )
    lines += ["", "| goal | measured | |", "|---|---|---|"]
    for stage, limit in GOALS.items():
        stage_steps = [s for s in steps if s.stage == stage]
        total = sum(figures[s.name].seconds for s in stage_steps)
        own = sum(figures[s.name].seconds for s in stage_steps if s.name not in SOURCE_STEPS)
        lines.append(
            f"| {stage} under {duration(limit)} | {duration(total)} "
            f"({duration(own)} without the simulator's steps) "
            f"| {'met' if total <= limit else 'NOT met'} |"
        )
    peak = max(f.disk_peak for f in figures.values())
    lines.append(
        f"| data dir peak under {gb(DISK_GOAL_BYTES)} | {gb(peak)} "
        f"| {'met' if peak <= DISK_GOAL_BYTES else 'NOT met'} |"
    )
    for name, attempts in (stopped or {}).items():
        if attempts:
            lines.append(
                f"\n{name}: {len(attempts)} stopped attempt(s) before the one above, "
                f"{duration(sum(attempts))} in all (not in the totals)"
            )
    return lines


# ---------- the two jobs the CLI runs without a date, with theirs


def _job_main(argv: list[str]) -> int:
    """`python -m bench.pipeline ingest|build YYYY-MM-DD`: `flows.jobs` with an explicit
    as_of, settings from the environment (CHURN_DATA_DIR)."""
    from flows import jobs

    # the step's log shows each source and usage load as it lands: a 1M first load takes hours
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("ingestion").setLevel(logging.INFO)
    logging.getLogger("flows.staging").setLevel(logging.INFO)  # and each staging run
    if argv == ["forget"]:
        return _forget_released_history()
    if len(argv) != 2 or argv[0] not in {"ingest", "build"}:
        print("usage: python -m bench.pipeline ingest|build YYYY-MM-DD | forget", file=sys.stderr)
        return 2
    try:
        as_of = date.fromisoformat(argv[1])
    except ValueError:
        print(f"error: not a date (YYYY-MM-DD): {argv[1]!r}", file=sys.stderr)
        return 2
    try:
        if argv[0] == "ingest":
            print(jobs.ingest_job(as_of))
        else:
            print(f"dbt build ok: {jobs.transform_job(as_of).describe()}")
    except Exception as exc:  # noqa: BLE001 - the traceback to the step's log, then one line
        traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _forget_released_history() -> int:
    """`python -m bench.pipeline forget`: drop the simulator's usage days already released
    (simulator/writers/usage.py: `forget_released`)."""
    from simulator.storage import SimPaths
    from simulator.writers.usage import forget_released
    from warehouse.settings import get_settings

    settings = get_settings()
    sim = SimPaths(settings.data_dir / "sim")
    freed = forget_released(sim, settings.sources_path / "usage")
    print(f"forgot {freed / 10**9:.2f} GB of released usage history")
    return 0


# ---------- dbt's run results, for bench.weekly


def _feature_sql_seconds(project_dir: Path, prefix: str = "model.") -> float:
    """Sum of dbt's own execution time for the models whose id starts with `prefix` (not
    tests, not dbt start-up; with 2 threads two models share the cores, so the sum
    overstates the time the build takes)."""
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    return sum(r["execution_time"] for r in results["results"] if r["unique_id"].startswith(prefix))


def _feature_elapsed_seconds(project_dir: Path) -> float:
    """From the first model's start to the last model's end: what the build takes, dbt's
    start-up (parsing, connecting) left out."""
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    spans = [
        (datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["completed_at"]))
        for r in results["results"]
        if r["unique_id"].startswith("model.")
        for t in r["timing"]
    ]
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


if __name__ == "__main__":
    sys.exit(_job_main(sys.argv[1:]))
