"""`make bench`: print the measured figures of every part, as markdown tables.

Sizes are flags so a laptop runs the small ones and a bigger box the 1M ones:
    python -m bench --customers 100000 --customers 1000000
    python -m bench --part ml --train-rows 100000 --train-rows 1000000 --score-rows 1000000
    python -m bench --part serving
    python -m bench --part save_effect --seeds 20 --save-customers 30000
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    typer.echo(f"\n### {title}\n\n| measure | value |\n|---|---|")
    for key, value in rows:
        typer.echo(f"| {key} | {value} |")


def _pipeline(sizes: list[int], start: str, end: str, workdir: Path, keep: bool) -> None:
    from bench import pipeline

    for size in sizes:
        target = workdir / f"pipeline-{size}"
        shutil.rmtree(target, ignore_errors=True)
        figures = pipeline.run(size, date.fromisoformat(start), date.fromisoformat(end), target)
        _table(f"pipeline at {size:,} customers ({start} to {end})", figures.rows())
        if figures.quality is not None:
            _table(f"model quality at {size:,} customers", figures.quality.rows_table())
        if not keep:
            shutil.rmtree(target, ignore_errors=True)


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


@app.command()
def main(
    part: Annotated[
        list[str] | None, typer.Option(help="pipeline, ml, serving, save_effect")
    ] = None,
    customers: Annotated[list[int] | None, typer.Option(help="pipeline sizes")] = None,
    train_rows: Annotated[list[int] | None, typer.Option()] = None,
    score_rows: Annotated[list[int] | None, typer.Option()] = None,
    start: Annotated[str, typer.Option()] = "2024-01-01",
    end: Annotated[str, typer.Option()] = "2026-01-01",
    workdir: Annotated[Path, typer.Option()] = Path("data/bench"),
    keep: Annotated[bool, typer.Option(help="keep the bench warehouses")] = False,
    seeds: Annotated[int, typer.Option(help="save_effect: simulated companies")] = 20,
    save_customers: Annotated[int, typer.Option(help="save_effect: customers each")] = 30_000,
    save_end: Annotated[
        str, typer.Option(help="save_effect: last simulated day (from 2024-01-01)")
    ] = "2024-06-30",
) -> None:
    """Run the chosen benchmarks (all by default) and print their figures."""
    parts = part or ["pipeline", "ml", "serving", "save_effect"]
    if "pipeline" in parts:
        _pipeline(customers or [5_000, 100_000], start, end, workdir, keep)
    if "ml" in parts:
        _ml(train_rows or [100_000, 1_000_000], score_rows or [200_000, 1_000_000])
    if "serving" in parts:
        from bench import serving

        serving.main([])
    if "save_effect" in parts:
        _save_effect(seeds, save_customers, save_end)


if __name__ == "__main__":
    app()
