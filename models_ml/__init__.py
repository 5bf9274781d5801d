"""The ML core: train, promote and roll back, score with drivers.

    import models_ml
    models_ml.train(date(2025, 6, 2))            # register challenger, promote if it passes
    models_ml.score(date(2025, 6, 9))            # write ml.churn_predictions for that Monday
    models_ml.promote("3", reason="...")         # by hand
    models_ml.rollback(reason="...")             # back to the previous champion

Names are imported on first use, so `import models_ml.monitoring.drift` (or the CLI) does not
pay for MLflow's import. Where things are: training (`dataset`, `features`, `candidates`,
`calibration`, `evaluation`, `training`), `tracking` (MLflow runs), `registry` and `promotion`
(aliases and gates), `scoring/` (batch, local, BigQuery), `monitoring/` (drift, outcomes,
newly High, the `monitoring.*` rows).
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "train": "models_ml.training",
    "TrainResult": "models_ml.training",
    "score": "models_ml.scoring.job",
    "ScoreResult": "models_ml.scoring.job",
    "promote": "models_ml.api",
    "rollback": "models_ml.api",
    "history": "models_ml.api",
    "load_champion": "models_ml.api",
    "MLConfig": "models_ml.config",
    "ModelError": "models_ml.errors",
    "FeatureSchema": "models_ml.features",
    "prepare_inputs": "models_ml.features",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'models_ml' has no attribute {name!r}")
