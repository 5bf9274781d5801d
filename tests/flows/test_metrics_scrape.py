"""What monitoring sees of a real run of the jobs: the seven jobs' text files read together by
the real node exporter (Debian's) the way its textfile collector reads a directory, and every
panel of the Grafana dashboard answered by a real Prometheus scraping that exporter and the
serving API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flows.metrics import METRICS, job_label
from tests.pipeline_fixture import SCORED, copy_pipeline
from warehouse.settings import Settings

pytestmark = pytest.mark.slow
WEEK = SCORED[-1]
# one week of the demo, in its order (transform twice: up to the features, then the marts)
JOBS = ("ingest", "transform", "train", "score", "marts", "drift", "outcomes")
DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "churn_ops.json"


def _binary(name: str) -> str:
    found = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed: run `make system-deps`")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode()


def _wait_ready(url: str, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not answer {url} within {seconds:.0f} s")


@contextmanager
def _process(args: list[str], ready: str, log: Path) -> Iterator[None]:
    """A server started for the test on 127.0.0.1, stopped (by its own pid) afterwards."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(ready, Path(args[0]).name)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def run(pipeline_base: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the small pipeline after one demo week of jobs (metrics as text files)."""
    from flows import jobs

    settings = copy_pipeline(pipeline_base, tmp_path_factory.mktemp("metrics_run") / "data")
    jobs.ingest_job(WEEK, settings)
    jobs.transform_job(WEEK, settings)
    jobs.train_job(WEEK, settings, stop_on_rejection=False)
    jobs.score_job(WEEK, settings)
    jobs.transform_job(WEEK, settings, marts=True)
    jobs.drift_job(WEEK, settings)
    jobs.outcomes_job(WEEK, settings)
    return settings


@pytest.fixture(scope="module")
def node_exporter(run: Settings) -> Iterator[str]:
    """The node exporter with only its textfile collector, on the jobs' metrics directory."""
    port = _free_port()
    args = [
        _binary("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={run.metrics_file.parent}",
    ]
    url = f"http://127.0.0.1:{port}/metrics"
    with _process(args, url, run.data_dir / "node_exporter.log"):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def api(run: Settings) -> Iterator[str]:
    """The serving API on the run's champion, over HTTP like in production."""
    import uvicorn

    from serving.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(run), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", "the serving API", seconds=60)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _scrape(target: str) -> dict[str, list]:
    """Metric name -> its samples, as the exporter serves them."""
    families = text_string_to_metric_families(_get(f"http://{target}/metrics"))
    return {family.name: family.samples for family in families}


def test_textfile_collector_reads_every_job_without_error(run: Settings, node_exporter: str):
    """Each job writes only its own series: all seven files load together (a series in two
    files is a scrape error), and every declared metric is set by some job."""
    files = sorted(p.name for p in run.metrics_file.parent.glob("*.prom"))
    assert files == sorted(f"churn_{job}.prom" for job in JOBS)

    scraped = _scrape(node_exporter)
    (error,) = scraped["node_textfile_scrape_error"]
    assert error.value == 0, (run.data_dir / "node_exporter.log").read_text()
    assert {name for name in scraped if name.startswith("churn_")} == set(METRICS)
    failed = {s.labels["job"]: s.value for s in scraped["churn_job_failed"]}
    assert failed == {job_label(job): 0 for job in JOBS}

    def by_job(name: str) -> dict[str, float]:
        return {s.labels["job"]: s.value for s in scraped[name]}

    rows_in, rows_out = by_job("churn_job_rows_in"), by_job("churn_job_rows_out")
    score = job_label("score")
    tiers = sum(s.value for s in scraped["churn_customers_per_tier"])
    assert rows_out[score] == tiers > 0, "one prediction per customer in a tier"
    assert rows_in[score] >= rows_out[score], "the snapshot read holds every scored customer"
    assert rows_in[job_label("train")] > 0 and rows_in[job_label("drift")] > 0
    assert rows_in[job_label("outcomes")] > 0
    assert rows_in[job_label("ingest")] >= rows_out[job_label("ingest")] >= 0


@contextmanager
def _prometheus(targets: dict[str, str], tmp: Path) -> Iterator[str]:
    """A real Prometheus scraping `targets` (job name -> host:port) every second; the
    exporter's series keep their own `job` label (honor_labels), as the docs tell."""
    jobs = [
        {"job_name": name, "honor_labels": True, "static_configs": [{"targets": [target]}]}
        for name, target in targets.items()
    ]
    config = tmp / "prometheus.yml"
    # JSON is YAML
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": jobs,
            }
        )
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        _binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _process(args, f"{url}/-/ready", tmp / "prometheus.log"):
        yield url


def _query(prometheus: str, expr: str) -> list[dict]:
    query = urllib.parse.urlencode({"query": expr})
    answer = json.loads(_get(f"{prometheus}/api/v1/query?{query}"))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_every_grafana_panel_shows_a_series(
    run: Settings, node_exporter: str, api: str, tmp_path: Path
) -> None:
    """Each query of the ops dashboard returns data from what the jobs and the API export."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [(p["title"], t["expr"]) for p in panels for t in p["targets"]]
    with _prometheus({"node": node_exporter, "churn_serving": api}, tmp_path) as prometheus:
        for _ in range(3):
            _get(f"http://{api}/health")
        deadline = time.monotonic() + 60
        empty = queries
        while empty and time.monotonic() < deadline:
            time.sleep(1)
            empty = [(title, expr) for title, expr in empty if not _query(prometheus, expr)]
        assert not empty, f"panels without data: {empty}"
        jobs = {s["metric"]["job"] for s in _query(prometheus, "churn_job_failed")}
        assert jobs == {job_label(job) for job in JOBS}
