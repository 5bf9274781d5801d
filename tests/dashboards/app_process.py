"""The CS app as a child process for the browser and launcher tests: start, wait, stop."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from tests.pg_server import free_port  # noqa: F401 - the suite's one free-port helper

START_SECONDS = 60


def healthy(url: str, proc: subprocess.Popen, seconds: float = START_SECONDS) -> bool:
    """Wait until Streamlit's health endpoint under `url` answers 200; False when the process
    exits first or the time runs out."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def started(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Fail the test with the app's log when it does not come up."""
    import pytest

    if not healthy(url, proc):
        proc.kill()
        pytest.fail(f"the app did not start: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
