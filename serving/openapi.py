"""The published OpenAPI document, with `features` typed by the served model's signature.

Regenerated when the served version changes, so clients (and the fuzz test) see exactly the
inputs, types and nullability that /predict enforces.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from serving.model_holder import ModelHolder
from serving.payload import MAX_ABS, MAX_TEXT
from serving.schemas import BY_ID

_TYPES: dict[str, dict[str, Any]] = {
    "numeric": {"type": "number", "minimum": -MAX_ABS, "maximum": MAX_ABS},
    "boolean": {"type": "boolean"},
    "categorical": {"type": "string", "maxLength": MAX_TEXT},
}


def features_schema(schema, allow_extra: bool) -> dict[str, Any]:
    """JSON schema of a payload for one FeatureSchema: every input required, null allowed."""
    return {
        "title": "Features",
        "description": "Every input of the served model's signature; null means unknown.",
        "type": "object",
        "properties": {
            name: {"anyOf": [_TYPES[kind], {"type": "null"}], "title": name}
            for name, kind in zip(schema.columns, schema.kinds, strict=True)
        },
        "required": list(schema.columns),
        "additionalProperties": allow_extra,
    }


def example(schema) -> dict[str, Any]:
    """A complete payload for one FeatureSchema (documentation, not a real customer)."""
    values = {"numeric": 1.0, "boolean": False, "categorical": "example"}
    return {c: values[k] for c, k in zip(schema.columns, schema.kinds, strict=True)}


def _drop_security(doc: dict[str, Any]) -> None:
    """No key configured: the routes are open, so the document must not ask for one."""
    doc.get("components", {}).pop("securitySchemes", None)
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            operation.pop("security", None)
            for status in ("401", "403"):
                operation.get("responses", {}).pop(status, None)


def install_openapi(app: FastAPI, holder: ModelHolder, allow_extra: bool, guarded: bool) -> None:
    """Replace `app.openapi` with a version-aware one (`guarded`: an API key is required)."""
    cache: dict[str | None, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        served = holder.served
        version = served.loaded.version if served else None
        if version not in cache:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            if not guarded:
                _drop_security(doc)
            if served is not None:
                schemas = doc["components"]["schemas"]
                schemas["Features"] = features_schema(served.loaded.schema, allow_extra)
                request = schemas["PredictRequest"]
                request["properties"]["features"]["anyOf"] = [
                    {"$ref": "#/components/schemas/Features"},
                    {"type": "null"},
                ]
                payload = {"customer_id": "prospect-7", "features": example(served.loaded.schema)}
                request["examples"] = [BY_ID, payload]
                schemas["BatchRequest"]["examples"] = [{"requests": [BY_ID, payload]}]
            cache.clear()
            cache[version] = doc
        return cache[version]

    app.openapi = openapi  # type: ignore[method-assign]
