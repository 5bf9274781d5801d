"""The one way the CS app starts (`churn app`, `make app`, the container's app role):
`python -m dashboards.launch --address A --port P [streamlit options...]`.

It enforces the rule "no sign-in => loopback only, unless CHURN_APP_ALLOW_NO_SIGN_IN", prints
one `error:` line and exits 2 when refused, and otherwise replaces itself with Streamlit. With
an identity provider in the settings it first writes Streamlit's `[auth]` secrets to a private
file (mode 0600, under the data dir, never in the repository) and points Streamlit at it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from dashboards.sign_in import (
    SignInMisconfigured,
    auth_secrets_toml,
    check_role_mappings,
    is_loopback,
    sign_in_from_settings,
)
from warehouse.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "app.py"
REFUSED = 2


class LaunchRefused(Exception):
    """The app must not start as asked; the message is the one line the user sees."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards.launch", description="Start the CS app (Streamlit)."
    )
    parser.add_argument("--address", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8501, help="port to listen on")
    return parser


def secrets_path(settings: Settings, port: int) -> Path:
    """Where the generated `[auth]` secrets of the app on `port` are written."""
    return (settings.data_dir / "app" / "secrets" / f"auth-{port}.toml").resolve()


def write_private(path: Path, text: str) -> Path:
    """Write `text` readable by this user only (folder 0700, file 0600), replacing any file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return path


def _given_secrets(path: Path) -> Path:
    """The user's own secrets.toml, checked to hold an `[auth]` section."""
    try:
        parsed = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise LaunchRefused(f"CHURN_APP_SECRETS_FILE: no file {path}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LaunchRefused(f"CHURN_APP_SECRETS_FILE: cannot read {path}: {exc}") from None
    if not isinstance(parsed.get("auth"), dict):
        raise LaunchRefused(f"CHURN_APP_SECRETS_FILE: {path} has no [auth] section")
    return path.resolve()


def auth_secrets_file(settings: Settings, port: int) -> Path | None:
    """The secrets file that turns sign-in on (None: local mode)."""
    if settings.app_secrets_file is not None:
        return _given_secrets(settings.app_secrets_file)
    if not sign_in_from_settings(settings):
        return None
    return write_private(secrets_path(settings, port), auth_secrets_toml(settings, port))


def streamlit_command(
    address: str, port: int, secrets_file: Path | None, extra: Sequence[str] = ()
) -> list[str]:
    """The `streamlit run` command line for the app."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    if secrets_file is not None:
        command += ["--secrets.files", str(secrets_file)]
    return [*command, *extra]


def plan(address: str, port: int, extra: Sequence[str], settings: Settings) -> list[str]:
    """The command to run, or LaunchRefused saying why the app must not start."""
    try:
        check_role_mappings(settings)
        secrets_file = auth_secrets_file(settings, port)
    except SignInMisconfigured as exc:
        raise LaunchRefused(str(exc)) from None
    if secrets_file is None and not is_loopback(address) and not settings.app_allow_no_sign_in:
        raise LaunchRefused(
            f"refusing to serve the app on {address} without sign-in: configure an identity "
            "provider (CHURN_APP_OIDC_*), listen on 127.0.0.1, or set "
            "CHURN_APP_ALLOW_NO_SIGN_IN=true"
        )
    return streamlit_command(address, port, secrets_file, extra)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the rule, then exec Streamlit (returns only when refused)."""
    args, extra = _parser().parse_known_args(argv)
    try:
        command = plan(args.address, args.port, extra, Settings())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "CHURN_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        print(f"error: {field}: {first['msg']}", file=sys.stderr)
        return REFUSED
    except SettingsError as exc:  # a mapping that is not JSON, for one
        print(f"error: {str(exc).splitlines()[0].removeprefix('error ')}", file=sys.stderr)
        return REFUSED
    except LaunchRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return REFUSED
    # Streamlit reads .streamlit/config.toml from the directory it starts in
    os.chdir(ROOT)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
