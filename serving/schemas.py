"""Request, response and error models: the OpenAPI contract of the service.

`features` is typed here as a free object; `serving.openapi` replaces it in the published
schema with the champion's own signature (every input, its type, nullable), and
`serving.payload` enforces that signature with messages naming each field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

MAX_BATCH = 1000


def _iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD` strings (pydantic would also take numbers as timestamps)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a date string YYYY-MM-DD")
    return date.fromisoformat(value)


IsoDate = Annotated[
    date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]

BY_ID = {"customer_id": "C0000042", "as_of_date": "2025-06-02"}
BY_PAYLOAD = {
    "customer_id": "prospect-7",
    "features": {"logins_30d": 3, "mrr": 420.0, "has_discount": False, "plan": "starter"},
}


class PredictRequest(BaseModel):
    """Score a customer from the warehouse (`customer_id` [+ `as_of_date`]) or a full
    feature payload (`features`, with an optional `customer_id` echoed back)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [BY_ID, BY_PAYLOAD],
            "anyOf": [
                {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
                {"required": ["features"], "properties": {"features": {"type": "object"}}},
            ],
        },
    )

    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Warehouse customer id; with no `features`, scored from its latest "
        "snapshot (or `as_of_date`).",
    )
    as_of_date: IsoDate | None = Field(
        default=None,
        description="Monday snapshot of `features.customer_features`; default the latest.",
    )
    features: dict[str, Any] | None = Field(
        default=None,
        description="Every input of the champion's signature (null allowed): scored as sent.",
    )


class BatchRequest(BaseModel):
    """Up to MAX_BATCH requests, answered in order; one invalid item refuses the batch."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"requests": [BY_ID, BY_PAYLOAD]}]}
    )

    requests: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class Prediction(BaseModel):
    """One customer's churn probability, tier and the drivers pushing the risk up."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C0000042",
                    "as_of_date": "2025-06-02",
                    "churn_probability": 0.231,
                    "risk_tier": "High",
                    "risk_rank": 12,
                    "drivers": ["only 2 logins in the last 30 days", "2 failed payments"],
                    "model_name": "churn-model",
                    "model_version": "3",
                    "source": "warehouse",
                    "holdout_group": "treated",
                }
            ]
        }
    )

    customer_id: str | None
    as_of_date: date | None
    churn_probability: float = Field(ge=0.0, le=1.0)
    risk_tier: Literal["High", "Medium", "Low"]
    risk_rank: int | None = Field(
        description="Rank in the whole snapshot (1 = riskiest), as batch scoring writes it; "
        "null for a payload, which has no snapshot."
    )
    drivers: list[str] = Field(max_length=3, description="Up to three, strongest first.")
    model_name: str
    model_version: str
    source: Literal["warehouse", "payload"]
    holdout_group: Literal["control", "treated"] | None = Field(
        default=None,
        description="The randomized control group: for a customer id in an open High-risk "
        "episode at `as_of_date` (the scored weeks since their last week that was not High), "
        "the group drawn when it began. `control`: kept off the CS list for the episode, so "
        "the save effect can be measured; do not contact them about it. `treated`: on the "
        "list. Null when the customer is not in an open High episode, when it began before "
        "the holdout (untracked), and for a `features` payload.",
    )


class BatchResponse(BaseModel):
    """Predictions in the order of the requests."""

    predictions: list[Prediction]


class ModelInfo(BaseModel):
    """The version being served."""

    name: str
    version: str
    alias: str
    run_id: str
    loaded_since: datetime


class Health(BaseModel):
    """200 when a model is loaded, 503 (same body) when not."""

    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ok", "unavailable"]
    model: ModelInfo | None
    checked_at: datetime | None = Field(description="Last time the alias was resolved.")
    problem: str | None = Field(description="Why no model is served, or the last failed check.")


class FeatureInfo(BaseModel):
    """One input of the champion's signature."""

    name: str
    kind: Literal["numeric", "boolean", "categorical"]


class ModelSchema(BaseModel):
    """What a `features` payload must hold for the served version."""

    model_config = ConfigDict(protected_namespaces=())

    model: ModelInfo
    features: list[FeatureInfo]
    extra_features_allowed: bool


class FieldError(BaseModel):
    """One field at fault (`requests[3].features.mrr`) and what is wrong with it."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx / 5xx body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "invalid_request",
                    "message": "invalid features: features.mrr",
                    "fields": [{"field": "features.mrr", "message": "expected a number or null"}],
                }
            ]
        }
    )

    error: str = Field(description="Stable code: invalid_request, not_found, unauthorized, ...")
    message: str
    fields: list[FieldError] = Field(default_factory=list)
