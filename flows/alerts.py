"""Alerts: a Slack incoming-webhook message, or a log line when no webhook is configured.

An alert that cannot be delivered must never hide the event it reports: delivery failures are
logged with the message, and the caller decides whether the job still fails.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from warehouse.settings import Settings, get_settings

log = logging.getLogger("churn.alerts")

ICONS = {"info": ":white_check_mark:", "warning": ":warning:", "critical": ":rotating_light:"}


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert; the message says which URL host and status."""


@dataclass(frozen=True)
class Alert:
    """One alert: what happened, how bad, and the lines a person needs to act on it."""

    event: str  # e.g. scoring_done, drift_warning, drift_severe, job_failed, model_promoted
    severity: str  # info, warning, critical
    title: str
    lines: tuple[str, ...] = ()

    def slack_payload(self) -> dict:
        """Slack incoming-webhook body: `text` for notifications, blocks for the message."""
        text = f"{ICONS.get(self.severity, '')} {self.title}".strip()
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
        if self.lines:
            body = "\n".join(f"• {line}" for line in self.lines)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"event: `{self.event}`"}]}
        )
        return {"text": text, "blocks": blocks}


def send(alert: Alert, settings: Settings | None = None, timeout: float = 10.0) -> bool:
    """Deliver an alert; True when a webhook accepted it, False when it only went to the log.

    Raises AlertDeliveryError when a webhook is configured but refuses or cannot be reached.
    """
    settings = settings or get_settings()
    log.log(
        logging.WARNING if alert.severity != "info" else logging.INFO,
        "ALERT %s [%s] %s %s",
        alert.event,
        alert.severity,
        alert.title,
        " | ".join(alert.lines),
    )
    if settings.slack_webhook_url is None:
        return False
    url = settings.slack_webhook_url.get_secret_value()
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.slack_payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    host = urllib.request.urlparse(url).netloc
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 300:
                raise AlertDeliveryError(f"Slack webhook at {host} answered {response.status}")
    except urllib.error.HTTPError as exc:
        raise AlertDeliveryError(f"Slack webhook at {host} answered {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AlertDeliveryError(f"Slack webhook at {host} unreachable: {exc}") from exc
    return True
