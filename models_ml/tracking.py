"""Logging a training run: params, metrics, the data snapshot, the commit, plots, the model
with signature and input example, and its ONNX export with the parity error."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline

from models_ml import evaluation
from models_ml.attribution import attribute
from models_ml.candidates import CandidateResult
from models_ml.config import MLConfig
from models_ml.dataset import Split
from models_ml.features import FeatureSchema
from models_ml.onnx_export import parity_error, to_onnx

REPO_ROOT = Path(__file__).resolve().parents[1]
# numpy.dtype: the fitted SimpleImputer of the linear model keeps its input dtype
SKOPS_TRUSTED = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",
]


def artifact_root(settings) -> Path | str:
    """Where MLflow artifacts go: `<gcs_artifact_root>/mlartifacts` when a GCS root is set
    (the bigquery target), else `data/mlartifacts`."""
    gcs = getattr(settings, "gcs_artifact_root", None)
    if gcs:
        return gcs.rstrip("/") + "/mlartifacts"
    return settings.data_dir / "mlartifacts"


def experiment_id(client, name: str, root: Path | str) -> str:
    """The experiment, created with an explicit artifact location (otherwise MLflow writes
    ./mlruns wherever the job happens to run): a folder under data/, or a `gs://` URI.

    An existing experiment keeps the location it was created with (MLflow cannot move it).
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    if isinstance(root, str) and "://" in root:
        return client.create_experiment(name, artifact_location=f"{root}/{name}")
    location = (Path(root) / name).resolve()
    location.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=location.as_uri())


def _git(*args: str) -> str:
    """Output of one git command in the repository (raises when git is missing or fails)."""
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def git_commit() -> str:
    """The commit of the code that trained (with '-dirty' for uncommitted changes)."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def pip_requirements() -> list[str]:
    """Explicit requirements: inferring them costs ~6 s per log_model."""
    return [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"mlflow=={mlflow.__version__}",
        f"skops=={version('skops')}",
    ]


@dataclass(frozen=True)
class RunRecord:
    """Everything a training run logs."""

    params: dict[str, object]
    metrics: dict[str, float]
    tags: dict[str, str]
    figures: dict[str, object]
    tables: dict[str, dict]
    model: Pipeline
    schema: FeatureSchema
    example: pd.DataFrame
    integration_sample: pd.DataFrame
    onnx_model: object | None


def log_training_run(experiment: str, record: RunRecord) -> tuple[str, str]:
    """Log `record` in a new run; return (run_id, model URI)."""
    import matplotlib.pyplot as plt

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.set_tags(record.tags)
        mlflow.log_params({k: _param(v) for k, v in record.params.items()})
        mlflow.log_metrics(record.metrics)
        for name, figure in record.figures.items():
            mlflow.log_figure(figure, f"plots/{name}.png")
            plt.close(figure)
        for name, table in record.tables.items():
            mlflow.log_dict(table, f"tables/{name}.json")
        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / "integration_sample.parquet"
            record.integration_sample.to_parquet(sample)
            mlflow.log_artifact(str(sample), "checks")
            if record.onnx_model is not None:
                onnx_path = Path(tmp) / "model.onnx"
                onnx_path.write_bytes(record.onnx_model.SerializeToString())
                mlflow.log_artifact(str(onnx_path), "onnx")
        signature = infer_signature(record.example, record.model.predict_proba(record.example))
        info = mlflow.sklearn.log_model(
            sk_model=record.model,
            name="model",
            signature=signature,
            input_example=record.example,
            pip_requirements=pip_requirements(),
            pyfunc_predict_fn="predict_proba",
            metadata={"feature_schema": record.schema.to_dict()},
            # skops, not pickle: loading runs no code; HGB's node arrays are our own output
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED,
        )
        return run.info.run_id, info.model_uri


def _param(value: object) -> object:
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str)[:6000]
    return value


def training_run_record(
    best: CandidateResult,
    results: dict[str, CandidateResult],
    split: Split,
    schema: FeatureSchema,
    X_hold: pd.DataFrame,
    cfg: MLConfig,
    table: str,
    as_of: date,
    horizon: int,
) -> RunRecord:
    """Everything a training run logs: params (incl. the fit window the drift check reads
    back), metrics of every candidate, plots, tables, the model and its ONNX export."""
    y = split.holdout[cfg.label_column].to_numpy(dtype=int)
    p = best.holdout_probability
    attribution = attribute(best.model, X_hold, schema)
    importance = np.abs(attribution.contributions).mean(axis=0)
    calibration = evaluation.calibration_table(y, p)
    gains = evaluation.gains_curve(y, p)
    try:
        onnx_model = to_onnx(best.model, schema)
        parity = parity_error(best.model, onnx_model, X_hold)
    except Exception as exc:  # recorded; promotion then fails its ONNX check
        onnx_model, parity = None, float("inf")
        export_error = str(exc)[:500]
    else:
        export_error = ""
    metrics = dict(best.metrics)
    metrics["onnx_parity_max_abs_err"] = parity
    metrics["attribution_max_abs_err"] = float(np.max(np.abs(attribution.probability - p)))
    for result in results.values():
        for key, value in result.metrics.items():
            metrics[f"{result.name}_{key}"] = value
        metrics[f"{result.name}_fit_seconds"] = result.fit_seconds
        metrics[f"{result.name}_direction_violations"] = float(
            sum(result.direction_violations.values())
        )
    snapshot = split.describe()
    params: dict[str, object] = {
        "candidate": best.name,
        "as_of": str(as_of),
        "table": table,
        "horizon_days": horizon,
        "features": list(schema.columns),
        "n_features": len(schema.columns),
        **{f"data_{k}": v for k, v in snapshot.items()},
        **{f"cfg_{k}": v for k, v in cfg.candidates.model_dump().items()},
        "cfg_primary_metric": cfg.primary_metric,
    }
    sample = X_hold.iloc[: cfg.integration_sample_rows].copy()
    sample["expected_probability"] = p[: cfg.integration_sample_rows]
    names = list(schema.columns)
    return RunRecord(
        params=params,
        metrics=metrics,
        tags={
            "git_commit": git_commit(),
            "job": "train",
            "as_of": str(as_of),
            "onnx_export_error": export_error,
        },
        figures={
            "calibration": evaluation.plot_calibration(calibration),
            "lift": evaluation.plot_gains(gains),
            "feature_importance": evaluation.plot_importance(names, importance),
        },
        tables={
            "calibration_curve": calibration,
            "gains_curve": gains,
            "importance": dict(zip(names, importance.tolist(), strict=True)),
        },
        model=best.model,
        schema=schema,
        example=X_hold.iloc[:5],
        integration_sample=sample,
        onnx_model=onnx_model,
    )
