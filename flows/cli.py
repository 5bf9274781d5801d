"""The `churn` command: one command per job, each with an explicit date where time matters.

Bad input is answered with one `error:` line and exit code 2, a failure at run time with one
line and exit code 1; `--debug` (or CHURN_DEBUG=1) adds the traceback (flows/console.py).
"""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_ml import register as register_ml_commands
from flows.cli_serve import register as register_serve_commands
from flows.console import DEBUG_ENV, ChurnGroup, parse_date
from flows.feature_contracts import register as register_feature_commands
from warehouse.settings import get_settings

app = typer.Typer(
    cls=ChurnGroup,
    help="Customer-churn prediction: one command per job.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2026, 1, 1)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"show tracebacks of failures (or {DEBUG_ENV}=1)")
    ] = False,
) -> None:
    """Customer-churn prediction: one command per job."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def _sim_dir() -> Path:
    return get_settings().data_dir / "sim"


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(help="customers that ever exist")] = 5_000,
    seed: Annotated[int, typer.Option()] = 42,
    start: Annotated[date, typer.Option(parser=parse_date, help="first simulated day")] = (
        DEFAULT_START
    ),
    end: Annotated[
        date, typer.Option(parser=parse_date, help="day after the last simulated day")
    ] = DEFAULT_END,
    dirt_rate: Annotated[float, typer.Option(help="share of dirty source rows")] = 0.01,
) -> None:
    """Simulate the company's four source systems (history kept under data/sim)."""
    import simulator

    started = time.perf_counter()
    simulator.generate(
        customers=customers,
        seed=seed,
        start=start,
        end=end,
        out=_sim_dir(),
        dirt_rate=dirt_rate,
    )
    typer.echo(f"simulated {customers:,} customers in {time.perf_counter() - started:.1f} s")


@app.command()
def release(
    as_of: Annotated[
        date,
        typer.Option(
            "--as-of",
            parser=parse_date,
            metavar="YYYY-MM-DD",
            help="release what the sources hold that day",
        ),
    ],
) -> None:
    """Write what the four source systems hold on AS_OF into data/sources."""
    import simulator

    settings = get_settings()
    simulator.release(
        as_of=as_of,
        sim=_sim_dir(),
        out=settings.sources_path,
        customer_db_url=settings.customer_db,
    )
    typer.echo(f"released sources as of {as_of} into {settings.sources_path}")


def _known_sources(values: list[str] | None) -> list[str] | None:
    """An unknown `--source` is a usage error, named with the choices."""
    if not values:
        return values
    from ingestion import SOURCES

    unknown = sorted(set(values) - set(SOURCES))
    if unknown:
        raise typer.BadParameter(
            f"unknown source {', '.join(unknown)}: choose from {', '.join(sorted(SOURCES))}"
        )
    return values


@app.command()
def ingest(
    source: Annotated[
        list[str] | None, typer.Option(help="only these sources", callback=_known_sources)
    ] = None,
) -> None:
    """Extract-load every source into the warehouse `raw` schema, incrementally."""
    import ingestion

    summary = ingestion.run(sources=source or None)
    typer.echo(str(summary))


@app.command()
def transform(
    select: Annotated[str | None, typer.Option(help="dbt node selection")] = None,
) -> None:
    """`dbt build`: models, data tests and unit tests; any failed or skipped node fails."""
    from flows.console import StepPrinter, log_dir
    from flows.dbt_runner import run_dbt

    settings = get_settings()
    args = ["build"] + (["--select", select] if select else [])
    logs = log_dir(settings)
    printer = StepPrinter()
    printer.note(f"dbt's log: {logs / 'dbt.log'}")
    with printer.step(" ".join(["dbt", *args])):
        summary = run_dbt(args, settings, log_dir=logs, on_progress=printer.nodes)
    for line in summary.rebuilds:
        typer.echo(line)
    typer.echo(f"dbt build ok: {summary.describe()}")


@app.command()
def publish() -> None:
    """Publish the marts as the app's read-only snapshot (done after every marts build)."""
    from dashboards.snapshot import publish_app_snapshot

    typer.echo(publish_app_snapshot(get_settings()).describe())


@app.command("app")
def run_app(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8501,
    address: Annotated[
        str,
        typer.Option(help="interface to listen on; another than loopback needs sign-in"),
    ] = "127.0.0.1",
) -> None:
    """Open the CS manager's app (Streamlit) on the published snapshot."""
    from dashboards.launch import main as launch

    # returns only when the launcher refuses (it has printed why); otherwise Streamlit runs
    raise typer.Exit(launch(["--address", address, "--port", str(port)]))


