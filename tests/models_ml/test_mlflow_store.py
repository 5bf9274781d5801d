"""The local MLflow store travels with data/, and runs a killed job left RUNNING get closed."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

import models_ml
from models_ml.registry import connect, run_artifact_frame
from models_ml.tracking import (
    FAILED_REASON_TAG,
    PROCESS_TAG,
    experiment_id,
    fail_stale_runs,
    this_process,
)
from tests.models_ml.fixtures import SCORE_AS_OF, TRAIN_AS_OF, client_for, make_env, make_settings
from warehouse import get_settings, get_warehouse

ROOT = Path(__file__).resolve().parents[2]


def _recorded_locations(db: Path) -> list[str]:
    """Every artifact location the store records (experiments, runs, models, versions)."""
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute(
            "select artifact_location from experiments where name = 'churn' "
            "union all select artifact_uri from runs "
            "union all select artifact_location from logged_models "
            "union all select storage_location from model_versions"
        ).fetchall()
    return [row[0] for row in rows]


def test_a_moved_data_dir_scores_and_trains_from_its_new_place_only(
    tmp_path, mlflow_template, monkeypatch
):
    old = tmp_path / "old" / "data"
    old.mkdir(parents=True)
    world = make_env(old, mlflow_template)
    first = models_ml.train(
        TRAIN_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse
    )
    assert first.promoted
    new = tmp_path / "restored" / "data"
    new.parent.mkdir()
    shutil.move(old, new)

    # the real CLI, configured by the environment only: the store is <data_dir>/mlflow.db
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHURN_DATA_DIR", str(new))
    monkeypatch.delenv("CHURN_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CHURN_ML_THREADS", "1")
    get_settings.cache_clear()
    try:
        from flows.cli import app

        scored = CliRunner().invoke(app, ["score", "--as-of", str(SCORE_AS_OF)])
    finally:
        get_settings.cache_clear()
    assert scored.exit_code == 0, scored.output
    assert f"v{first.version}" in scored.output

    moved = make_settings(new)
    new_root = (new / "mlartifacts").resolve().as_uri()
    assert all(loc.startswith(new_root + "/") for loc in _recorded_locations(new / "mlflow.db"))
    champion = models_ml.load_champion(settings=moved, cfg=world.cfg)
    assert champion.version == first.version
    sample = run_artifact_frame(
        client_for(moved), champion.run_id, "checks/integration_sample.parquet"
    )
    assert len(sample) > 0
    again = models_ml.train(
        TRAIN_AS_OF, settings=moved, cfg=world.cfg, warehouse=get_warehouse(moved)
    )
    run = client_for(moved).get_run(again.run_id)
    assert run.info.artifact_uri.startswith(new_root + "/")
    assert any((new / "mlartifacts" / "churn" / again.run_id / "artifacts").rglob("*.parquet"))
    assert not old.exists(), "something was written to the data dir's old place"


KILLED_SCORE_RUN = textwrap.dedent(
    """
    import sys, time
    import mlflow
    from models_ml.registry import connect
    from models_ml.tracking import artifact_root, experiment_id
    from warehouse import Settings

    settings = Settings(_env_file=None, data_dir=sys.argv[1], mlflow_tracking_uri=sys.argv[2])
    client = connect(settings.mlflow_uri)
    exp = experiment_id(client, sys.argv[3], artifact_root(settings))
    # what the score job does before it works: start its run and tag it
    run = mlflow.start_run(experiment_id=exp, run_name="score (killed)")
    mlflow.set_tags({"job": "score"})
    print(run.info.run_id, flush=True)
    time.sleep(600)
    """
)


def test_a_run_left_running_by_a_killed_job_is_failed_by_the_next_run(trained):
    world, _ = trained
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_SCORE_RUN,
            str(world.settings.data_dir),
            world.settings.mlflow_uri,
            world.cfg.experiment_name,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, "the child did not start its run"
        client = client_for(world.settings)
        assert client.get_run(run_id).data.tags[PROCESS_TAG].split(":")[1] == str(child.pid)
        exp = client.get_experiment_by_name(world.cfg.experiment_name).experiment_id
        # alive: left alone
        assert fail_stale_runs(client, exp) == []
        assert client.get_run(run_id).info.status == "RUNNING"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert client.get_run(run_id).info.status == "RUNNING"

    models_ml.score(SCORE_AS_OF, settings=world.settings, cfg=world.cfg, warehouse=world.warehouse)

    killed = client.get_run(run_id)
    assert killed.info.status == "FAILED"
    assert f"process {child.pid}" in killed.data.tags[FAILED_REASON_TAG]
    assert killed.info.end_time is not None


def test_runs_older_than_the_bound_fail_and_others_stay(tmp_path, mlflow_template):
    settings = make_settings(tmp_path, mlflow_template)
    client = connect(settings.mlflow_uri)
    exp = experiment_id(client, "churn", tmp_path / "mlartifacts")
    day_ago = datetime.now(UTC) - timedelta(hours=30)
    elsewhere = {PROCESS_TAG: "another-host:1:", "job": "train"}
    old = client.create_run(exp, start_time=int(day_ago.timestamp() * 1000), tags=elsewhere)
    fresh = client.create_run(exp, tags=elsewhere)
    mine = client.create_run(exp, tags={PROCESS_TAG: this_process(), "job": "train"})
    other_job = client.create_run(exp, start_time=int(day_ago.timestamp() * 1000))

    assert fail_stale_runs(client, exp, job="train") == [old.info.run_id]

    assert "h after it started" in client.get_run(old.info.run_id).data.tags[FAILED_REASON_TAG]
    for run in (fresh, mine, other_job):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
