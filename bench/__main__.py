"""`make bench`: print the measured figures of every part, as a markdown table per part.

Sizes are flags so a laptop can run the small ones and a bigger box the 1M ones:
`python -m bench --customers 100000 --customers 1000000`.
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


@app.command()
def main(
    customers: Annotated[list[int] | None, typer.Option(help="pipeline sizes")] = None,
    start: Annotated[str, typer.Option()] = "2024-01-01",
    end: Annotated[str, typer.Option()] = "2026-01-01",
    workdir: Annotated[Path, typer.Option()] = Path("data/bench"),
    keep: Annotated[bool, typer.Option(help="keep the bench warehouses")] = False,
) -> None:
    """Run the pipeline benchmark at each size and print the figures."""
    from bench import pipeline

    for size in customers or [100_000]:
        target = workdir / f"pipeline-{size}"
        shutil.rmtree(target, ignore_errors=True)
        figures = pipeline.run(size, date.fromisoformat(start), date.fromisoformat(end), target)
        _table(f"pipeline at {size:,} customers ({start} to {end})", figures.rows())
        if not keep:
            shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    app()
