"""`churn train | promote | rollback | score`: the ML jobs on the `churn` app.

Each job that depends on time takes an explicit `--as-of`; nothing defaults to today.
A ModelError (what is wrong, what to do) is printed as one line with exit code 1 by the app's
error handling (flows/console.py), like every other failure.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from flows.console import parse_date


def _as_of(help_text: str) -> typer.models.OptionInfo:
    return typer.Option("--as-of", parser=parse_date, metavar="YYYY-MM-DD", help=help_text)


def register(app: typer.Typer) -> None:
    """Add the ML commands to `app`."""

    @app.command()
    def train(
        as_of: Annotated[date, _as_of("train on labels known by this date")],
        table: Annotated[
            str | None,
            typer.Option(help="any table with the contract (id, as_of_date, churned, features)"),
        ] = None,
        promote: Annotated[
            bool, typer.Option(help="promote to champion when every gate passes")
        ] = True,
        actor: Annotated[str | None, typer.Option(help="who, for the promotions log")] = None,
    ) -> None:
        """Train the candidates, register the best as challenger, promote it if it passes."""
        import models_ml

        result = models_ml.train(as_of, table=table, promote=promote, actor=actor)
        m = result.metrics
        typer.echo(
            f"trained {result.chosen} -> version {result.version} (run {result.run_id}): "
            f"roc_auc {m['roc_auc']:.3f}, pr_auc {m['pr_auc']:.3f}, brier {m['brier']:.4f}, "
            f"lift@10% {m['lift_top_10']:.2f}"
        )
        verdict = "promoted to champion" if result.promoted else "stays challenger"
        typer.echo(f"{verdict}: {'; '.join(result.reasons)}")

    @app.command()
    def promote(
        version: Annotated[str, typer.Option(help="model version to make champion")],
        reason: Annotated[str, typer.Option(help="why, for the promotions log")],
        actor: Annotated[str | None, typer.Option(help="who, for the promotions log")] = None,
    ) -> None:
        """Make a version champion by hand (integration checks still run)."""
        import models_ml

        before = models_ml.promote(version, reason=reason, actor=actor)
        typer.echo(f"champion: version {before or '-'} -> {version}")

    @app.command()
    def rollback(
        reason: Annotated[str, typer.Option(help="why, for the promotions log")],
        to_version: Annotated[
            str | None, typer.Option(help="version to restore (default: the previous champion)")
        ] = None,
        actor: Annotated[str | None, typer.Option(help="who, for the promotions log")] = None,
    ) -> None:
        """Point champion back to the previous champion (or --to-version)."""
        import models_ml

        before, after = models_ml.rollback(reason=reason, to_version=to_version, actor=actor)
        typer.echo(f"champion rolled back: version {before} -> {after}")

    @app.command()
    def score(
        as_of: Annotated[date, _as_of("the Monday snapshot to score")],
    ) -> None:
        """Score every active customer at AS_OF with the champion into ml.churn_predictions."""
        import models_ml

        result = models_ml.score(as_of)
        tiers = ", ".join(f"{k} {v:,}" for k, v in result.tiers.items())
        typer.echo(
            f"scored {result.rows:,} customers at {result.as_of} with {result.model_name} "
            f"v{result.model_version} in {result.seconds:.1f} s ({tiers}); run {result.run_id}"
        )
