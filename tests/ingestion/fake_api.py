"""A local HTTP server that speaks Zendesk's and Stripe's page formats and pagination.

Zendesk: cursor-based incremental ticket export (`start_time`, then `cursor` until
`end_of_stream`) and organizations with `next_page`; basic auth `{email}/token:{token}`.
Stripe: `/v1/events` newest first, `limit`, `created[gte]`, `starting_after`, `has_more`;
Bearer key. Failures can be scripted per path (e.g. one 429 with Retry-After, or 500 forever).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _epoch(iso: Any) -> int:
    """Seconds of an ISO time; a value that is not one sorts first, as a broken record might."""
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except (AttributeError, ValueError):
        return 0


def _order(value: Any) -> tuple[int, Any]:
    """Integers in order, then anything else by its text (an id may be broken on purpose)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _created(event: Any) -> int:
    """An event's `created` for ordering and filtering; 0 when it is not an integer."""
    created = event.get("created") if isinstance(event, dict) else None
    return created if isinstance(created, int) and not isinstance(created, bool) else 0


@dataclass
class Failure:
    """Answer `times` requests on paths starting with `prefix` with `status` (-1 = forever)."""

    prefix: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApi:
    """State of the fake services; tests mutate the lists between runs."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    organizations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    zendesk_auth: tuple[str, str] | None = None
    stripe_key: str | None = None
    failures: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    base_url: str = ""
    # where organizations' `next_page` links point (default this server): another host plays
    # an API answer that would send the client, and its credentials, elsewhere
    next_page_base: str | None = None
    # called with (path, query) before a request is answered, e.g. to lock the warehouse
    on_request: Callable[[str, dict[str, list[str]]], None] | None = None

    # Zendesk ------------------------------------------------------------------------------
    def ticket_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        if "cursor" in query:
            start, offset = json.loads(base64.urlsafe_b64decode(query["cursor"][0]))
        else:
            start, offset = int(query["start_time"][0]), 0
        stream = sorted(
            (t for t in self.tickets if _epoch(t["updated_at"]) >= start),
            key=lambda t: (_epoch(t["updated_at"]), str(t["updated_at"]), _order(t["id"])),
        )
        chunk = stream[offset : offset + self.page_size]
        end = offset + self.page_size >= len(stream)
        cursor = base64.urlsafe_b64encode(json.dumps([start, offset + len(chunk)]).encode())
        after = cursor.decode()
        return {
            "tickets": chunk,
            "after_cursor": after,
            "after_url": f"{self.base_url}/api/v2/incremental/tickets/cursor.json?cursor={after}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": end,
        }

    def organization_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * self.page_size
        chunk = self.organizations[start : start + self.page_size]
        more = start + self.page_size < len(self.organizations)
        base = self.next_page_base or self.base_url
        nxt = f"{base}/api/v2/organizations.json?page={page + 1}" if more else None
        return {"organizations": chunk, "next_page": nxt, "count": len(self.organizations)}

    # Stripe -------------------------------------------------------------------------------
    def event_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = min(int(query.get("limit", ["10"])[0]), self.page_size)
        newest_first = sorted(
            self.events, key=lambda e: (_created(e), _order(e["id"])), reverse=True
        )
        if "created[gte]" in query:
            gte = int(query["created[gte]"][0])
            newest_first = [e for e in newest_first if _created(e) >= gte or not _created(e)]
        if "starting_after" in query:
            ids = [e["id"] for e in newest_first]
            newest_first = newest_first[ids.index(query["starting_after"][0]) + 1 :]
        chunk = newest_first[:limit]
        return {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(newest_first) > limit,
            "data": chunk,
        }


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self, path: str) -> bool:
            header = self.headers.get("Authorization", "")
            if path.startswith("/api/v2/") and api.zendesk_auth:
                user, token = api.zendesk_auth
                expected = base64.b64encode(f"{user}/token:{token}".encode()).decode()
                return header == f"Basic {expected}"
            if path.startswith("/v1/") and api.stripe_key:
                return header == f"Bearer {api.stripe_key}"
            return True

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            api.requests.append((parts.path, query))
            if api.on_request is not None:
                api.on_request(parts.path, query)
            for failure in api.failures:
                if parts.path.startswith(failure.prefix) and failure.times != 0:
                    failure.times -= 1 if failure.times > 0 else 0
                    self._send(failure.status, {"error": "scripted"}, failure.headers)
                    return
            if not self._authorised(parts.path):
                self._send(401, {"error": "Couldn't authenticate you"})
                return
            if parts.path == "/api/v2/incremental/tickets/cursor.json":
                self._send(200, api.ticket_page(query))
            elif parts.path == "/api/v2/organizations.json":
                self._send(200, api.organization_page(query))
            elif parts.path == "/v1/events":
                self._send(200, api.event_page(query))
            else:
                self._send(404, {"error": "not found"})

    return Handler


class FakeApiServer:
    """Run a FakeApi on 127.0.0.1:<free port> in a thread."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"
        api.base_url = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
