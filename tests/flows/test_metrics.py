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
from prometheus_client.parser import text_string_to_metric_families

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
        # Debian's build persists to /var/lib by default: every run would start with the last
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
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


def _series(text: str) -> dict[tuple[str, frozenset], float]:
    """(name, labels) -> value of every sample, without the Pushgateway's own series and its
    empty `instance` label (Prometheus treats an empty label as absent)."""
    series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if v)
            if sample.name.startswith("churn_"):
                series[(sample.name, labels)] = sample.value
    return series


def _score_run(settings: Settings) -> None:
    with job_metrics("score", settings) as metrics:
        metrics.set_rows(rows_in=1300, rows_out=1234)
        metrics.set_tiers({"High": 10, "Medium": 20, "Low": 70})


def test_pushed_and_written_series_are_the_same(pushgateway: str, tmp_path: Path) -> None:
    """One naming scheme: the same names and the same `job` label on both paths, so one
    dashboard and one alert rule read either."""
    _score_run(Settings(data_dir=tmp_path, pushgateway_url=pushgateway))
    _score_run(Settings(data_dir=tmp_path))
    pushed = _series(urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5).read().decode())
    written = _series((tmp_path / "metrics" / "churn_score.prom").read_text())

    def without_time(series: dict) -> dict:
        skip = ("churn_job_duration_seconds", "churn_job_last_success_timestamp_seconds")
        return {k: v for k, v in series.items() if k[0] not in skip}

    assert pushed.keys() == written.keys()
    assert without_time(pushed) == without_time(written)
    assert pushed[("churn_job_rows_out", frozenset({("job", "churn_score")}))] == 1234
    tier = ("churn_customers_per_tier", frozenset({("job", "churn_score"), ("tier", "High")}))
    assert pushed[tier] == 10


def test_a_job_declares_only_what_it_sets(tmp_path: Path) -> None:
    """A job's file holds its run gauges and what it measured, nothing another job sets:
    the textfile collector refuses a series that two files both carry."""
    settings = Settings(data_dir=tmp_path)
    with job_metrics("drift", settings) as metrics:
        metrics.set_drift_share(0.25)
    text = (tmp_path / "metrics" / "churn_drift.prom").read_text()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names == {
        "churn_job_duration_seconds",
        "churn_job_failed",
        "churn_job_last_success_timestamp_seconds",
        "churn_drift_share",
    }
    assert 'churn_drift_share{job="churn_drift"} 0.25' in text


@pytest.mark.parametrize("path", ["textfile", "pushgateway"])
def test_failed_job_is_recorded_then_reraised(path: str, request, tmp_path: Path) -> None:
    """A failure publishes `failed 1` and its duration, keeps the previous success's time
    (hours since success keep counting) and drops what the broken run had set."""
    if path == "pushgateway":
        gateway = request.getfixturevalue("pushgateway")
        settings = Settings(data_dir=tmp_path, pushgateway_url=gateway)

        def published() -> dict:
            return _series(urllib.request.urlopen(f"{gateway}/metrics", timeout=5).read().decode())
    else:
        settings = Settings(data_dir=tmp_path)

        def published() -> dict:
            return _series((tmp_path / "metrics" / "churn_train.prom").read_text())

    job = frozenset({("job", "churn_train")})
    success = ("churn_job_last_success_timestamp_seconds", job)

    def fail() -> dict:
        with pytest.raises(ValueError, match="boom"), job_metrics("train", settings) as metrics:
            metrics.set_auc("7", "holdout", 0.5)
            raise ValueError("boom")
        return published()

    never = fail()
    assert never[("churn_job_failed", job)] == 1 and success not in never
    with job_metrics("train", settings):
        pass
    succeeded = published()
    assert succeeded[("churn_job_failed", job)] == 0
    failed = fail()
    assert failed[("churn_job_failed", job)] == 1
    assert failed[success] == succeeded[success]
    assert ("churn_job_duration_seconds", job) in failed
    assert not any(name == "churn_model_auc" for name, _ in failed)


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
        f'churn_source_rows_flagged{{job="churn_transform",reason="not a json event",'
        f'source="usage"}} {n}.0' in transform
    )
    assert (
        "churn_source_rows_flagged" not in (tmp_path / "metrics" / "churn_score.prom").read_text()
    )
