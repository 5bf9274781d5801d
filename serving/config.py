"""Serving knobs, read from `CHURN_SERVE_*` variables.

Kept apart from `warehouse.Settings` (paths, URLs, secrets: the API key lives there) and from
`models_ml.MLConfig` (modelling decisions the batch scorer shares with us).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
DEFAULT_CACHE_BYTES = 512 * MIB
DEFAULT_MAX_BODY_BYTES = 4 * MIB


class ServingConfig(BaseSettings):
    """How the service follows the champion, caches snapshots and bounds requests."""

    model_config = SettingsConfigDict(env_prefix="CHURN_SERVE_", extra="ignore")

    # how often the background thread resolves `champion` (seconds; 0 = never after start)
    poll_seconds: float = Field(default=10.0, ge=0)
    alias: str = "champion"
    # memory for scored (as_of, model version) snapshots and the features they were scored
    # from, least recently used evicted first; the snapshot in use is kept even when it alone
    # is larger (a client cycling dates within the budget is never re-scored)
    cache_bytes: int = Field(default=DEFAULT_CACHE_BYTES, ge=0)
    # largest request body accepted (413 above it): a full batch of payloads fits many times
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    # Retry-After sent when the warehouse file is locked by a writer
    retry_after_seconds: int = Field(default=5, ge=1)
    # OpenMP threads per request thread: requests are small and concurrent, and spinning
    # OpenMP barriers on shared cores cost more than they save (see models_ml/threads.py)
    threads: int = Field(default=1, ge=1)
    # score the latest snapshot when a model is loaded, so the first request is fast
    warm_latest: bool = True
