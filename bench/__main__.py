"""`make bench`: print the measured figures of every part, as markdown tables.

Sizes are flags so a laptop runs the small ones and a bigger box the 1M ones:
    python -m bench --part pipeline --customers 1000000
    python -m bench --part ml --train-rows 100000 --train-rows 1000000 --score-rows 1000000
    python -m bench --part serving
    python -m bench --part save_effect --seeds 20 --save-customers 30000
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    typer.echo(f"\n### {title}\n\n| measure | value |\n|---|---|")
    for key, value in rows:
        typer.echo(f"| {key} | {value} |")


def _pipeline(
    sizes: list[int], start: str, end: str, seed: int, workdir: Path, restart: bool, keep: bool
) -> None:
    from bench import pipeline
    from bench.steps import StateMismatch, StepFailed, load_state

    for size in sizes:
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            raise typer.BadParameter(f"not a date (YYYY-MM-DD): {start} / {end}") from None
        try:
            plan = pipeline.PipelinePlan(customers=size, start=first, end=last, seed=seed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        target = workdir / f"pipeline-{size}"
        try:
            figures = pipeline.run(plan, target, restart=restart, keep=keep, echo=typer.echo)
        except StateMismatch as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except StepFailed as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:  # the work dir cannot be written (permissions, a full disk)
            typer.echo(f"error: work dir {target}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
        for line in pipeline.report(plan, figures, load_state(target)["stopped"]):
            typer.echo(line)


def _ml(train_rows: list[int], score_rows: list[int]) -> None:
    from bench import models as ml_bench

    for rows in train_rows:
        result = ml_bench.bench_training(rows)
        _table(
            f"training on {rows:,} synthetic rows", [(k, f"{v:,.2f}") for k, v in result.items()]
        )
    for rows in score_rows:
        result = ml_bench.bench_scoring(rows)
        _table(
            f"batch scoring of {rows:,} customers (HGB champion)",
            [(k, f"{v:,.3f}" if isinstance(v, float) else str(v)) for k, v in result.items()],
        )


def _save_effect(seeds: int, customers: int, end: str) -> None:
    from bench import save_effect

    size = save_effect.BenchSize(customers=customers, end=date.fromisoformat(end))
    save_effect.run(seeds, size, echo=typer.echo)


PIPELINE_HELP = (
    "pipeline: a first load (simulate, release, ingest, dbt build), then one weekly cycle "
    "(release, ingest, dbt build, train, score, marts, publish, drift), each step a child "
    "process; prints its wall time, peak RSS and data-dir size, against the goals (weekly "
    "cycle under 15 min, first load under 2 h, disk peak under 60 GB). Resumable: each "
    "finished step is recorded in WORKDIR/pipeline-N/bench_state.json, and the same command "
    "run again prints the recorded steps and resumes at the first unfinished one (a step that "
    "was stopped runs again from its start); --restart starts over."
)


@app.command(
    help=f"Run the chosen benchmarks (all by default) and print their figures.\n\n{PIPELINE_HELP}"
)
def main(
    part: Annotated[
        list[str] | None, typer.Option(help="pipeline, ml, serving, save_effect")
    ] = None,
    customers: Annotated[
        list[int] | None, typer.Option(help="pipeline: company sizes (default 5000, 100000)")
    ] = None,
    train_rows: Annotated[list[int] | None, typer.Option()] = None,
    score_rows: Annotated[list[int] | None, typer.Option()] = None,
    start: Annotated[str, typer.Option(help="pipeline: first simulated day")] = "2024-01-01",
    end: Annotated[
        str, typer.Option(help="pipeline: day after the last simulated day")
    ] = "2026-01-01",
    seed: Annotated[int, typer.Option(help="pipeline: the simulator's seed")] = 1,
    workdir: Annotated[
        Path, typer.Option(help="pipeline: one pipeline-N dir per size, with its state file")
    ] = Path("/tmp/churn-bench"),
    restart: Annotated[
        bool, typer.Option(help="pipeline: forget the recorded steps and start over")
    ] = False,
    keep: Annotated[
        bool,
        typer.Option(help="pipeline: keep the data once every step is done (the state stays)"),
    ] = False,
    seeds: Annotated[int, typer.Option(help="save_effect: simulated companies")] = 20,
    save_customers: Annotated[int, typer.Option(help="save_effect: customers each")] = 30_000,
    save_end: Annotated[
        str, typer.Option(help="save_effect: last simulated day (from 2024-01-01)")
    ] = "2024-06-30",
) -> None:
    parts = part or ["pipeline", "ml", "serving", "save_effect"]
    if "pipeline" in parts:
        _pipeline(customers or [5_000, 100_000], start, end, seed, workdir, restart, keep)
    if "ml" in parts:
        _ml(train_rows or [100_000, 1_000_000], score_rows or [200_000, 1_000_000])
    if "serving" in parts:
        from bench import serving

        serving.main([])
    if "save_effect" in parts:
        _save_effect(seeds, save_customers, save_end)


if __name__ == "__main__":
    app()
