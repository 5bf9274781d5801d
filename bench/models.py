"""Performance measurements of training and scoring on synthetic data.

    python -m bench.models --train-rows 100000 1000000 --score-rows 200000 1000000

- training: wall time of fitting, calibrating and evaluating both candidates (pure step),
  and optionally of the whole `train` job with MLflow logging and registration;
- scoring: time of `score_frame` (prepare, attribution, probability, tiers, three drivers)
  divided by the bare `predict_proba` time of the same model on the same prepared matrix
  (target <= 1.5): `repeats` interleaved pairs, the median of their ratios (and the ratio of
  the best times); and the peak memory of scoring: tracemalloc (numpy reports to it) and the
  resident-set high-water mark of scoring, reset just before it (`rss_added_by_scoring_mb`
  = VmHWM - VmRSS at the start).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from bench.synthetic import features_only, make_training_set
from models_ml.candidates import fit_candidate
from models_ml.config import MLConfig
from models_ml.dataset import check_training_set, split_out_of_time
from models_ml.features import infer_schema, prepare_inputs
from models_ml.registry import LoadedModel
from models_ml.scoring import score_frame
from models_ml.threads import compute_limits
from models_ml.training import fit_candidates

WEEKS = 20
START = date(2024, 1, 1)
NAMED = ["customer_id", "as_of_date", "churned"]


def _training(rows: int, seed: int = 0):
    # churners leave later snapshots: size the customer base from a small pilot's retention
    pilot = len(make_training_set(1000, WEEKS, seed=seed, start=START)) / (1000 * WEEKS)
    customers = max(int(rows / (WEEKS * pilot)), 50)
    df = make_training_set(customers, WEEKS, seed=seed, start=START)
    as_of = START + timedelta(days=7 * WEEKS + 28)
    return df, as_of


def bench_training(rows: int, cfg: MLConfig | None = None, with_mlflow: bool = False) -> dict:
    """Seconds to fit + calibrate + evaluate both candidates on ~`rows` training rows (and,
    with `with_mlflow`, the whole train job into a temporary MLflow store and warehouse)."""
    cfg = cfg or MLConfig()
    df, as_of = _training(rows)
    out: dict[str, float] = {"rows": float(len(df))}
    with compute_limits(cfg.threads):
        started = time.perf_counter()
        checked = check_training_set(df, cfg, "bench", as_of, 28)
        schema = infer_schema(checked, NAMED)
        split = split_out_of_time(checked, cfg, 28)
        results = fit_candidates(split, schema, cfg)
        out["fit_evaluate_seconds"] = time.perf_counter() - started
    for name, result in results.items():
        out[f"{name}_fit_seconds"] = result.fit_seconds
        out[f"{name}_roc_auc"] = result.metrics["roc_auc"]
    if with_mlflow:
        from models_ml.training import train
        from warehouse import Settings, get_warehouse

        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, data_dir=Path(tmp))
            wh = get_warehouse(settings)
            wh.write_table(df, cfg.training_table)
            started = time.perf_counter()
            train(as_of, settings=settings, cfg=cfg, warehouse=wh)
            out["train_job_seconds"] = time.perf_counter() - started
    return out


def bench_scoring(
    rows: int, cfg: MLConfig | None = None, candidate: str = "hgb", repeats: int = 3
) -> dict:
    """Scoring time / predict_proba time for `rows` customers, and scoring's peak memory."""
    cfg = cfg or MLConfig()
    train_df, as_of = _training(60_000)
    with compute_limits(cfg.threads):
        checked = check_training_set(train_df, cfg, "bench", as_of, 28)
        schema = infer_schema(checked, NAMED)
        split = split_out_of_time(checked, cfg, 28)
        model = fit_candidate(
            candidate,
            prepare_inputs(split.fit, schema),
            split.fit[cfg.label_column].to_numpy(dtype=int),
            prepare_inputs(split.calibration, schema),
            split.calibration[cfg.label_column].to_numpy(dtype=int),
            schema,
            cfg.candidates,
        )
        loaded = LoadedModel(cfg.model_name, "bench", "bench", model, schema)
        features = features_only(make_training_set(rows, 1, seed=9, start=as_of))
        X = prepare_inputs(features, schema)
        scored_at = np.datetime64("2024-01-01T00:00")

        def predict() -> None:
            model.predict_proba(X)

        def score() -> None:
            score_frame(features, loaded, cfg, as_of, "bench", scored_at)

        # interleaved, so both see the same machine load; the median ratio of the pairs
        pairs = [(_time(predict), _time(score)) for _ in range(repeats)]
        predict_s = min(p for p, _ in pairs)
        score_s = min(s for _, s in pairs)
        ratio = float(np.median([s / p for p, s in pairs]))
        gc.collect()
        rss_before, rss_peak = _rss_of(score)
        tracemalloc.start()
        score()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    trees = model[-1].n_iter_ if candidate == "hgb" else None
    return {
        "rows": float(len(features)),
        "candidate_trees": float(trees) if trees is not None else float("nan"),
        "predict_proba_seconds": predict_s,
        "score_seconds": score_s,
        "ratio": ratio,
        "ratio_of_best": score_s / predict_s,
        "peak_memory_mb": peak / 2**20,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "rss_added_by_scoring_mb": rss_peak - rss_before,
        "input_memory_mb": features.memory_usage(deep=True).sum() / 2**20,
    }


def _time(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def _rss_of(func) -> tuple[float, float]:
    """(resident MB before, resident high-water MB during) `func`, with the high-water mark
    reset first (Linux: /proc/self/clear_refs), so the peak is scoring's, not training's.
    (No fork: OpenMP's thread pool does not survive one.)"""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:  # pragma: no cover - not Linux: ru_maxrss is the whole process's peak
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        func()
        return before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    before = _proc_status_mb("VmRSS")
    func()
    return before, _proc_status_mb("VmHWM")


def _proc_status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover
        pass
    return float("nan")


def main() -> None:
    """Print the figures as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-rows", type=int, nargs="*", default=[100_000])
    parser.add_argument("--score-rows", type=int, nargs="*", default=[200_000])
    parser.add_argument("--with-mlflow", action="store_true")
    parser.add_argument("--candidate", default="hgb", choices=["hgb", "logreg"])
    args = parser.parse_args()
    for rows in args.train_rows:
        print(
            json.dumps({"bench": "training", **bench_training(rows, with_mlflow=args.with_mlflow)})
        )
    for rows in args.score_rows:
        print(json.dumps({"bench": "scoring", **bench_scoring(rows, candidate=args.candidate)}))


if __name__ == "__main__":
    main()
