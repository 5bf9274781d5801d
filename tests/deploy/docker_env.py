"""Docker for the deployment tests, made here from Debian and PyPI packages only.

Image registries are out of reach where the tests run (../STACK.md of the project's notes):
the Debian base is a `debootstrap` root file system imported as an image, the project's image
is built on it, and third-party services get images built from Debian packages. Debian's
`docker.io` client builds with its built-in BuildKit (secrets for the CA bundle); a standalone
newer client would need the buildx plugin. Everything runs on the host network, on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.pg_server import free_port  # noqa: F401 - the suite's one free-port helper

REPO = Path(__file__).resolve().parents[2]
IMAGES = Path(__file__).resolve().parent / "images"
DOCKER = "/usr/bin/docker"
COMPOSE = "/usr/bin/docker-compose"
DEBIAN_BASE = "local/bookworm:base"
PYTHON_BASE = "local/python:3.11-bookworm"
PROJECT_IMAGE = "churn:test"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
IMAGE_UID = 10001


def docker(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the Docker client; a failure raises with the client's output."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    result = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed:\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")  # fmt: skip
    return result


def daemon_running() -> bool:
    return docker("info", check=False, timeout=30).returncode == 0


def start_daemon(log: Path) -> subprocess.Popen | None:
    """Start dockerd unless one answers already; returns the process we started."""
    if not Path(DOCKER).exists() or not shutil.which("dockerd"):
        raise RuntimeError("Docker is not installed: make system-deps (Debian's docker.io)")
    if daemon_running():
        return None
    process = subprocess.Popen(
        ["dockerd"], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not daemon_running():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"dockerd did not start:\n{log.read_text()[-2000:]}")
        time.sleep(1)
    return process


def stop_daemon(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_debian_base() -> None:
    """A minimal bookworm image from `debootstrap`, imported once per machine (~1 min)."""
    if image_exists(DEBIAN_BASE):
        return
    with tempfile.TemporaryDirectory() as rootfs:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [DOCKER, "import", "-", DEBIAN_BASE], stdin=tar.stdout, check=True,
            capture_output=True, timeout=600,
        )  # fmt: skip
        tar.wait()


def build(tag: str, dockerfile: Path, context: Path, build_args: dict[str, str]) -> None:
    """Build on the host network, handing the machine's CA bundle to steps that install."""
    args = ["build", "--network", "host", "-f", str(dockerfile), "-t", tag]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if CA_BUNDLE.exists():
        args += ["--secret", f"id=ca,src={CA_BUNDLE}"]
    docker(*args, str(context), timeout=1800)


def ensure_python_base() -> None:
    ensure_debian_base()
    if not image_exists(PYTHON_BASE):
        build(PYTHON_BASE, IMAGES / "python.Dockerfile", IMAGES, {"DEBIAN_BASE": DEBIAN_BASE})


def build_project_image() -> str:
    """The project's image from deploy/Dockerfile, rebuilt each session (layers cached)."""
    ensure_python_base()
    build(PROJECT_IMAGE, REPO / "deploy" / "Dockerfile", REPO, {"BASE_IMAGE": PYTHON_BASE})
    return PROJECT_IMAGE


def run_detached(
    name: str, options: Sequence[str], command: Sequence[str], image: str = PROJECT_IMAGE
) -> str:
    """Start a container of `image` on the host network; returns its name."""
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network", "host", *options, image, *command)
    return name


def run_once(options: Sequence[str], command: Sequence[str], timeout: float = 900):
    """Run a one-off container to its end; returns the finished process (not checked)."""
    return docker(
        "run", "--rm", "--network", "host", *options, PROJECT_IMAGE, *command,
        check=False, timeout=timeout,
    )  # fmt: skip


def wait_http(url: str, timeout: float = 120, container: str | None = None) -> bytes:
    """GET `url` until it answers 200; a container that exits fails at once with its log."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return response.read()
        except OSError as error:
            last = str(error)
        if container and not container_running(container):
            raise RuntimeError(f"{container} exited:\n{logs(container)}")
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer 200 in {timeout:.0f} s ({last})" + (
        f"\n{logs(container)}" if container else ""))  # fmt: skip


def container_running(name: str) -> bool:
    result = docker("inspect", "-f", "{{.State.Running}}", name, check=False)
    return result.stdout.strip() == "true"


def health_status(name: str) -> str:
    result = docker("inspect", name, check=False)
    if result.returncode != 0:
        return "missing"
    state = json.loads(result.stdout)[0]["State"]
    return (state.get("Health") or {}).get("Status", "none")


def logs(name: str) -> str:
    result = docker("logs", "--tail", "60", name, check=False)
    return (result.stdout + result.stderr)[-4000:]
