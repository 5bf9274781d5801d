"""The request body limit: a body over `max_body_bytes` is refused with 413 before parsing.

Checked on the declared Content-Length, and on the bytes actually received (a chunked body
declares none), so a client can never make the service parse, validate and answer about
megabytes of JSON it will refuse anyway.
"""

from __future__ import annotations

from serving.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 answer: the limit, and what to do about it."""
    return PayloadTooLarge(
        f"the request body is larger than {limit:,} bytes: send fewer or smaller requests per call"
    )


def _declared(scope) -> int | None:  # noqa: ANN001 - an ASGI scope
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """Buffers a request body up to `limit` bytes and hands it on; 413 beyond it."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared(scope)
        if declared is not None and declared > self.limit:
            await too_large(self.limit).response()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await too_large(self.limit).response()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
