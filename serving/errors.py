"""The errors the API answers with: one JSON shape (`ErrorResponse`) for every 4xx and 5xx.

Raised anywhere below the routes and turned into a response by the handlers installed in
`install_handlers`, so no code path can leak a traceback to a client. Every body is bounded
and public: at most MAX_FIELDS fields listed, each text cut at MAX_ECHO characters (a request
with thousands of bad keys, or one huge key, gets a short answer), credentials and the
machine's paths masked. The `serving` logger masks credentials in every record it writes.
"""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.schemas import ErrorResponse, FieldError
from warehouse.redaction import public, redact

log = logging.getLogger("serving")

MAX_FIELDS = 20  # fields listed in one error body; the message gives the total
MAX_ECHO = 200  # characters of one field name or message (inputs are echoed, if ever, here)
MAX_NAMES = 5  # field names repeated in the message itself


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and traceback before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())


def clip(text: object, limit: int = MAX_ECHO) -> str:
    """Public text of at most `limit` characters."""
    out = public(text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def field_names(fields: list[FieldError]) -> str:
    """`a, b, c and 4,981 more`: the first few names of a list of fields at fault."""
    names = ", ".join(clip(f.field, 60) for f in fields[:MAX_NAMES])
    more = len(fields) - MAX_NAMES
    return f"{names} and {more:,} more" if more > 0 else names


class ServingError(Exception):
    """An answer other than 2xx: HTTP status, a stable code, a message and the fields at
    fault."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        fields: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The bounded, public body (see the module doc)."""
        fields = [
            FieldError(field=clip(f.field), message=clip(f.message))
            for f in self.fields[:MAX_FIELDS]
        ]
        message = clip(self.message, 2 * MAX_ECHO)
        if len(self.fields) > MAX_FIELDS:
            message += f" ({MAX_FIELDS} of {len(self.fields):,} problems listed)"
        body = ErrorResponse(error=self.code, message=message, fields=fields)
        return JSONResponse(body.model_dump(), status_code=self.status, headers=self.headers)


class InvalidRequest(ServingError):
    status, code = 422, "invalid_request"


class NotFound(ServingError):
    status, code = 404, "not_found"


class Unauthorized(ServingError):
    status, code = 401, "unauthorized"


class Forbidden(ServingError):
    status, code = 403, "forbidden"


class ModelUnavailable(ServingError):
    status, code = 503, "model_unavailable"


class WarehouseUnavailable(ServingError):
    status, code = 503, "warehouse_unavailable"


class PayloadTooLarge(ServingError):
    status, code = 413, "payload_too_large"


def field_error(field: str, message: str) -> FieldError:
    return FieldError(field=field, message=message)


def _loc(loc: tuple) -> str:
    """`("body", "requests", 3, "customer_id")` -> `requests[3].customer_id`."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install_handlers(app: FastAPI) -> None:
    """Every error becomes an ErrorResponse; unexpected ones are logged, never shown."""

    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            field_error(_loc(tuple(e.get("loc", ()))), e.get("msg", "")) for e in exc.errors()
        ]
        return InvalidRequest(f"invalid request: {field_names(fields)}", fields).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ServingError(str(exc.detail), headers=dict(exc.headers or {}))
        error.status, error.code = exc.status_code, "http_error"
        return error.response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return ServingError("internal error: see the server log").response()


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took with a 500 ErrorResponse and logs it redacted.

    Starlette's own last-resort handler answers too, but then re-raises, and the server
    prints the raw traceback (a tracking URI with its password included) to its log.
    """

    def __init__(self, app) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = [False]

        async def tracked(message) -> None:  # noqa: ANN001 - ASGI
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started[0]:
                response = ServingError("internal error: see the server log").response()
                await response(scope, receive, send)
