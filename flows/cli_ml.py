"""`churn train | promote | rollback | score`: the ML jobs on the `churn` app.

Each job that depends on time takes an explicit `--as-of`; nothing defaults to today.
A ModelError is printed as its message (what is wrong, what to do) with exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated

import typer


def _as_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _clear_errors(func: Callable) -> Callable:
    @wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN202 - typer keeps the wrapped signature
        from models_ml import ModelError

        try:
            return func(*args, **kwargs)
        except ModelError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from exc

    return wrapper


def register(app: typer.Typer) -> None:
    """Add the ML commands to `app`."""

    @app.command()
    @_clear_errors
    def train(
        as_of: Annotated[
            str, typer.Option("--as-of", help="train on labels known by this date (YYYY-MM-DD)")
        ],
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

        result = models_ml.train(_as_date(as_of), table=table, promote=promote, actor=actor)
        m = result.metrics
        typer.echo(
            f"trained {result.chosen} -> version {result.version} (run {result.run_id}): "
            f"roc_auc {m['roc_auc']:.3f}, pr_auc {m['pr_auc']:.3f}, brier {m['brier']:.4f}, "
            f"lift@10% {m['lift_top_10']:.2f}"
        )
        verdict = "promoted to champion" if result.promoted else "stays challenger"
        typer.echo(f"{verdict}: {'; '.join(result.reasons)}")

    @app.command()
    @_clear_errors
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
    @_clear_errors
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
    @_clear_errors
    def score(
        as_of: Annotated[
            str, typer.Option("--as-of", help="the Monday snapshot to score (YYYY-MM-DD)")
        ],
    ) -> None:
        """Score every active customer at AS_OF with the champion into ml.churn_predictions."""
        import models_ml

        result = models_ml.score(_as_date(as_of))
        tiers = ", ".join(f"{k} {v:,}" for k, v in result.tiers.items())
        typer.echo(
            f"scored {result.rows:,} customers at {result.as_of} with {result.model_name} "
            f"v{result.model_version} in {result.seconds:.1f} s ({tiers}); run {result.run_id}"
        )
