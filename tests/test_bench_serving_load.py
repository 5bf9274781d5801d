"""The serving bench's load generator against a local HTTP server: it counts every request
and stops on the first error status instead of reporting the requests that got through."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.serving import load


class _Answers(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        status = 200 if self.path == "/ok" else 422
        data = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    httpd.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_every_request_is_timed_and_sent_as_json(server):
    url = f"http://127.0.0.1:{server.server_port}/ok"
    latencies, wall = load(url, lambda rng: {"n": rng.random()}, clients=4, total=40)
    assert len(latencies) == 40 and (latencies > 0).all() and wall > 0
    assert len(server.bodies) == 44  # and one untimed warm-up request per client
    assert all(set(body) == {"n"} for body in server.bodies)


def test_an_error_status_stops_the_measurement(server):
    url = f"http://127.0.0.1:{server.server_port}/refused"
    with pytest.raises(RuntimeError, match="answered 422"):
        load(url, lambda rng: {"n": 1}, clients=4, total=40)
