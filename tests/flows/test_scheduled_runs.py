"""Scheduled runs take the local date of their schedule; runs without a schedule need as_of.

A real Prefect server process (sqlite, temporary PREFECT_HOME) and a process worker on the
`churn` pool run `score-weekly` as `prefect deploy` creates it from prefect.yaml, scoring a
private copy of the small pipeline. Runs are created by the server's own scheduling code
(`POST /deployments/{id}/schedule` over a past window), so they carry what the scheduler
sets (auto_scheduled, the schedule as creator, the scheduled time) and are due at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from flows.flows import AS_OF_EXAMPLE, AsOfRequired, resolve_as_of
from tests.pipeline_fixture import copy_pipeline
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.settings import Settings

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
MONDAY = date(2025, 12, 22)  # a Monday the small pipeline has features for
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class Stack:
    api: str
    deployment_id: UUID
    settings: Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a group of its own, so that it and its children stop together."""
    out = log.open("wb")
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _cli(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _pool_exists(api: str) -> bool:
    return httpx.get(f"{api}/work_pools/churn", timeout=5).status_code == 200


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, log: Path, what: str) -> None:
    """Poll `ready`; fail with the end of the process's log if it dies or takes too long."""
    deadline = time.monotonic() + 240
    while not ready():
        assert process.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"{what} not ready: {log.read_text()[-2000:]}"
        time.sleep(0.5)


