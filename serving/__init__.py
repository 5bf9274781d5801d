"""Online scoring: FastAPI `/predict` over the champion, with the batch scorer's code paths.

    uvicorn serving.app:create_app --factory     # or `churn serve`

Nothing imports `serving`; it imports `models_ml` and `warehouse` only.
"""

from __future__ import annotations


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - thin lazy re-export
    """See `serving.app.create_app` (imported on first use: FastAPI and MLflow are heavy)."""
    from serving.app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["create_app"]
