"""Where settings come from: the environment, secrets files, and blank values."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.settings import Settings


def test_secrets_files_fill_unset_variables_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "CHURN_API_KEY").write_text("key-from-file\n")
    (tmp_path / "CHURN_SLACK_WEBHOOK_URL").write_text("https://hooks.example/file")
    monkeypatch.setenv("CHURN_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    monkeypatch.setenv("CHURN_SLACK_WEBHOOK_URL", "https://hooks.example/env")

    settings = Settings()

    assert settings.api_key.get_secret_value() == "key-from-file"
    assert settings.slack_webhook_url.get_secret_value() == "https://hooks.example/env"


def test_a_missing_secrets_dir_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.setenv("CHURN_SECRETS_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("CHURN_API_KEY", raising=False)

    assert Settings().api_key is None
    assert not [w for w in recwarn if "does not exist" in str(w.message)]


def test_a_blank_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # what a compose env file's `CHURN_SLACK_WEBHOOK_URL=` passes: not a webhook to call
    monkeypatch.setenv("CHURN_SLACK_WEBHOOK_URL", "")
    monkeypatch.setenv("CHURN_API_KEY", "")

    settings = Settings()

    assert settings.slack_webhook_url is None
    assert settings.api_key is None
