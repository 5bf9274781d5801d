"""Run dbt in-process and fail loudly on any node that did not succeed.

dbt's own result carries every node's status; a task state can look green while a node was
skipped (peers were bitten by exactly that), so we read the run results ourselves.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
OK_STATUSES = {"success", "pass"}
BUILT_KINDS = {"model", "seed", "snapshot", "test", "unit_test"}


class DbtRunError(RuntimeError):
    """dbt failed; the message names every node that did not succeed and why."""


@dataclass
class DbtRunSummary:
    """What a dbt invocation did: counts per resource type and status, and the failures."""

    command: list[str]
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def tests_passed(self) -> int:
        """Data tests and unit tests that passed."""
        return self.counts[("test", "pass")] + self.counts[("unit_test", "pass")]

    def describe(self) -> str:
        """One line per resource type with its statuses."""
        by_type: dict[str, list[str]] = {}
        for (kind, status), n in sorted(self.counts.items()):
            by_type.setdefault(kind, []).append(f"{n} {status}")
        return "; ".join(f"{kind}: {', '.join(parts)}" for kind, parts in by_type.items())


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment dbt reads through `env_var()` in profiles.yml, from these settings (which
    may come from `.env` or code, not only from the environment)."""
    env = {
        "CHURN_WAREHOUSE_PATH": str(Path(settings.warehouse_file).resolve()),
        "CHURN_BIGQUERY_LOCATION": settings.bigquery_location,
        "CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED": str(settings.bigquery_maximum_bytes_billed),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if settings.bigquery_project:
        env["CHURN_BIGQUERY_PROJECT"] = settings.bigquery_project
    if settings.bigquery_api_endpoint:
        env["CHURN_BIGQUERY_API_ENDPOINT"] = settings.bigquery_api_endpoint
    if settings.bigquery_token:
        # an OAuth access token: dbt-bigquery's `oauth-secrets` method takes it as is
        env["CHURN_BIGQUERY_TOKEN"] = settings.bigquery_token.get_secret_value()
        env["CHURN_BIGQUERY_METHOD"] = "oauth-secrets"
    return env


def _release_warehouse(settings: Settings) -> None:
    """Close dbt-duckdb's process-wide connection: DuckDB refuses a read-only connection to a
    file this process still holds read-write, and the next job reads through the gateway."""
    if settings.target != "local":
        return
    import gc

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()
    gc.collect()


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    dbt_vars: dict[str, object] | None = None,
    allow_warn: bool = True,
) -> DbtRunSummary:
    """Run `dbt <args>` against the configured target; raise DbtRunError on any bad node."""
    import json

    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    command = [
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR / "profiles"),
        "--target",
        settings.target,
    ]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    # dbt reads its target through env_var(); set it for this call only, because the same
    # variable names configure this process's settings and must not leak into later jobs
    saved = {key: os.environ.get(key) for key in dbt_env(settings)}
    os.environ.update(dbt_env(settings))
    try:
        result = dbtRunner().invoke(command)
    finally:
        _release_warehouse(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    summary = DbtRunSummary(command=command)
    results = getattr(result.result, "results", None) or []
    for node_result in results:
        node = node_result.node
        kind = getattr(node, "resource_type", "node")
        kind = getattr(kind, "value", str(kind))
        status = getattr(node_result.status, "value", str(node_result.status))
        summary.counts[(kind, status)] += 1
        acceptable = OK_STATUSES | ({"warn"} if allow_warn else set())
        if kind not in BUILT_KINDS:
            acceptable = acceptable | {"no-op"}  # exposures and the like only get listed
        if status not in acceptable:
            message = (node_result.message or "").strip().splitlines()
            summary.failures.append(
                f"{kind} {node.name} ({node.unique_id}): {status}"
                + (f" - {message[0]}" if message else "")
            )
    if summary.failures or not result.success:
        detail = "\n  ".join(summary.failures) or str(result.exception or "dbt reported failure")
        raise DbtRunError(f"dbt {' '.join(args)} failed:\n  {detail}")
    return summary
