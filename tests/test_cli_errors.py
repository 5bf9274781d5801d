"""The `churn` command answers bad input and failures with one line and an exit code (2 bad
input, 1 failure at run time), never with a traceback unless asked, a secret or a machine
path. Every case runs the installed entry point in a subprocess, on an empty data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

CHURN = Path(sys.executable).parent / "churn"


def _churn(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    clean |= {"CHURN_DATA_DIR": str(tmp_path / "data"), "CHURN_RETRY_DELAY_SECONDS": "0", **env}
    return subprocess.run(
        [str(CHURN), *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _one_error_line(result: subprocess.CompletedProcess, tmp_path: Path) -> str:
    """The single `error:` line on stderr; no traceback, no path of this machine."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert str(tmp_path) not in lines[0] and str(Path.cwd()) not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["weekly", "--as-of", "2025-13-01"],
        ["drift", "--as-of", "last monday"],
        ["outcomes", "--as-of", "2025/10/01"],
        ["release", "--as-of", "2025-02-30"],
        ["simulate", "--start", "soon"],
        ["score", "--as-of", "x"],
        ["train", "--as-of", "2025-10-1x"],
    ],
)
def test_a_bad_date_is_a_usage_error_in_one_line(tmp_path, args):
    result = _churn(tmp_path, *args)
    assert result.returncode == 2
    line = _one_error_line(result, tmp_path)
    assert "is not a date: use YYYY-MM-DD" in line
    assert f"'churn {args[0]} --help'" in line
    assert not (tmp_path / "data").exists(), "a usage error must not start any work"


def test_a_missing_option_and_an_unknown_source_are_usage_errors(tmp_path):
    missing = _churn(tmp_path, "outcomes")
    assert missing.returncode == 2
    assert "Missing option '--as-of'" in _one_error_line(missing, tmp_path)
    unknown = _churn(tmp_path, "ingest", "--source", "zendsk")
    assert unknown.returncode == 2
    line = _one_error_line(unknown, tmp_path)
    assert "unknown source zendsk" in line and "zendesk" in line


def test_an_ingestion_error_is_one_line(tmp_path):
    result = _churn(tmp_path, "ingest", "--source", "usage")
    assert result.returncode == 1
    line = _one_error_line(result, tmp_path)
    assert line.startswith("error: usage: ") and "CHURN_SOURCES_DIR" in line


def test_a_locked_warehouse_is_a_runtime_error_in_one_line(tmp_path):
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    holder = duckdb.connect(str(warehouse))  # a writer holds the file's lock
    try:
        result = _churn(tmp_path, "status")
    finally:
        holder.close()
    assert result.returncode == 1
    line = _one_error_line(result, tmp_path)
    assert "cannot open warehouse data/warehouse.duckdb" in line.replace("$CHURN_DATA_DIR", "data")
    assert "Another process may be writing it" in line


def test_a_model_error_hides_the_password_of_the_store(tmp_path):
    result = _churn(
        tmp_path,
        "score",
        "--as-of",
        "2025-10-13",
        CHURN_MLFLOW_TRACKING_URI="http://bob:s3cret@127.0.0.1:9",
    )
    assert result.returncode == 1
    line = _one_error_line(result, tmp_path)
    assert "s3cret" not in result.stdout + result.stderr
    assert "http://bob:***@127.0.0.1:9" in line and "What to do:" in line


def test_debug_shows_the_traceback(tmp_path):
    by_flag = _churn(tmp_path, "--debug", "publish")
    by_env = _churn(tmp_path, "publish", CHURN_DEBUG="1")
    for result in (by_flag, by_env):
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    quiet = _churn(tmp_path, "publish")
    assert quiet.returncode == 1
    assert "warehouse" in _one_error_line(quiet, tmp_path)


def test_a_selection_that_matches_nothing_fails_naming_it(tmp_path):
    result = _churn(tmp_path, "transform", "--select", "at_risk_custmers")
    assert result.returncode == 1
    line = _one_error_line(result, tmp_path)
    assert "'at_risk_custmers' matches no model" in line
    assert "dbt build ok" not in result.stdout
