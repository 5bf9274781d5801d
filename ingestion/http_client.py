"""A small HTTP client for the API connectors: retries, backoff, and errors that say where.

Zendesk and Stripe both rate-limit with 429 + Retry-After and have the odd 5xx; a scheduled
job should ride those out, but fail loudly (endpoint and status) on anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 60.0


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """GET JSON with retries on 429/5xx and connection errors, honouring Retry-After."""

    def __init__(
        self,
        source: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update(headers or {})

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET `url` and return its JSON body, retrying transient failures."""
        endpoint = url.split("?", 1)[0]
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise IngestionError(
                        self.source,
                        f"cannot reach {url} ({type(exc).__name__}); check the base URL setting "
                        "and that the service is up",
                    ) from exc
                self._wait(attempt, None, f"{type(exc).__name__} on {endpoint}")
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._wait(
                    attempt,
                    retry_after_seconds(response.headers.get("Retry-After")),
                    f"HTTP {response.status_code} on {endpoint}",
                )
                continue
            if response.status_code >= 400:
                raise IngestionError(
                    self.source,
                    f"GET {endpoint} returned HTTP {response.status_code} "
                    f"after {attempt + 1} attempt(s): {response.text[:200]!r}",
                )
            try:
                return response.json()
            except ValueError as exc:
                raise IngestionError(
                    self.source, f"GET {endpoint} did not return JSON: {response.text[:200]!r}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: float | None, why: str) -> None:
        """Sleep for Retry-After when given, else exponential backoff."""
        delay = retry_after if retry_after is not None else self.backoff * 2**attempt
        delay = min(delay, MAX_BACKOFF_SECONDS)
        log.warning("%s: %s, retrying in %.1f s", self.source, why, delay)
        self.sleep(delay)

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()
