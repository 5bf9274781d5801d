"""The project's one image, built here and run in each of its roles against a real warehouse.

The pipeline fixture's data dir (a warehouse, an MLflow store with a champion, two scored
Mondays) is copied to a folder owned by the image's user and mounted as `/data`. A one-off
job container builds the marts and publishes the app's snapshot; the API container answers
/health and a /predict; the app container serves its first page to a headless Chromium.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_env import (
    IMAGE_UID,
    docker,
    free_port,
    health_status,
    logs,
    run_detached,
    run_once,
    wait_http,
)

from tests.pipeline_fixture import SCORED, copy_pipeline

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def data_dir(pipeline_base, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built pipeline that the image's non-root user may write."""
    data = copy_pipeline(pipeline_base, tmp_path_factory.mktemp("deploy") / "data").data_dir
    for root, dirs, files in os.walk(data):
        for name in [*dirs, *files]:
            os.chown(Path(root) / name, IMAGE_UID, IMAGE_UID, follow_symlinks=False)
    os.chown(data, IMAGE_UID, IMAGE_UID)
    return data


@pytest.fixture(scope="module")
def scored_customer(data_dir: Path) -> str:
    """A customer scored on the last Monday, read before any container opens the warehouse."""
    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "select customer_id from ml.churn_predictions where as_of_date = ? "
            "order by customer_id limit 1",
            [SCORED[-1]],
        ).fetchone()
    assert row, "the pipeline fixture scored nobody on its last Monday"
    return row[0]


def volume(data: Path) -> list[str]:
    return ["-v", f"{data}:/data"]


@pytest.fixture(scope="module")
def published(churn_image: str, data_dir: Path) -> Path:
    """The marts built and the app's snapshot published, each by a one-off job container."""
    for command in (["transform", "--select", "tag:marts"], ["publish"]):
        result = run_once(volume(data_dir), command)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    snapshot = data_dir / "app" / "marts.duckdb"
    assert snapshot.exists()
    return snapshot


def test_a_job_runs_in_the_image_and_answers_bad_input_with_one_line(
    churn_image: str, data_dir: Path, published: Path
) -> None:
    status = run_once(volume(data_dir), ["status"])
    assert status.returncode == 0, status.stderr
    assert "warehouse: /data/warehouse.duckdb" in status.stdout
    assert "marts" in status.stdout

    bad = run_once(volume(data_dir), ["score", "--as-of", "2025-13-01"])
    assert bad.returncode == 2
    assert "is not a date" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr + bad.stdout


@pytest.fixture(scope="module")
def api(churn_image: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    name = run_detached(
        "churn-test-api",
        [*volume(data_dir), "-e", f"CHURN_API_PORT={port}", "-e", "CHURN_SERVE_POLL_SECONDS=0"],
        ["api"],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=180, container=name)
        yield name, url
    finally:
        docker("rm", "-f", name, check=False)


def test_the_api_container_serves_health_and_a_prediction(api, scored_customer: str) -> None:
    name, url = api
    health = json.loads(wait_http(f"{url}/health"))
    assert health["status"] == "ok"
    assert health["model"]["alias"] == "champion"

    customer = scored_customer
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps({"customer_id": customer, "as_of_date": str(SCORED[-1])}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert body["customer_id"] == customer
    assert 0.0 <= body["churn_probability"] <= 1.0
    assert body["risk_tier"] in {"High", "Medium", "Low"}


def test_the_image_healthcheck_reports_the_api_healthy(api) -> None:
    name, _ = api
    status = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = health_status(name)
        if status in {"healthy", "unhealthy"}:
            break
        time.sleep(1)
    assert status == "healthy", logs(name)


def test_the_app_container_shows_the_at_risk_list(
    churn_image: str, data_dir: Path, published: Path
) -> None:
    port = free_port()
    name = run_detached("churn-test-app", [*volume(data_dir), "-e", f"CHURN_APP_PORT={port}",
                        "-e", "CHURN_APP_ALLOW_NO_SIGN_IN=true"], ["app"])  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_stcore/health", timeout=120, container=name)
        page = wait_http(url).decode()
        assert "<title>" in page.lower() or "streamlit" in page.lower()
        text = _rendered_text(url)
        assert "At-risk" in text or "at-risk" in text.lower(), text[:2000]
    finally:
        docker("rm", "-f", name, check=False)


def _rendered_text(url: str) -> str:
    """The first page's text as Debian's headless Chromium renders it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(url, timeout=60_000)
            page.get_by_text("High", exact=False).first.wait_for(timeout=60_000)
            return page.inner_text("body")
        finally:
            browser.close()


def test_the_image_runs_as_a_user_without_compilers(churn_image: str) -> None:
    config = json.loads(docker("image", "inspect", churn_image).stdout)[0]["Config"]
    assert config["User"] == "churn"
    assert config["Healthcheck"]["Test"][-1].endswith("healthcheck.py")
    probe = run_once(["--entrypoint", "sh"], ["-c", "id -u; command -v gcc cc g++ || true"])
    lines = probe.stdout.split()
    assert lines[0] == str(IMAGE_UID)
    assert lines[1:] == [], f"compilers in the final image: {lines[1:]}"
