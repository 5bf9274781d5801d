"""The FastAPI app: routes, wiring and the lifespan that follows the champion.

uvicorn serving.app:create_app --factory --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models_ml.config import MLConfig
from serving.config import ServingConfig
from serving.errors import UnexpectedErrorMiddleware, install_handlers
from serving.limits import BodyLimitMiddleware
from serving.metrics import Metrics, MetricsMiddleware
from serving.model_holder import ModelHolder, Served
from serving.openapi import install_openapi
from serving.predictor import Predictor
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    FeatureInfo,
    Health,
    ModelInfo,
    ModelSchema,
    Prediction,
    PredictRequest,
)
from serving.security import require_api_key
from serving.snapshots import SnapshotCache
from warehouse.redaction import public
from warehouse.settings import Settings, get_settings

DESCRIPTION = """Churn probability, risk tier and the three drivers of one customer or many.

A customer id is scored from `features.customer_features` (latest snapshot, or `as_of_date`)
exactly as batch scoring scores it; a `features` payload must carry every input of the served
model (see `GET /model`). Unseen categories are scored as batch does (they weigh nothing).
Errors share one body (`ErrorResponse`) whose `fields` name what is wrong (at most 20 listed,
each text cut at 200 characters). A request body over the size limit (4 MiB by default) is
refused with 413. When an API key is configured, this document and /docs and /redoc need it
too; /health and /metrics stay open."""


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        401: "API key missing (CHURN_API_KEY is set)",
        403: "API key wrong",
        404: "unknown customer, or no snapshot at that as_of_date",
        413: "request body over the size limit",
        422: "invalid request: the fields name each problem",
        503: "no model loaded, or the warehouse is locked by a writer (Retry-After)",
    }
    return {s: {"model": ErrorResponse, "description": meaning[s]} for s in statuses}


def _info(served: Served) -> ModelInfo:
    loaded = served.loaded
    return ModelInfo(
        name=loaded.name,
        version=loaded.version,
        alias=served.alias,
        run_id=loaded.run_id,
        loaded_since=served.loaded_since,
    )


def create_app(
    settings: Settings | None = None,
    cfg: MLConfig | None = None,
    serving: ServingConfig | None = None,
) -> FastAPI:
    """The app; the champion is loaded when the app starts (or on the first request)."""
    settings = settings or get_settings()
    cfg = cfg or MLConfig()
    serving = serving or ServingConfig()
    snapshots = SnapshotCache(settings, cfg, serving)
    holder = ModelHolder(settings.mlflow_uri, cfg.model_name, serving.alias, snapshots.warm)
    if not serving.warm_latest:
        holder.warm = None
    predictor = Predictor(holder, snapshots, cfg, serving)
    metrics = Metrics(holder)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        holder.start(serving.poll_seconds)
        try:
            yield
        finally:
            holder.stop()

    # the documents are routes of our own below, so the API key rule guards them like /model
    app = FastAPI(
        title="churn scoring API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.snapshots = snapshots
    app.state.predictor = predictor
    install_handlers(app)
    install_openapi(app, holder, cfg.allow_extra_features, settings.api_key is not None)
    # last added runs first: metrics see every answer, 413s and last-resort 500s included
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=serving.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    guarded = [Depends(require_api_key)]

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=guarded, include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    @app.get("/redoc", dependencies=guarded, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")

    @app.post(
        "/predict",
        response_model=Prediction,
        dependencies=guarded,
        responses=_errors(401, 403, 404, 413, 422, 503),
        summary="Score one customer (by id) or one feature payload",
    )
    async def predict(body: PredictRequest) -> Prediction:
        # a payload is scored right here, on the event loop: its ~1 ms of CPU costs less
        # than a hop to a worker thread, and that thread's contention for the GIL with the
        # loop doubled the latency under concurrent clients; an id may read the warehouse,
        # so it waits in the thread pool as a sync route would
        if body.features is not None:
            (prediction,) = predictor.predict([body], batch=False)
        else:
            (prediction,) = await run_in_threadpool(predictor.predict, [body], batch=False)
        metrics.predictions.labels(prediction.source).inc()
        return prediction

    @app.post(
        "/predict/batch",
        response_model=BatchResponse,
        dependencies=guarded,
        responses=_errors(401, 403, 404, 413, 422, 503),
        summary="Score up to 1000 requests; any invalid item refuses the batch",
    )
    def predict_batch(body: BatchRequest) -> BatchResponse:
        predictions = predictor.predict(body.requests, batch=True)
        for source in ("warehouse", "payload"):
            n = sum(p.source == source for p in predictions)
            if n:
                metrics.predictions.labels(source).inc(n)
        return BatchResponse(predictions=predictions)

    @app.get(
        "/model",
        response_model=ModelSchema,
        dependencies=guarded,
        responses=_errors(401, 403, 503),
        summary="The served version and the inputs a payload must carry",
    )
    def model() -> ModelSchema:
        served = holder.require()
        schema = served.loaded.schema
        return ModelSchema(
            model=_info(served),
            features=[
                FeatureInfo(name=c, kind=k)
                for c, k in zip(schema.columns, schema.kinds, strict=True)
            ],
            extra_features_allowed=cfg.allow_extra_features,
        )

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "no model loaded"}},
        summary="The served model (name, version, alias, loaded since)",
    )
    def health() -> Any:
        served = holder.served
        body = Health(
            status="ok" if served else "unavailable",
            model=_info(served) if served else None,
            checked_at=holder.checked_at,
            problem=None if holder.problem is None else public(holder.problem),
        )
        if served is None:
            return JSONResponse(body.model_dump(mode="json"), status_code=503)
        return body

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"example": "churn_serving_model_up 1.0\n"}},
                "description": "Prometheus text format",
            }
        },
        summary="Prometheus metrics: requests, latency, errors, model version",
    )
    def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
