"""Job metrics reach a real Pushgateway (Debian's), or a Prometheus text file without one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.metrics import job_metrics
from warehouse.settings import Settings

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pushgateway() -> Iterator[str]:
    if not Path(PUSHGATEWAY).exists():
        pytest.fail("prometheus-pushgateway is not installed: run `make system-deps`")
    port = _free_port()
    proc = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("pushgateway did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_job_metrics_pushed_to_pushgateway(pushgateway: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, pushgateway_url=pushgateway)
    with job_metrics("score", settings) as metrics:
        metrics.rows_out.labels(job="score").set(1234)
        metrics.set_tiers({"High": 10, "Medium": 20, "Low": 70})
    text = urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5).read().decode()
    assert 'churn_job_rows_out{instance="",job="churn_score"} 1234' in text
    assert 'churn_customers_per_tier{instance="",job="churn_score",tier="High"} 10' in text
    assert 'churn_job_failed{instance="",job="churn_score"} 0' in text


def test_failed_job_is_recorded_then_reraised(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="boom"), job_metrics("train", settings):
        raise ValueError("boom")
    text = (tmp_path / "metrics" / "churn_train.prom").read_text()
    assert 'churn_job_failed{job="train"} 1.0' in text
    assert 'churn_job_last_success_timestamp_seconds{job="train"}' not in text
    assert 'churn_job_duration_seconds{job="train"}' in text


def test_flagged_source_rows_reach_the_transform_metrics(pipeline_base: Settings, tmp_path: Path):
    """The simulator's dirt (lines that are not JSON, unknown event types) is counted per
    source and reason, and only the job that sets the gauge declares it."""
    from flows.data_quality import flagged_counts
    from warehouse import get_warehouse

    counts = flagged_counts(get_warehouse(pipeline_base, read_only=True))
    assert counts[("usage", "not a json event")] > 0
    assert counts[("usage", "unknown event_type")] > 0
    assert all(n > 0 for n in counts.values())

    settings = Settings(data_dir=tmp_path)
    with job_metrics("transform", settings) as metrics:
        metrics.set_flagged(counts)
    with job_metrics("score", settings):
        pass
    transform = (tmp_path / "metrics" / "churn_transform.prom").read_text()
    n = counts[("usage", "not a json event")]
    assert (
        f'churn_source_rows_flagged{{reason="not a json event",source="usage"}} {n}.0' in transform
    )
    assert (
        "churn_source_rows_flagged" not in (tmp_path / "metrics" / "churn_score.prom").read_text()
    )
