"""Alerts reach a webhook in Slack's wire format, or the log when none is configured."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flows.alerts import Alert, AlertDeliveryError, send
from warehouse.settings import Settings


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"content_type": self.headers["Content-Type"], "body": json.loads(body)}
        )
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXX", handler
    server.shutdown()


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
