"""Session fixtures of the deployment tests: a Docker daemon and the project's image."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from docker_env import build_project_image, start_daemon, stop_daemon


@pytest.fixture(scope="session")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """dockerd for the session: the one already running, or one started and stopped here."""
    process = start_daemon(tmp_path_factory.mktemp("dockerd") / "dockerd.log")
    yield
    stop_daemon(process)


@pytest.fixture(scope="session")
def churn_image(docker_daemon: None) -> str:
    """The project's image built from deploy/Dockerfile on a locally made Python base."""
    return build_project_image()
