"""Feature payloads: checked against the champion's signature, then scored by `score_frame`.

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
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from models_ml.config import MLConfig
from models_ml.features import FeatureSchema
from models_ml.scoring import score_frame
from serving.errors import InvalidRequest, field_error
from serving.schemas import FieldError

MAX_ABS = 1e12  # beyond it float32 inputs lose meaning; refused rather than guessed
MAX_TEXT = 256
_AS_OF = date(2000, 1, 3)  # placeholder snapshot date: score_frame scores one as_of at a time


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


def payload_frame(payloads: list[dict[str, Any]], schema: FeatureSchema, cfg: MLConfig):
    """A customer_features-shaped frame of checked payloads (synthetic ids, one as_of)."""
    data: dict[str, object] = {
        cfg.id_column: [f"payload-{i}" for i in range(len(payloads))],
        cfg.date_column: [_AS_OF] * len(payloads),
    }
    for name, kind in zip(schema.columns, schema.kinds, strict=True):
        values = [p[name] for p in payloads]
        if kind == "numeric":
            data[name] = np.array([np.nan if v is None else float(v) for v in values])
        else:  # object columns: flags stay Python bools, text stays text, null stays None
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


def score_payloads(payloads: list[dict[str, Any]], loaded, cfg: MLConfig) -> pd.DataFrame:
    """`score_frame` rows for checked payloads, tiers by thresholds (see module doc)."""
    frame = payload_frame(payloads, loaded.schema, cfg)
    thresholds = cfg.model_copy(update={"tiers": cfg.tiers.model_copy(update={"capacity": None})})
    out = score_frame(frame, loaded, thresholds, _AS_OF, "online", pd.Timestamp.now())
    bad = ~np.isfinite(out["churn_probability"].to_numpy())
    if bad.any():
        raise InvalidRequest(
            "the features give no finite probability",
            [field_error("features", "values too extreme for the model")],
        )
    return out
