"""The errors the API answers with: one JSON shape (`ErrorResponse`) for every 4xx and 5xx.

Raised anywhere below the routes and turned into a response by the handlers installed in
`install_handlers`, so no code path can leak a traceback to a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.schemas import ErrorResponse, FieldError

log = logging.getLogger("serving")


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
        body = ErrorResponse(error=self.code, message=self.message, fields=self.fields)
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
        names = ", ".join(f.field for f in fields)
        return InvalidRequest(f"invalid request: {names}", fields).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ServingError(str(exc.detail), headers=dict(exc.headers or {}))
        error.status, error.code = exc.status_code, "http_error"
        return error.response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return ServingError("internal error: see the server log").response()