@contextmanager
def _client(api: str) -> Iterator[SyncPrefectClient]:
    """A client of the test's server, whatever this process's own Prefect settings are."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as c:
        yield c


@pytest.fixture(scope="module")
def stack(pipeline_base: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Prefect server + `churn` process pool + worker + `score-weekly` deployed (Asia/Tokyo)."""
    tmp = tmp_path_factory.mktemp("prefect_server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "CHURN_")) and k != "PYTEST_CURRENT_TEST"
    }
    env |= {
        "PREFECT_HOME": str(tmp / "home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        # the test makes the scheduled runs itself, with the scheduler's own code; the
        # services that would add future runs or mark these past-due ones Late only
        # contend for the sqlite file
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "CHURN_RETRY_DELAY_SECONDS": "0",
    }
    server = _start(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp / "server.log",
    )
    worker = None
    try:
        settings = copy_pipeline(pipeline_base, tmp / "data")  # while the server starts
        _wait_until(lambda: _healthy(api), server, tmp / "server.log", "Prefect server")
        env["PREFECT_API_URL"] = api
        # the worker's own CHURN_TIMEZONE is deliberately another zone: the date must come
        # from the run's schedule, not from wherever the worker happens to run
        worker_env = env | {
            "CHURN_PROJECT_DIR": str(ROOT),
            "CHURN_DATA_DIR": str(settings.data_dir),
            "CHURN_TIMEZONE": "UTC",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        # a worker of a pool that does not exist yet creates it (type process, default job
        # template), as `prefect work-pool create churn --type process` would
        worker = _start(
            [PREFECT, "worker", "start", "--pool", "churn", "--type", "process", "--limit", "1"],
            worker_env,
            tmp / "worker.log",
        )
        _wait_until(lambda: _pool_exists(api), worker, tmp / "worker.log", "the churn pool")
        deploy_env = env | {"CHURN_TIMEZONE": "Asia/Tokyo", "CHURN_PROJECT_DIR": str(ROOT)}
        _cli(["deploy", "--name", "score-weekly"], deploy_env)
        with _client(api) as client:
            deployment = client.read_deployment_by_name("score/score-weekly")
        yield Stack(api, deployment.id, settings)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(server)


def _wait(stack: Stack, run_ids: list[UUID], timeout: float = 1200) -> dict[UUID, object]:
    """Poll until every run is final; returns the runs."""
    deadline = time.monotonic() + timeout
    with _client(stack.api) as client:
        while True:
            runs = {i: client.read_flow_run(i) for i in run_ids}
            if all(r.state is not None and r.state.type.value in FINAL for r in runs.values()):
                return runs
            assert time.monotonic() < deadline, {i: r.state for i, r in runs.items()}
            time.sleep(1)


def _messages(stack: Stack, run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    with _client(stack.api) as client:
        return [log.message for log in client.read_logs(log_filter=flt)]


def _score_job_days(settings: Settings) -> list[date]:
    """The as_of of every score job the warehouse has recorded, oldest first."""
    wh = DuckDBWarehouse(settings.warehouse_file)
    if not wh.table_exists("monitoring.job_runs"):
        return []
    rows = wh.query(
        "select as_of_date from monitoring.job_runs where job = 'score' order by finished_at"
    )
    return [d.date() if isinstance(d, datetime) else d for d in rows["as_of_date"]]


def test_scheduled_runs_take_the_local_date_of_their_schedule(stack: Stack) -> None:
    """Monday 02:00 Asia/Tokyo is Sunday 17:00 UTC; Monday 20:00 America/Los_Angeles is
    Tuesday 04:00 UTC (a Monday 02:00 there is Monday in UTC too, which would prove
    nothing). Both runs must score Monday, each in the zone of the schedule that made it."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.schedules import CronSchedule

    with _client(stack.api) as client:
        (tokyo,) = client.read_deployment(stack.deployment_id).schedules
        assert (tokyo.schedule.cron, tokyo.schedule.timezone) == ("0 2 * * 1", "Asia/Tokyo")
        client.create_deployment_schedules(
            stack.deployment_id,
            [(CronSchedule(cron="0 20 * * 1", timezone="America/Los_Angeles"), True)],
        )
    before = _score_job_days(stack.settings)
    window = {  # holds exactly one date of each schedule: Tokyo's and Los Angeles' Monday
        "start_time": datetime(2025, 12, 21, 16, tzinfo=ZoneInfo("UTC")).isoformat(),
        "end_time": datetime(2025, 12, 23, 5, tzinfo=ZoneInfo("UTC")).isoformat(),
        "min_time": 0,
        "min_runs": 1,
        "max_runs": 1,
    }
    response = httpx.post(f"{stack.api}/deployments/{stack.deployment_id}/schedule", json=window)
    assert response.status_code < 300, response.text
    with _client(stack.api) as client:
        created = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[stack.deployment_id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime(2026, 1, 1))
            ),
        )
    expected = {
        datetime(2025, 12, 21, 17, tzinfo=ZoneInfo("UTC")): "2025-12-22 02:00 Asia/Tokyo",
        datetime(2025, 12, 23, 4, tzinfo=ZoneInfo("UTC")): "2025-12-22 20:00 America/Los_Angeles",
    }
    assert {r.expected_start_time for r in created} == set(expected)
    assert all(r.auto_scheduled and r.created_by.type == "SCHEDULE" for r in created)

    runs = _wait(stack, [r.id for r in created])
    for run in runs.values():
        assert run.state.type.value == "COMPLETED", run.state.message
        when = expected[run.expected_start_time]
        assert f"as_of {MONDAY}: the run scheduled for {when}" in _messages(stack, run.id)
    # what the flows actually scored: Monday twice, never the UTC Sunday or Tuesday
    assert _score_job_days(stack.settings)[len(before) :] == [MONDAY, MONDAY]


def test_a_manual_deployment_run_without_as_of_fails_naming_it(stack: Stack) -> None:
    """A run made by hand (UI, `prefect deployment run`) is Scheduled for now like any other;
    it is not auto-scheduled and no schedule created it, so it must be given a date."""
    before = _score_job_days(stack.settings)
    with _client(stack.api) as client:
        run = client.create_flow_run_from_deployment(stack.deployment_id)
    (done,) = _wait(stack, [run.id]).values()
    assert done.state.type.value == "FAILED"
    assert "as_of is required for a manual run" in done.state.message
    assert AS_OF_EXAMPLE in done.state.message
    assert _score_job_days(stack.settings) == before


def test_without_as_of_outside_a_scheduled_run_fails(stack: Stack) -> None:
    """No run at all, or a flow called directly: Prefect's scheduled time would be now()."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.flows import score_flow

    with pytest.raises(AsOfRequired) as outside:
        resolve_as_of(None)
    assert str(outside.value) == (
        "as_of is required for a manual run or a call outside a scheduled run: "
        f"pass the date, e.g. {AS_OF_EXAMPLE}"
    )
    assert resolve_as_of(MONDAY) == MONDAY
    with (
        temporary_settings(updates={PREFECT_API_URL: stack.api}),
        pytest.raises(AsOfRequired, match="as_of=2026-01-05"),
    ):
        score_flow()
