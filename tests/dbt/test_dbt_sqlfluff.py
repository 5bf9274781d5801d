"""`sqlfluff lint dbt_project/models` passes with the repo's `.sqlfluff` (dbt templater)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from raw_fixture import write_raw_fixture

REPO = Path(__file__).resolve().parents[2]


def test_models_pass_sqlfluff(tmp_path):
    # the dbt templater compiles the project against a warehouse: give it the raw fixture
    warehouse = tmp_path / "warehouse.duckdb"
    write_raw_fixture(warehouse)
    env = {
        **os.environ,
        "CHURN_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    proc = subprocess.run(
        [str(sqlfluff), "lint", "dbt_project/models", "--processes", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
