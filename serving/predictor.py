"""Requests to predictions: check every item first, then score payloads together in one
call and look ids up in the scored snapshot. One served version answers a whole
request, even when the alias moves meanwhile."""

from __future__ import annotations

from models_ml.config import MLConfig
from serving.compute import request_threads
from serving.config import ServingConfig
from serving.errors import InvalidRequest, NotFound, field_error, field_names
from serving.model_holder import ModelHolder
from serving.payload import check_payload, score_payloads
from serving.schemas import FieldError, Prediction, PredictRequest
from serving.snapshots import SnapshotCache


class Predictor:
    """The scoring behind /predict and /predict/batch."""

    def __init__(
        self, holder: ModelHolder, snapshots: SnapshotCache, cfg: MLConfig, serving: ServingConfig
    ) -> None:
        self.holder = holder
        self.snapshots = snapshots
        self.cfg = cfg
        self.serving = serving
        # versions whose drivers were checked to add up to the model's own probability: the
        # check depends on the model and the library, not on the payload, and it would
        # double the cost of every request
        self._parity_checked: set[tuple[str, str]] = set()

    def predict(self, items: list[PredictRequest], batch: bool) -> list[Prediction]:
        """Predictions in request order; 4xx naming every field at fault, 503 without model."""
        served = self.holder.require()
        loaded = served.loaded
        where = [f"requests[{i}]." if batch else "" for i in range(len(items))]
        self._check(items, where, loaded.schema)
        out: list[Prediction | None] = [None] * len(items)
        payload = [i for i, item in enumerate(items) if item.features is not None]
        if payload:
            version = (loaded.name, str(loaded.version))
            check = version not in self._parity_checked
            with request_threads(self.serving.threads):
                features = [items[i].features for i in payload]
                scores = score_payloads(features, loaded, self.cfg, check)
            self._parity_checked.add(version)
            for j, i in enumerate(payload):
                out[i] = Prediction(
                    customer_id=items[i].customer_id,
                    as_of_date=items[i].as_of_date,
                    churn_probability=float(scores.probability[j]),
                    risk_tier=scores.tier[j],
                    risk_rank=None,
                    drivers=scores.drivers[j],
                    model_name=loaded.name,
                    model_version=loaded.version,
                    source="payload",
                    holdout_group=None,
                )
        missing: list[FieldError] = []
        for i, item in enumerate(items):
            if item.features is not None:
                continue
            try:
                as_of, (p, tier, rank, drv) = self.snapshots.lookup(
                    served, item.customer_id or "", item.as_of_date, where[i]
                )
            except NotFound as exc:
                if not batch or "customer_id" not in exc.fields[0].field:
                    raise
                missing += exc.fields
                continue
            out[i] = Prediction(
                customer_id=item.customer_id,
                as_of_date=as_of,
                churn_probability=p,
                risk_tier=tier,  # type: ignore[arg-type]
                risk_rank=rank,
                drivers=drv,
                model_name=loaded.name,
                model_version=loaded.version,
                source="warehouse",
                holdout_group=self.snapshots.holdout_groups(as_of).get(item.customer_id or ""),
            )
        if missing:
            raise NotFound(f"customers without an active snapshot: {field_names(missing)}", missing)
        return [p for p in out if p is not None]

    def _check(self, items: list[PredictRequest], where: list[str], schema) -> None:
        errors: list[FieldError] = []
        for item, at in zip(items, where, strict=True):
            if item.features is not None:
                errors += check_payload(item.features, schema, self.cfg.allow_extra_features, at)
            elif item.customer_id is None:
                errors.append(field_error(f"{at}customer_id", "required when no features"))
        if errors:
            raise InvalidRequest(f"invalid request: {field_names(errors)}", errors)
