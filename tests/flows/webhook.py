"""A local HTTP server that records what a Slack incoming webhook would receive."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder(BaseHTTPRequestHandler):
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

    @classmethod
    def texts(cls) -> list[str]:
        """Every message's text and blocks, flattened, for assertions."""
        return [json.dumps(m["body"]) for m in cls.received]


@contextmanager
def slack_webhook() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Recorder", (Recorder,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/X", handler
    finally:
        server.shutdown()
