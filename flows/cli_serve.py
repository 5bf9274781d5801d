"""`churn serve`: the scoring API under uvicorn (registered on the `churn` app)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `serve` command to `app`."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        workers: Annotated[
            int, typer.Option(help="processes (each loads the champion and caches snapshots)")
        ] = 1,
        log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    ) -> None:
        """Serve POST /predict, /predict/batch, GET /health, /metrics, /model (OpenAPI at
        /docs); the champion is followed without restarts (CHURN_SERVE_POLL_SECONDS)."""
        import uvicorn

        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
