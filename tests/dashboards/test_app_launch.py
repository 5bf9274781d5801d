"""The one launcher of the CS app: local mode starts with `churn app` on 127.0.0.1, a network
bind without sign-in is refused with one `error:` line and exit 2 unless the setting allows it,
and half a sign-in configuration is refused the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from app_process import free_port, healthy, stop

REPO = Path(__file__).resolve().parents[2]
CHURN = Path(sys.executable).parent / "churn"


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The machine's environment without any CHURN_APP_* setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_APP_")}
    return {**env, "CHURN_DATA_DIR": str(tmp_path), **values}


def _launch(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboards.launch", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _serves(command: list[str], env: dict[str, str], port: int) -> bool:
    """Start `command`, wait for Streamlit's health endpoint on 127.0.0.1:port, stop it."""
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        return healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        stop(proc)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", "::"])
def test_a_network_bind_without_sign_in_is_refused_in_one_line(tmp_path, address):
    result = _launch(["--address", address, "--port", "8599"], _env(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to serve the app on")
    assert "CHURN_APP_ALLOW_NO_SIGN_IN" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"CHURN_APP_OIDC_CLIENT_ID": "x"}, "CHURN_APP_OIDC_CLIENT_SECRET"),
        ({"CHURN_APP_ROLE_BY_GROUP": '{"cs": "boss"}'}, "unknown role 'boss'"),
        ({"CHURN_APP_ROLE_BY_GROUP": "cs=manager"}, "app_role_by_group"),
        ({"CHURN_APP_SECRETS_FILE": "/nonexistent/secrets.toml"}, "no file"),
    ],
)
def test_bad_sign_in_settings_are_refused_in_one_line(tmp_path, values, says):
    result = _launch(["--port", "8599"], _env(tmp_path, **values))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]


def test_churn_app_starts_local_mode_on_loopback(tmp_path):
    port = free_port()
    assert _serves([str(CHURN), "app", "--port", str(port)], _env(tmp_path), port)


def test_a_network_bind_without_sign_in_starts_when_the_setting_allows_it(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "dashboards.launch", "--address", "0.0.0.0",
               "--port", str(port)]  # fmt: skip
    env = _env(tmp_path, CHURN_APP_ALLOW_NO_SIGN_IN="true")
    assert _serves(command, env, port)
