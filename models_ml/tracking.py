"""Logging a training run: params, metrics, the data snapshot, the commit, plots, the model
with signature and input example, and its ONNX export with the parity error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    (the bigquery target), else `<data_dir>/mlartifacts`, resolved where data_dir is now."""
    gcs = getattr(settings, "gcs_artifact_root", None)
    if gcs:
        return gcs.rstrip("/") + "/mlartifacts"
    return (Path(settings.data_dir) / ARTIFACTS_DIR).resolve()


def experiment_id(client, name: str, root: Path | str, *, job: str | None = None) -> str:
    """The experiment, created with an explicit artifact location (otherwise MLflow writes
    ./mlruns wherever the job happens to run): a folder under data/, or a `gs://` URI.

    Called right before a job starts its run, so it also closes the runs a killed job left
    RUNNING in this experiment (of `job` only, when given): see `fail_stale_runs`.
    An existing experiment keeps its location; `follow_data_dir` moves it with data/.
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        fail_stale_runs(client, found.experiment_id, job=job)
        return found.experiment_id
    if isinstance(root, str) and "://" in root:
        return client.create_experiment(name, artifact_location=f"{root}/{name}")
    location = (Path(root) / name).resolve()
    location.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=location.as_uri())


# ---------- a store that moves with data/

ARTIFACTS_DIR = "mlartifacts"
# every column in which MLflow 3 records an artifact location (checked on its SQLite schema):
# experiments, runs, logged models (the model files) and registered versions
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def local_store(settings) -> Path | None:
    """The SQLite file of a store that belongs to data_dir (`<data_dir>/mlflow.db`, the
    default) with local artifacts; None for a server, a shared database or GCS artifacts."""
    if getattr(settings, "gcs_artifact_root", None):
        return None
    uri = settings.mlflow_uri
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    if not db.is_file() or db.resolve().parent != Path(settings.data_dir).resolve():
        return None
    return db


def follow_data_dir(settings) -> int:
    """Point the local store's recorded artifact locations at `<data_dir>/mlartifacts` where
    data_dir is now; return how many records changed (0 when nothing moved).

    MLflow records every artifact location as an absolute `file://` URI (a relative one is
    resolved against the working directory when the experiment is created), so a data/
    folder that was moved or restored elsewhere would keep reading, and writing, the old
    folder. The database and its artifacts always travel together under data_dir, so any
    `.../mlartifacts` root recorded there that is not the current one is a previous place of
    this same folder. Run before the store is used (the `churn` CLI does it on start)."""
    db = local_store(settings)
    if db is None:
        return 0
    return follow_store_at(db, Path(artifact_root(settings)))


def follow_store_at(db: Path, artifacts: Path) -> int:
    """`follow_data_dir` for the SQLite store `db` whose artifacts now live in `artifacts`;
    also called by `models_ml.registry.connect`, so every reader of a moved store follows it
    (a Prefect worker or the API started without the CLI)."""
    import sqlite3
    from contextlib import closing

    new_root = artifacts.resolve().as_uri()
    changed = 0
    with closing(sqlite3.connect(db, timeout=60)) as con:
        tables = {row[0] for row in con.execute("select name from sqlite_master")}
        if "experiments" not in tables:
            return 0
        old_roots = {_recorded_root(row[0]) for row in con.execute(_EXPERIMENT_LOCATIONS)}
        old_roots -= {None, new_root}
        if not old_roots:
            return 0
        columns = [
            (table, column)
            for table, column in _LOCATION_COLUMNS
            if table in tables
            and column in {row[1] for row in con.execute(f"pragma table_info('{table}')")}
        ]
        with con:  # one transaction: readers see the old places or the new, never a mix
            for old in sorted(old_roots):
                for table, column in columns:
                    changed += con.execute(
                        f"update {table} set {column} = ? || substr({column}, ?) "
                        f"where substr({column}, 1, ?) = ?",
                        (new_root, len(old) + 1, len(old) + 1, old + "/"),
                    ).rowcount
    return changed


_EXPERIMENT_LOCATIONS = "select artifact_location from experiments"


def _recorded_root(location: str | None) -> str | None:
    """`file:///old/data/mlartifacts` of `file:///old/data/mlartifacts/churn`, else None."""
    head, sep, _ = (location or "").rpartition(f"/{ARTIFACTS_DIR}/")
    if not sep or not head.startswith("file://"):
        return None
    return f"{head}/{ARTIFACTS_DIR}"


# ---------- runs a killed job left RUNNING

PROCESS_TAG = "churn.process"  # host:pid:start-ticks of the process that started the run
FAILED_REASON_TAG = "churn.failed_reason"
# a run still RUNNING after this long is stale even if its process cannot be checked (another
# host): training on a million rows takes minutes, scoring seconds
STALE_AFTER = timedelta(hours=24)


def this_process(pid: int | None = None) -> str:
    """`host:pid:start` naming a process; start (clock ticks since boot, from /proc) tells a
    reused pid from the original, and is empty where /proc is missing."""
    pid = os.getpid() if pid is None else pid
    found = _proc_stat(pid)
    return f"{socket.gethostname()}:{pid}:{found[1] if found else ''}"


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start ticks) of `pid` from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _process_gone(identity: str) -> bool:
    """True when the process named by `this_process` surely ended: same host, and no such
    pid, a zombie, or a pid since reused by another process."""
    host, _, rest = identity.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's process cannot be checked from here
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, run by another user
    found = _proc_stat(pid)
    if found is None:
        return False
    state, started = found
    return state == "Z" or (bool(start) and started != start)


def stale_reason(run, now: datetime | None = None, max_age: timedelta = STALE_AFTER) -> str:
    """Why a RUNNING run is stale ('' when it may still be running)."""
    identity = run.data.tags.get(PROCESS_TAG, "")
    if identity and _process_gone(identity):
        host, pid = identity.split(":")[:2]
        return f"its process {pid} on {host} ended without closing the run (killed)"
    now = now or datetime.now(UTC)
    age = now - datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    if age > max_age:
        hours = age.total_seconds() / 3600
        return f"still RUNNING {hours:.1f} h after it started (bound {max_age})"
    return ""


def fail_stale_runs(
    client, experiment: str, job: str | None = None, max_age: timedelta = STALE_AFTER
) -> list[str]:
    """Mark FAILED the runs of `experiment` (of `job`, when given) left RUNNING by a process
    that is gone or for longer than `max_age`, tagged with the reason; return their ids.

    A `kill -9` (or a lost machine) ends a job without MLflow's end_run, so the run would
    stay RUNNING forever and the UI would show a job still at work."""
    runs = client.search_runs(
        [experiment], filter_string="attributes.status = 'RUNNING'", max_results=500
    )
    now = datetime.now(UTC)
    failed = []
    for run in runs:
        if job is not None and run.data.tags.get("job") != job:
            continue
        reason = stale_reason(run, now, max_age)
        if not reason:
            continue
        client.set_tag(
            run.info.run_id,
            FAILED_REASON_TAG,
            f"{reason}; marked FAILED by {this_process()} at {now.isoformat(timespec='seconds')}",
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        failed.append(run.info.run_id)
    return failed


def _register_process_tag() -> None:
    """Tag every run this process starts with `PROCESS_TAG`, so a later job can tell whether
    the process behind a RUNNING run is still alive (MLflow's run context providers add
    tags at `mlflow.start_run`, for the score job's runs as for training's)."""
    from mlflow.tracking.context.abstract_context import RunContextProvider
    from mlflow.tracking.context.registry import _run_context_provider_registry as registry

    class ProcessContext(RunContextProvider):
        def in_context(self) -> bool:
            return True

        def tags(self) -> dict[str, str]:
            return {PROCESS_TAG: this_process()}

    if not any(type(p).__name__ == ProcessContext.__name__ for p in registry):
        registry.register(ProcessContext)


_register_process_tag()


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
    back, and how each part was sampled in the warehouse), metrics of every candidate,
    plots, tables, the model and its ONNX export."""
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
    # how the warehouse sampled each part: numbers also as metrics, to compare runs by them
    for key, value in split.sampling.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[f"sample_{key}"] = float(value)
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
