"""Alerts reach a webhook in Slack's wire format, or the log when none is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from flows.alerts import Alert, AlertDeliveryError, send
from tests.flows.webhook import Recorder, slack_webhook
from warehouse.settings import Settings


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[Recorder]]]:
    with slack_webhook() as hook:
        yield hook


ALERT = Alert("drift_severe", "critical", "Severe drift: 40% of features", ("retraining",))


def test_alert_posts_slack_payload(webhook, tmp_path) -> None:
    url, handler = webhook
    assert send(ALERT, Settings(data_dir=tmp_path, slack_webhook_url=url)) is True
    (message,) = handler.received
    assert message["content_type"] == "application/json"
    assert "Severe drift" in message["body"]["text"]
    assert any("retraining" in b["text"]["text"] for b in message["body"]["blocks"][1:2])


def test_no_webhook_goes_to_log(tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="churn.alerts"):
        assert send(ALERT, Settings(data_dir=tmp_path)) is False
    assert "drift_severe" in caplog.text


def test_webhook_refusal_is_a_clear_error(webhook, tmp_path) -> None:
    url, handler = webhook
    handler.status = 500
    with pytest.raises(AlertDeliveryError, match="answered 500"):
        send(ALERT, Settings(data_dir=tmp_path, slack_webhook_url=url))


def test_webhook_down_is_a_clear_error(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, slack_webhook_url="http://127.0.0.1:9/hook")
    with pytest.raises(AlertDeliveryError, match="unreachable"):
        send(ALERT, settings)
