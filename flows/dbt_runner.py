"""Run dbt in-process and fail loudly on any node that did not succeed.

dbt's own result carries every node's status; a task state can look green while a node was
skipped (peers were bitten by exactly that), so we read the run results ourselves. A selection
that matches nothing is an error too: dbt only warns and reports success.

By default dbt prints its node log as usual. Given a log directory (per call, or for a whole
block of code with `dbt_output`, e.g. for the jobs a Prefect flow runs), dbt writes that log to
`<dir>/dbt.log` instead and prints nothing; progress goes to a callback, and the error lines and
failed-test reports dbt would have printed go into the DbtRunError message.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.settings import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
OK_STATUSES = {"success", "pass"}
BUILT_KINDS = {"model", "seed", "snapshot", "test", "unit_test"}
# the on-run-start line naming the incremental models a run rebuilds in full (fingerprints.sql)
REBUILD_PREFIX = "FULL REBUILD"

log = logging.getLogger(__name__)


Progress = Callable[[int, int], None]  # (nodes done, nodes to run)


class DbtRunError(RuntimeError):
    """dbt failed; the message names every node that did not succeed and why."""


@dataclass
class DbtOutput:
    """Where dbt talks: `log_dir` None keeps dbt's own terminal output."""

    log_dir: Path | None = None
    on_progress: Progress | None = None


_output = DbtOutput()


@contextmanager
def dbt_output(log_dir: Path | None, on_progress: Progress | None = None) -> Iterator[None]:
    """Inside this block every `run_dbt` of the process that does not choose for itself logs to
    `log_dir/dbt.log` and reports progress: the jobs a flow runs take no such arguments."""
    global _output
    saved, _output = _output, DbtOutput(log_dir, on_progress)
    try:
        yield
    finally:
        _output = saved


class _Listener:
    """dbt's event callback: counts finished nodes against the total, and keeps what a quiet run
    must still report on failure (error lines, the on-run-end hook's TEST FAILURE reports)."""

    def __init__(self, on_progress: Progress | None) -> None:
        self.on_progress = on_progress
        self.done = 0
        self.total = 0
        self.errors: list[str] = []
        self.rebuilds: list[str] = []
        self.unmatched: list[str] = []  # selection criteria that matched no node
        self._lock = threading.Lock()  # dbt fires events from its worker threads

    def __call__(self, event: Any) -> None:  # noqa: ANN401 - dbt's EventMsg
        name, data = event.info.name, event.data
        with self._lock:
            if name == "LogStartLine" and not self.total:
                self.total = int(data.total)
            elif name == "NoNodesForSelectionCriteria":
                self.unmatched.append(str(data.spec_raw))
            elif name == "NodeFinished":
                self.done += 1
                if self.on_progress is not None:
                    self.on_progress(self.done, max(self.total, self.done))
            message = str(getattr(event.info, "msg", "") or "").strip()
            if message and (
                event.info.level == "error"
                or (name == "JinjaLogInfo" and message.startswith("TEST FAILURE"))
            ):
                self.errors.append(message)
            elif name == "JinjaLogInfo" and message.startswith(REBUILD_PREFIX):
                self.rebuilds.append(message)
                log.info("%s", message)


def _quiet_flags(log_dir: Path) -> list[str]:
    """Nothing on the terminal; the node log (info, no colour codes) to `log_dir/dbt.log`."""
    return [
        "--log-path",
        str(log_dir),
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        "--no-use-colors",
    ]


@dataclass
class DbtRunSummary:
    """What a dbt invocation did: counts per resource type and status, and the failures."""

    command: list[str]
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    rebuilds: list[str] = field(default_factory=list)

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
    from models_ml.config import MLConfig

    env = {
        "CHURN_WAREHOUSE_PATH": str(Path(settings.warehouse_file).resolve()),
        "CHURN_BIGQUERY_LOCATION": settings.bigquery_location,
        "CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED": str(settings.bigquery_maximum_bytes_billed),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # the staging time guards (vars in dbt_project.yml read these)
        "CHURN_SOURCE_DATA_START": settings.source_data_start.isoformat(),
        "CHURN_SOURCE_CLOCK_SKEW_HOURS": str(settings.source_clock_skew_hours),
        # the holdout share the save effect's sample-ratio check expects (var holdout_share)
        "CHURN_ML_HOLDOUT_SHARE": str(MLConfig().holdout_share),
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
    *,
    log_dir: Path | None = None,
    on_progress: Progress | None = None,
) -> DbtRunSummary:
    """Run `dbt <args>` against the configured target; raise DbtRunError on any bad node.

    With `log_dir` (or inside `dbt_output`) dbt's log goes to `log_dir/dbt.log`, not the
    terminal; `on_progress(done, total)` is called as nodes finish."""
    import json

    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    log_dir = log_dir or _output.log_dir
    log_dir = Path(log_dir).resolve() if log_dir is not None else None
    listener = _Listener(on_progress or _output.on_progress)
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
    if log_dir is not None:
        command += _quiet_flags(log_dir)
    # dbt reads its target through env_var(); set it for this call only, because the same
    # variable names configure this process's settings and must not leak into later jobs
    saved = {key: os.environ.get(key) for key in dbt_env(settings)}
    os.environ.update(dbt_env(settings))
    try:
        result = dbtRunner(callbacks=[listener]).invoke(command)
    finally:
        _release_warehouse(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    summary = DbtRunSummary(command=command, rebuilds=list(listener.rebuilds))
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
    _log_rebuild_bytes(summary.rebuilds, results)
    if listener.unmatched:
        # dbt only warns and succeeds: a typo in --select would build nothing and look green
        raise DbtRunError(
            f"dbt {' '.join(args)}: the selection "
            f"{', '.join(repr(c) for c in dict.fromkeys(listener.unmatched))} matches no model, "
            "test or seed; check its spelling (`dbt ls --select <name>` lists what matches)"
        )
    if summary.failures or not result.success:
        detail = "\n  ".join(summary.failures) or str(result.exception or "dbt reported failure")
        if log_dir is not None:
            detail += _quiet_report(listener.errors, log_dir / "dbt.log")
        raise DbtRunError(f"dbt {' '.join(args)} failed:\n  {detail}")
    return summary


def _log_rebuild_bytes(rebuilds: list[str], results: list[Any]) -> None:
    """On BigQuery, what the full rebuilds cost: the bytes each rebuilt model processed."""
    names = {
        part.split(" (", 1)[0].strip()
        for line in rebuilds
        for part in line.split(": ", 1)[-1].split("; ")
    }
    spent = []
    for node_result in results:
        response = getattr(node_result, "adapter_response", None) or {}
        if node_result.node.name in names and response.get("bytes_processed") is not None:
            spent.append(f"{node_result.node.name} {int(response['bytes_processed']):,} bytes")
    if spent:
        log.info("%s bytes processed: %s", REBUILD_PREFIX, "; ".join(spent))


def _quiet_report(errors: list[str], log_file: Path) -> str:
    """What dbt would have printed about the failure, since a quiet run printed nothing."""
    lines = [line for message in dict.fromkeys(errors) for line in message.splitlines()]
    body = "".join(f"\n    {line}" for line in lines if line.strip())
    return (f"\n  dbt said:{body}" if body else "") + f"\n  dbt's log: {log_file}"
