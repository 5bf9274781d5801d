"""Feature payloads: checked against the champion's signature, then scored by the same
attribution as batch scoring (`score_prepared`), without building a snapshot frame.

Rules, the same as batch scoring wherever JSON allows:
- every input of the signature must be present (null allowed: a missing value, as in the
  warehouse); inputs the model does not know are refused unless
  CHURN_ML_ALLOW_EXTRA_FEATURES=true (then ignored), as batch does;
- numeric inputs take a finite JSON number (|x| <= MAX_ABS), boolean inputs true/false,
  categorical inputs a string;
- an unseen category is scored, not refused: the one-hot encoder ignores it, exactly as in
  batch scoring (the category weighs nothing);
- the tier uses the probability thresholds: with a capacity (High = top K of the snapshot),
  a lone payload has no snapshot to rank in, so it gets no rank.

Checked payloads go straight to the prepared inputs `prepare_inputs` would make (float32
numbers and flags, text with nulls as the missing category): a payload is one row, and the
snapshot checks, pandas conversions and ColumnTransformer that batch scoring pays once per
snapshot would otherwise cost several times the row's own scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from models_ml.config import MLConfig
from models_ml.features import MISSING, FeatureSchema, PreparedColumns
from models_ml.scoring.local import score_prepared, tiers_by_threshold
from serving.errors import InvalidRequest, field_error
from serving.schemas import FieldError

MAX_ABS = 1e12  # beyond it float32 inputs lose meaning; refused rather than guessed
MAX_TEXT = 256


def check_payload(
    features: dict[str, Any], schema: FeatureSchema, allow_extra: bool, at: str
) -> list[FieldError]:
    """Every problem of one payload, each naming its field (`requests[2].features.mrr`)."""
    errors: list[FieldError] = []
    for name, kind in zip(schema.columns, schema.kinds, strict=True):
        field = f"{at}features.{name}"
        if name not in features:
            errors.append(field_error(field, f"missing {kind} feature (send null if unknown)"))
            continue
        problem = _problem(features[name], kind)
        if problem:
            errors.append(field_error(field, problem))
    if not allow_extra:
        known = set(schema.columns)
        for name in features:
            if name not in known:
                errors.append(field_error(f"{at}features.{name}", "unknown to the model"))
    return errors


def _problem(value: Any, kind: str) -> str | None:
    """What is wrong with one value of a `kind` input (None when nothing); never echoes it."""
    if value is None:
        return None
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number or null, got {type(value).__name__}"
        # an int is compared as an int: one of 400 digits does not even convert to float
        if isinstance(value, int):
            in_range = abs(value) <= MAX_ABS
        else:
            in_range = math.isfinite(value) and abs(value) <= MAX_ABS
        if not in_range:
            return f"expected a finite number within +/-{MAX_ABS:g}"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"expected true, false or null, got {type(value).__name__}"
    elif not isinstance(value, str):
        return f"expected a string or null, got {type(value).__name__}"
    elif len(value) > MAX_TEXT:
        return f"expected at most {MAX_TEXT} characters"
    return None


@dataclass(frozen=True)
class PayloadScores:
    """Per payload, in order: probability, tier by thresholds, and up to three drivers."""

    probability: np.ndarray
    tier: np.ndarray
    drivers: list[list[str]]


def payload_inputs(payloads: list[dict[str, Any]], schema: FeatureSchema) -> PreparedColumns:
    """The prepared inputs (as `prepare_inputs` makes them) of checked payloads."""
    data: dict[str, np.ndarray] = {}
    for name, kind in zip(schema.columns, schema.kinds, strict=True):
        values = [p[name] for p in payloads]
        if kind == "categorical":
            data[name] = np.array([MISSING if v is None else v for v in values], dtype=object)
        else:  # numbers and flags: float64 first, then float32, as prepare_inputs rounds
            numbers = np.array([np.nan if v is None else float(v) for v in values])
            data[name] = numbers.astype(np.float32)
    return PreparedColumns(data, len(payloads))


def score_payloads(
    payloads: list[dict[str, Any]], loaded, cfg: MLConfig, check_parity: bool = True
) -> PayloadScores:
    """Scores of checked payloads, tiers by thresholds (see module doc); `check_parity` as
    in `score_prepared`."""
    X = payload_inputs(payloads, loaded.schema)
    probability, drivers = score_prepared(X, loaded, cfg, check_parity)
    if not np.isfinite(probability).all():
        raise InvalidRequest(
            "the features give no finite probability",
            [field_error("features", "values too extreme for the model")],
        )
    per_payload = [[d for d in row if d is not None] for row in zip(*drivers, strict=True)]
    return PayloadScores(probability, tiers_by_threshold(probability, cfg.tiers), per_payload)
