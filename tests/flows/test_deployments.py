"""prefect.yaml: Prefect accepts every deployment, each points at a real flow with valid
parameters and the production schedule, in the configured time zone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text())
EXPECTED_CRON = {
    "refresh-daily": "0 1 * * *",
    "train-weekly": "0 22 * * 0",
    "score-weekly": "0 2 * * 1",
    "drift-daily": "0 6 * * *",
    "outcomes-monthly": "0 4 1 * *",
}


@pytest.mark.parametrize("deployment", SPEC["deployments"], ids=lambda d: d["name"])
def test_entrypoint_is_a_flow_with_valid_parameters(deployment: dict) -> None:
    entry = deployment["entrypoint"]
    flow = load_flow_from_entrypoint(str(ROOT / entry.split(":")[0]) + ":" + entry.split(":")[1])
    validated = flow.validate_parameters(deployment.get("parameters") or {})
    assert set(validated) <= set(flow.parameters.properties)
    assert "as_of" in flow.parameters.properties, "every job takes an explicit as_of"


def test_prefect_accepts_the_deployments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`prefect deploy --all` against a real (ephemeral) Prefect API, then read them back."""
    from prefect.client.orchestration import get_client
    from prefect.testing.cli import invoke_and_assert
    from prefect.testing.utilities import prefect_test_harness

    monkeypatch.setenv("CHURN_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("CHURN_PROJECT_DIR", str(ROOT))
    monkeypatch.chdir(ROOT)
    with prefect_test_harness(server_startup_timeout=240):
        invoke_and_assert(["work-pool", "create", "churn", "--type", "process"], expected_code=0)
        invoke_and_assert(["--no-prompt", "deploy", "--all"], expected_code=0)
        with get_client(sync_client=True) as client:
            deployments = {d.name: d for d in client.read_deployments()}
    assert set(deployments) == {d["name"] for d in SPEC["deployments"]}
    for name, cron in EXPECTED_CRON.items():
        (schedule,) = deployments[name].schedules
        assert schedule.schedule.cron == cron
        assert schedule.schedule.timezone == "Europe/Berlin"
        assert deployments[name].work_pool_name == "churn"
    assert deployments["weekly-loop"].schedules == []
