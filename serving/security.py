"""The optional API key: when CHURN_API_KEY is set, scoring routes need `X-API-Key`.

401 when the header is missing, 403 when it is wrong; compared in constant time. /health and
/metrics stay open for probes and scrapers (they reveal no customer data). /openapi.json,
/docs and /redoc follow the rule of /model: the document lists every input of the served
model, which is what /model guards.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from serving.errors import Forbidden, Unauthorized

HEADER = "X-API-Key"
api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="Required when CHURN_API_KEY is set."
)


async def require_api_key(request: Request, key: str | None = Security(api_key_header)) -> None:
    """Dependency of the guarded routes (async: a sync one costs every request a hop to
    the thread pool, for a header comparison)."""
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    if not key:
        raise Unauthorized(
            f"missing API key: send it in the {HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise Forbidden("invalid API key")
