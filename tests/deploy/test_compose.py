"""deploy/compose.yaml brought up with the locally built image, checked over HTTP, torn down.

Third-party services run from images built here from Debian packages (PostgreSQL, Prometheus,
Pushgateway; tests/deploy/compose.test.yaml); the Prefect and MLflow servers, the worker, the
job, the API and the app run the project's image. Grafana sits in a profile left out here (it
is not packaged by Debian). The job simulates a small company and runs the weekly loop once as
a Prefect flow on the stack's server, tracking to its MLflow server: the API then serves the
champion it trained and Prometheus scrapes the API and the jobs' pushed metrics.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_env import (
    COMPOSE,
    DEBIAN_BASE,
    IMAGES,
    PROJECT_IMAGE,
    REPO,
    build,
    docker,
    free_port,
    image_exists,
    wait_http,
)

pytestmark = pytest.mark.slow

PROJECT = "churn-compose-test"
TEST_IMAGES = {"local/postgres:test": "postgres", "local/prometheus:test": "prometheus"}
SERVICES = ("postgres", "mlflow", "prefect-server", "worker", "job", "api", "app",
            "pushgateway", "prometheus")  # fmt: skip
CUSTOMERS = 1_000
AS_OF = "2025-12-29"
API_KEY = "compose-test-key"
JOB_TIMEOUT_S = 900


class Stack:
    """The running stack: its ports on 127.0.0.1 and `docker-compose` bound to it."""

    def __init__(self, env_file: Path, ports: dict[str, int]) -> None:
        self.env_file = env_file
        self.ports = ports

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        command = [
            COMPOSE, "-p", PROJECT,
            "-f", str(REPO / "deploy" / "compose.yaml"),
            "-f", str(REPO / "tests" / "deploy" / "compose.test.yaml"),
            "--env-file", str(self.env_file), *args,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def container(self, service: str) -> str:
        """The id of the service's container (compose versions name them differently)."""
        found = docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.split()  # fmt: skip
        assert len(found) == 1, f"{service}: containers {found}"
        return found[0]

    def logs(self, service: str) -> str:
        result = docker("logs", "--tail", "40", self.container(service), check=False)
        return (result.stdout + result.stderr)[-3000:]


def _test_images() -> None:
    for tag, name in TEST_IMAGES.items():
        if not image_exists(tag):
            build(tag, IMAGES / f"{name}.Dockerfile", IMAGES, {"DEBIAN_BASE": DEBIAN_BASE})


@pytest.fixture(scope="module")
def stack(churn_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _test_images()
    ports = {name: free_port() for name in ("api", "app", "mlflow", "prefect", "prometheus",
                                            "pushgateway", "grafana")}  # fmt: skip
    env = (REPO / "deploy" / ".env.example").read_text().splitlines()
    values = {
        "CHURN_IMAGE": PROJECT_IMAGE,
        "CHURN_API_KEY": API_KEY,
        "POSTGRES_PASSWORD": "compose-test-password",
        "CHURN_DEMO_CUSTOMERS": str(CUSTOMERS),
        "CHURN_DEMO_AS_OF": AS_OF,
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    lines = [line for line in env if line.split("=", 1)[0] not in values]
    env_file = tmp_path_factory.mktemp("compose") / "env"
    env_file.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")
    stack = Stack(env_file, ports)
    stack.compose("down", "-v", "--remove-orphans")
    try:
        up = stack.compose("up", "-d")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300)


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _wait_ok(url: str, seconds: float, stack: Stack, service: str) -> bytes:
    """GET until 200; a service's container that stops fails at once, with its log."""
    return wait_http(url, timeout=seconds, container=stack.container(service))


def _job_exit_code(stack: Stack) -> int:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", stack.container("job")).stdout)[0]["State"]
        if not state["Running"]:
            return state["ExitCode"]
        time.sleep(5)
    raise AssertionError(f"the job did not finish in {JOB_TIMEOUT_S} s\n{stack.logs('job')}")


def test_every_service_answers_and_the_weekly_loop_flows_through(stack: Stack) -> None:
    # the servers come up before the job has anything to show
    _wait_ok(f"{stack.url('prefect')}/api/health", 180, stack, "prefect-server")
    _wait_ok(f"{stack.url('mlflow')}/health", 180, stack, "mlflow")
    _wait_ok(f"{stack.url('pushgateway')}/-/ready", 60, stack, "pushgateway")
    _wait_ok(f"{stack.url('prometheus')}/-/ready", 60, stack, "prometheus")
    _wait_ok(f"{stack.url('app')}/_stcore/health", 120, stack, "app")

    assert _job_exit_code(stack) == 0, stack.logs("job")

    # the API follows the champion the job trained on the MLflow server
    health = json.loads(_wait_ok(f"{stack.url('api')}/health", 120, stack, "api"))
    assert health["status"] == "ok" and health["model"]["alias"] == "champion"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _predict(stack, "C0000001", key=None)
    assert refused.value.code == 401
    scored = _predict(stack, _a_listed_customer(stack), key=API_KEY)
    assert 0.0 <= scored["churn_probability"] <= 1.0

    # the worker deployed the schedules of prefect.yaml and is polling its pool
    deployments = _prefect_post(stack, "/deployments/filter", {})
    assert {"score-weekly", "train-weekly"} <= {d["name"] for d in deployments}
    workers = _prefect_post(stack, "/work_pools/churn/workers/filter", {})
    assert any(w["status"] == "ONLINE" for w in workers), stack.logs("worker")

    # Prometheus scrapes the API and the metrics the job pushed
    assert _prometheus_value(stack, 'up{job="churn_serving"}') == 1.0
    assert _prometheus_value(stack, "count(churn_job_last_success_timestamp_seconds)") >= 1


def _predict(stack: Stack, customer: str, key: str | None) -> dict:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    body = json.dumps({"customer_id": customer, "as_of_date": AS_OF}).encode()
    request = urllib.request.Request(f"{stack.url('api')}/predict", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _a_listed_customer(stack: Stack) -> str:
    """A customer the job scored, as a client finds one: the batch endpoint's first hit."""
    for number in range(1, CUSTOMERS + 1):
        customer = f"C{number:07d}"
        try:
            _predict(stack, customer, key=API_KEY)
            return customer
        except urllib.error.HTTPError as error:
            assert error.code == 404, error.read()
    raise AssertionError("no customer of the simulated company was scored")


def _prefect_post(stack: Stack, path: str, body: dict) -> list[dict]:
    request = urllib.request.Request(
        f"{stack.url('prefect')}/api{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _prometheus_value(stack: Stack, expr: str, seconds: float = 90) -> float:
    """The query's first value, waiting for the scrapes that produce it."""
    deadline = time.monotonic() + seconds
    while True:
        query = urllib.parse.urlencode({"query": expr})
        answer = json.loads(_get(f"{stack.url('prometheus')}/api/v1/query?{query}"))
        result = answer["data"]["result"]
        if result or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert result, f"Prometheus has no {expr}"
    return float(result[0]["value"][1])


def test_down_removes_every_container(stack: Stack) -> None:
    down = stack.compose("down", "-v", "--remove-orphans", timeout=300)
    assert down.returncode == 0, down.stderr[-2000:]
    listed = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                    "--format", "{{.Names}}").stdout.split()  # fmt: skip
    assert listed == []
