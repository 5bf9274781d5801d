"""The `churn train | promote | rollback | score` commands of the `churn` app."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.models_ml.fixtures import SCORE_AS_OF, TRAIN_AS_OF
from warehouse import get_settings


def _app():
    from flows.cli import app  # the real app: its error handling prints ModelErrors

    return app


def test_commands_are_registered_with_explicit_as_of():
    runner = CliRunner()
    app = _app()
    for command in ("train", "promote", "rollback", "score"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0
    missing = runner.invoke(app, ["score"])
    assert missing.exit_code == 2 and "Missing option '--as-of'" in missing.output


def test_cli_trains_on_a_table_scores_and_reports_errors(env, monkeypatch):
    env.warehouse.write_table(env.training, "sandbox.contract_table")
    monkeypatch.setenv("CHURN_DATA_DIR", str(env.settings.data_dir))
    monkeypatch.setenv("CHURN_MLFLOW_TRACKING_URI", env.settings.mlflow_uri)
    monkeypatch.setenv("CHURN_ML_CANDIDATES", '{"hgb_max_iter": 60}')
    monkeypatch.setenv("CHURN_ML_THREADS", "1")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        app = _app()
        no_model = runner.invoke(app, ["score", "--as-of", str(SCORE_AS_OF)])
        assert no_model.exit_code == 1 and "no 'champion' version yet" in no_model.output
        trained = runner.invoke(
            app,
            [
                "train",
                "--as-of",
                str(TRAIN_AS_OF),
                "--table",
                "sandbox.contract_table",
                "--actor",
                "cli",
            ],
        )
        assert trained.exit_code == 0, trained.output
        assert "promoted to champion" in trained.output
        scored = runner.invoke(app, ["score", "--as-of", str(SCORE_AS_OF)])
        assert scored.exit_code == 0 and "scored" in scored.output, scored.output
        bad = runner.invoke(app, ["score", "--as-of", "next monday"])
        assert bad.exit_code == 2 and "is not a date: use YYYY-MM-DD" in bad.output
        assert "Traceback" not in bad.output
        rollback = runner.invoke(app, ["rollback", "--reason", "test"])
        assert rollback.exit_code == 1 and "no earlier champion" in rollback.output
    finally:
        get_settings.cache_clear()
