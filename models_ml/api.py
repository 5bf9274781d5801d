"""The Python API besides `train` and `score`: promote, roll back, read the history, load
the champion. Each takes optional settings / config / warehouse so tests and flows pass
their own, and defaults to the process settings."""

from __future__ import annotations

import pandas as pd

from models_ml import promotion
from models_ml.config import MLConfig
from models_ml.registry import CHAMPION, LoadedModel, connect, load_alias


def _context(settings, cfg, warehouse):
    from warehouse import get_settings, get_warehouse

    settings = settings or get_settings()
    return settings, cfg or MLConfig(), warehouse or get_warehouse(settings)


def promote(
    version: str,
    *,
    reason: str,
    actor: str | None = None,
    settings=None,
    cfg: MLConfig | None = None,
    warehouse=None,
) -> str | None:
    """Make `version` champion by hand (integration checks still run); returns the version
    it replaced."""
    settings, cfg, wh = _context(settings, cfg, warehouse)
    client = connect(settings.mlflow_uri)
    return promotion.promote(
        str(version), client=client, warehouse=wh, cfg=cfg, reason=reason, actor=actor
    )


def rollback(
    *,
    reason: str,
    to_version: str | None = None,
    actor: str | None = None,
    settings=None,
    cfg: MLConfig | None = None,
    warehouse=None,
) -> tuple[str, str]:
    """Point champion back to the previous champion (or `to_version`); returns (from, to)."""
    settings, cfg, wh = _context(settings, cfg, warehouse)
    client = connect(settings.mlflow_uri)
    return promotion.rollback(
        client=client, warehouse=wh, cfg=cfg, to_version=to_version, reason=reason, actor=actor
    )


def history(*, settings=None, cfg: MLConfig | None = None, warehouse=None) -> pd.DataFrame:
    """Every recorded alias move and rejection, oldest first."""
    settings, cfg, wh = _context(settings, cfg, warehouse)
    return promotion.promotion_history(wh, cfg)


def load_champion(*, settings=None, cfg: MLConfig | None = None) -> LoadedModel:
    """The champion model with its feature schema (for serving)."""
    settings, cfg, _ = _context(settings, cfg, object())
    return load_alias(connect(settings.mlflow_uri), cfg.model_name, CHAMPION)
