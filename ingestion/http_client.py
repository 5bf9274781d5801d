"""A small HTTP client for the API connectors: retries, backoff, and errors that say where.

Zendesk and Stripe both rate-limit with 429 + Retry-After and have the odd 5xx; a scheduled
job should ride those out, but fail loudly (endpoint and status) on anything else.

A client made with a `base_url` only talks to that origin (scheme, host, port): a page link
or a redirect to another host is refused before anything is sent there, because the session
carries the source's credentials. Messages never quote a credential.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ingestion.errors import IngestionError
from warehouse.redaction import redact

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


Origin = tuple[str, str, int | None]
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin:
    """(scheme, host, port) of a URL, default ports made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def host_of(url: str) -> str:
    """`host[:port]` of a URL, never its user or password."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return f"{host}:{port}" if port else host


def foreign_host_error(source: str, what: str, url: str, base_url: str) -> IngestionError:
    """The refusal: which link, the foreign host and the configured one."""
    return IngestionError(
        source,
        f"{what} points to another host, {host_of(url)}, not the configured "
        f"{host_of(base_url)}: not followed, so the credentials were not sent there; check "
        "the base URL setting and what the API answers",
    )


class _SameOriginSession(requests.Session):
    """A session that refuses redirects leaving `base_url`'s origin."""

    def __init__(self, source: str, base_url: str | None) -> None:
        super().__init__()
        self.source = source
        self.base_url = base_url

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target and self.base_url:
            absolute = urljoin(resp.url, target)
            if origin(absolute) != origin(self.base_url):
                endpoint = resp.url.split("?", 1)[0]
                what = f"a redirect from {redact(endpoint)}"
                raise foreign_host_error(self.source, what, absolute, self.base_url)
        return target


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
        base_url: str | None = None,
    ) -> None:
        self.source = source
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.base_url = base_url
        self.session = _SameOriginSession(source, base_url)
        self.session.auth = auth
        self.session.headers.update(headers or {})

    def check_origin(self, url: str, what: str) -> None:
        """Refuse `url` (named `what` in the error) unless it is on the configured origin."""
        if self.base_url and origin(url) != origin(self.base_url):
            raise foreign_host_error(self.source, what, url, self.base_url)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET `url` and return its JSON body, retrying transient failures."""
        self.check_origin(url, "a page URL")
        endpoint = redact(url.split("?", 1)[0])
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise IngestionError(
                        self.source,
                        f"cannot reach {redact(url)} ({type(exc).__name__}); check the base URL "
                        "setting "
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
                    f"after {attempt + 1} attempt(s): {redact(response.text[:200])!r}",
                )
            try:
                return response.json()
            except ValueError as exc:
                raise IngestionError(
                    self.source,
                    f"GET {endpoint} did not return JSON: {redact(response.text[:200])!r}",
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
