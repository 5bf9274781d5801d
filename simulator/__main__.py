"""Command line: `python -m simulator generate ...` and `python -m simulator release ...`.

Two commands because simulating is done once (slow, deterministic) and releasing is done once
per simulated day or week (cheap), exactly like the pipeline would see its sources grow.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from simulator.generate import generate as _generate
from simulator.release import release as _release

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="All customers that ever exist")] = 1000,
    seed: Annotated[int, typer.Option()] = 42,
    start: Annotated[str, typer.Option()] = "2024-01-01",
    end: Annotated[str, typer.Option()] = "2025-12-31",
    out: Annotated[Path, typer.Option(help="Private history folder")] = Path("data/sim"),
    dirt_rate: Annotated[float, typer.Option(help="Share of rows with each kind of dirt")] = 0.01,
    activity_scale: Annotated[float, typer.Option(help="Multiplies usage volume")] = 1.0,
    cs_mode: Annotated[
        str, typer.Option(help="self: CS picks who looks at risk; list: CS works cs_plan.parquet")
    ] = "self",
    cs_list_share: Annotated[
        float, typer.Option(help="list mode: share of listed customers CS tries to contact")
    ] = 0.8,
) -> None:
    """Simulate the whole period once and store the private history."""
    t0 = time.perf_counter()
    path = _generate(
        customers,
        seed,
        start,
        end,
        out,
        dirt_rate,
        activity_scale,
        cs_mode=cs_mode,
        cs_list_share=cs_list_share,
    )
    typer.echo(f"simulated {customers} customers into {path} in {time.perf_counter() - t0:.1f}s")


@app.command()
def release(
    as_of: Annotated[str, typer.Option(help="Day D: the sources hold everything before D")],
    sim: Annotated[Path, typer.Option()] = Path("data/sim"),
    out: Annotated[Path, typer.Option()] = Path("data/sources"),
    customer_db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in --out)")
    ] = None,
) -> None:
    """Write what the four source systems hold on day D."""
    t0 = time.perf_counter()
    _release(as_of, sim, out, customer_db_url)
    typer.echo(f"released sources as of {as_of} into {out} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    app()
