"""`python -m bench.weekly` replays a weekly build on kept raw data: it must run end to end,
print its figures and agree with a full rebuild (the fixture's held-back week as the load)."""

from __future__ import annotations

import re
import shutil

import duckdb
from raw_fixture import write_raw_fixture
from test_dbt_incremental import NEXT_LOAD, _hold_back_next_load, _land_next_load
from typer.testing import CliRunner

from bench.weekly import app


def test_weekly_replay_prints_its_figures_and_equals_a_full_rebuild(tmp_path):
    before, after = tmp_path / "before.duckdb", tmp_path / "after.duckdb"
    write_raw_fixture(before)
    _hold_back_next_load(before)
    shutil.copy(before, after)
    _land_next_load(after)
    con = duckdb.connect(str(before))
    for table in NEXT_LOAD:
        con.execute(f"drop table raw.next_{table}")
    con.close()

    args = ["--before", before, "--after", after, "--workdir", tmp_path / "work"]
    result = CliRunner().invoke(app, [*map(str, args), "--compare", "--group-by-runs", "3"])

    assert result.exit_code == 0, result.output[-3000:]
    assert re.search(r"weekly run: +[\d.]+ s elapsed", result.output), result.output[-2000:]
    assert re.search(r"median GROUP BY = [\d.]+x", result.output)
    assert "incremental == full rebuild" in result.output