@app.command()
def status() -> None:
    """Rows per warehouse layer, and where the warehouse file is."""
    from flows.report import layer_rows

    settings = get_settings()
    for layer, tables, rows in layer_rows(settings):
        typer.echo(f"  {layer:<13} {tables:>3} tables {rows:>13,} rows")
    typer.echo(f"warehouse: {settings.warehouse_file.resolve()}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="customers that ever exist")] = 3_000,
    seed: Annotated[int, typer.Option()] = 42,
    weeks: Annotated[int, typer.Option(help="weekly loops after the first week")] = 3,
    cs_team: Annotated[
        str,
        typer.Option(
            "--cs-team",
            help="list: the simulated CS team works the published at-risk list (the control "
            "group is never contacted, so the save effect is measured); self: it picks whom "
            "to call by itself",
        ),
    ] = "list",
    fresh: Annotated[
        bool, typer.Option(help="first remove the previous demo's data under CHURN_DATA_DIR")
    ] = True,
) -> None:
    """Simulate, then replay the weekly loop over several weeks; print what happened."""
    from flows.common import StepFailed
    from flows.console import clean, log_dir
    from flows.demo import DemoPlan, run_demo
    from flows.report import layer_rows

    settings = get_settings()
    started = time.perf_counter()
    try:
        plan = DemoPlan(customers=customers, seed=seed, weeks=weeks, cs_team=cs_team)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cs-team") from exc
    try:
        log = run_demo(plan, settings, fresh=fresh)
    except StepFailed as exc:
        where = clean(f"(traceback in {log_dir(settings) / 'demo.log'})", settings)
        typer.echo(f"\nerror: {clean(str(exc), settings)} {where}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo("\nwhat happened:")
    for line in log.events:
        typer.echo(f"  {line}")
    typer.echo("\nrows per layer:")
    for layer, tables, rows in layer_rows(settings):
        typer.echo(f"  {layer:<13} {tables:>3} tables {rows:>13,} rows")
    typer.echo("\ntimings: " + ", ".join(f"{k} {v:.0f}s" for k, v in log.timings.items()))
    typer.echo(f"total: {time.perf_counter() - started:.0f} s")
    typer.echo(f"\nwarehouse: {settings.warehouse_file.resolve()}")
    typer.echo("CS app:    make app  (or .venv/bin/churn app)")
    typer.echo(f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri {settings.mlflow_uri}")
    typer.echo("dbt docs:  make docs && .venv/bin/dbt docs serve --profiles-dir profiles")


def _run_flow(name: str, as_of: date, **params: object) -> object:
    """Run one Prefect flow; a failed step (StepFailed names it) exits 1 with one line."""
    from flows import flows

    return getattr(flows, f"{name}_flow")(as_of=as_of, **params)


AsOf = Annotated[
    date,
    typer.Option("--as-of", parser=parse_date, metavar="YYYY-MM-DD", help="the job's date"),
]


@app.command()
def weekly(
    as_of: AsOf,
    train: Annotated[bool, typer.Option(help="train (Sunday job) before scoring")] = True,
) -> None:
    """The whole loop as a Prefect flow: ingest, dbt build, train, score, marts, drift."""
    result = _run_flow("weekly", as_of, train=train)
    typer.echo(f"weekly loop {as_of}: {result}")


@app.command()
def refresh(as_of: AsOf) -> None:
    """Prefect flow: ingest every source, then dbt build up to the features."""
    typer.echo(f"refresh {as_of}: {_run_flow('refresh', as_of)} tests passed")


@app.command()
def drift(
    as_of: AsOf,
    retrain: Annotated[bool, typer.Option(help="retrain when the drift is severe")] = True,
) -> None:
    """Prefect flow: drift of current features against the champion's training data."""
    typer.echo(f"drift {as_of}: {_run_flow('drift', as_of, retrain_on_severe=retrain)}")


@app.command()
def outcomes(as_of: AsOf) -> None:
    """Prefect flow: predictions against what happened, per scoring month."""
    typer.echo(f"outcomes {as_of}: {_run_flow('outcomes', as_of)} month(s) evaluated")


register_ml_commands(app)
register_serve_commands(app)
register_feature_commands(app)

if __name__ == "__main__":
    app()
