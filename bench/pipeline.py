"""Foundation figures: simulator, ingestion and dbt build at a given size.

The feature build is compared with one plain GROUP BY pass over the same raw usage events in
the same DuckDB file, because that pass is the floor any feature pipeline must pay. It is
measured twice, as production runs it: a first build over all history up to a week before the
end, then the weekly run after the last week is released and ingested (incremental models
then add only that week, late events included).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse.settings import Settings


@dataclass
class PipelineFigures:
    customers: int
    days: int
    events: int
    simulate_s: float
    release_s: float
    ingest_s: float
    dbt_build_s: float
    feature_sql_s: float
    weekly_ingest_s: float
    weekly_feature_sql_s: float
    weekly_feature_elapsed_s: float
    weekly_usage_sql_s: float
    group_by_s: float
    feature_rows: int
    train_s: float = float("nan")
    quality: object = None

    @property
    def feature_ratio(self) -> float:
        return self.feature_sql_s / self.group_by_s

    @property
    def weekly_ratio(self) -> float:
        return self.weekly_feature_sql_s / self.group_by_s

    @property
    def weekly_elapsed_ratio(self) -> float:
        return self.weekly_feature_elapsed_s / self.group_by_s

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("customers", f"{self.customers:,}"),
            ("simulated days", f"{self.days:,}"),
            ("raw usage events", f"{self.events:,}"),
            ("simulate", f"{self.simulate_s:.1f} s ({self.events / self.simulate_s:,.0f} ev/s)"),
            ("release", f"{self.release_s:.1f} s"),
            ("ingest", f"{self.ingest_s:.1f} s ({self.events / self.ingest_s:,.0f} ev/s)"),
            ("dbt build (incl. tests)", f"{self.dbt_build_s:.1f} s"),
            ("first build: feature models, SQL time", f"{self.feature_sql_s:.1f} s"),
            ("weekly run: ingest of the last week", f"{self.weekly_ingest_s:.1f} s"),
            ("weekly run: feature models, SQL time summed", f"{self.weekly_feature_sql_s:.1f} s"),
            ("weekly run: feature models, elapsed", f"{self.weekly_feature_elapsed_s:.1f} s"),
            ("weekly run: usage models only", f"{self.weekly_usage_sql_s:.1f} s"),
            ("plain GROUP BY over raw events", f"{self.group_by_s:.2f} s"),
            ("first build / GROUP BY", f"{self.feature_ratio:.1f}x"),
            ("weekly run (summed) / GROUP BY", f"{self.weekly_ratio:.1f}x"),
            ("weekly run (elapsed) / GROUP BY", f"{self.weekly_elapsed_ratio:.1f}x (target <= 3x)"),
            ("customer_features rows", f"{self.feature_rows:,}"),
            ("train job (both candidates, MLflow, gates)", f"{self.train_s:.1f} s"),
        ]


def _timed(func, *args, **kwargs) -> float:  # noqa: ANN001 - any callable
    started = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - started


def _feature_sql_seconds(project_dir: Path, prefix: str = "model.") -> float:
    """Sum of dbt's own execution time for the models whose id starts with `prefix` (not
    tests, not dbt start-up; with 2 threads two models share the cores, so the sum
    overstates the time the build takes)."""
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    return sum(r["execution_time"] for r in results["results"] if r["unique_id"].startswith(prefix))


def _feature_elapsed_seconds(project_dir: Path) -> float:
    """From the first model's start to the last model's end: what the build takes, dbt's
    start-up (parsing, connecting) left out."""
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    spans = [
        (datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["completed_at"]))
        for r in results["results"]
        if r["unique_id"].startswith("model.")
        for t in r["timing"]
    ]
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


def run(
    customers: int, start: date, end: date, workdir: Path, seed: int = 1, train: bool = True
) -> PipelineFigures:
    """Simulate, release, ingest and build at one size; return the measured figures."""
    import ingestion
    import simulator
    from flows.dbt_runner import PROJECT_DIR, run_dbt
    from flows.jobs import MARTS

    settings = Settings(data_dir=workdir)
    week_before = end - timedelta(days=7)
    simulate_s = _timed(
        simulator.generate,
        customers=customers,
        seed=seed,
        start=start,
        end=end,
        out=workdir / "sim",
    )

    def release(as_of: date) -> float:
        return _timed(
            simulator.release,
            as_of=as_of,
            sim=workdir / "sim",
            out=settings.sources_path,
            customer_db_url=settings.customer_db,
        )

    release_s = release(week_before)
    ingest_s = _timed(ingestion.run, settings=settings)
    dbt_build_s = _timed(run_dbt, ["run", "--exclude", MARTS], settings)
    feature_sql_s = _feature_sql_seconds(PROJECT_DIR)
    dbt_build_s += _timed(run_dbt, ["test", "--exclude", MARTS], settings)

    release_s += release(end)
    weekly_ingest_s = _timed(ingestion.run, settings=settings)
    ingest_s += weekly_ingest_s
    _timed(run_dbt, ["run", "--exclude", MARTS], settings)
    weekly_feature_sql_s = _feature_sql_seconds(PROJECT_DIR)
    weekly_feature_elapsed_s = _feature_elapsed_seconds(PROJECT_DIR)
    weekly_usage_sql_s = sum(
        _feature_sql_seconds(PROJECT_DIR, f"model.churn.{name}")
        for name in ("stg_usage__events", "int_usage_")
    )

    train_s, quality = float("nan"), None
    if train:
        import models_ml
        from bench import quality as quality_bench

        train_s = _timed(models_ml.train, end, settings=settings)
        quality = quality_bench.measure(settings, workdir / "sim")

    con = duckdb.connect(str(settings.warehouse_file), read_only=True)
    try:
        events = con.execute("select count(*) from raw.usage_events").fetchone()[0]
        started = time.perf_counter()
        con.execute(
            "select customer_id, count(*), count(distinct user_id), max(occurred_at) "
            "from raw.usage_events group by 1"
        ).fetchall()
        group_by_s = time.perf_counter() - started
        feature_rows = con.execute("select count(*) from features.customer_features").fetchone()[0]
    finally:
        con.close()
    return PipelineFigures(
        customers=customers,
        days=(end - start).days,
        events=events,
        simulate_s=simulate_s,
        release_s=release_s,
        ingest_s=ingest_s,
        dbt_build_s=dbt_build_s,
        feature_sql_s=feature_sql_s,
        weekly_ingest_s=weekly_ingest_s,
        weekly_feature_sql_s=weekly_feature_sql_s,
        weekly_feature_elapsed_s=weekly_feature_elapsed_s,
        weekly_usage_sql_s=weekly_usage_sql_s,
        group_by_s=group_by_s,
        feature_rows=feature_rows,
        train_s=train_s,
        quality=quality,
    )
