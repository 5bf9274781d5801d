"""Events staged a few loads a run (flows/staging.py, as a first build of years does) give
the rows one build gives, down to the features: first delivery of a re-sent event wins."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from dbt_helpers import read_results, run_dbt
from raw_fixture import write_raw_fixture

from flows.staging import EVENT_MODELS, pending_loads, stage_in_steps
from warehouse.settings import Settings

LOADS = 5
COMPARED = (
    "staging.stg_usage__events",
    "staging.stg_stripe__events",
    "features.customer_features",
)
RAW_TIMES = {"raw.usage_events": "occurred_at", "raw.stripe_events": "created"}


def _split_into_loads(path, resent_alone_after: int = LOADS) -> None:
    """Each raw event table as LOADS loads in event-time order (how a first ingest of years
    lands), and its first event delivered again, alone, as the load after the
    `resent_alone_after`-th (the later loads move one on)."""
    con = duckdb.connect(str(path))
    try:
        for table, time_column in RAW_TIMES.items():
            con.execute(
                f"""
                create or replace table {table} as
                select * exclude (load) replace (
                    timestamp '2025-01-06 03:00:00'
                    + to_hours(load + cast(load > {resent_alone_after} as int)) as _loaded_at
                )
                from (
                    select
                        *,
                        cast(ntile({LOADS}) over (order by {time_column}, _load_id) as int)
                            as load
                    from {table}
                )
                """
            )
            con.execute(
                f"""
                insert into {table}
                select * replace (
                    timestamp '2025-01-06 03:00:00' + to_hours({resent_alone_after + 1})
                    as _loaded_at
                )
                from {table}
                order by _loaded_at, {time_column}
                limit 1
                """
            )
    finally:
        con.close()


def _rows(path) -> dict[str, list[tuple]]:
    return read_results(path, {t: f"select * from {t} order by all" for t in COMPARED})


@pytest.mark.parametrize(
    ("per_run", "resent_alone_after", "runs", "left"),
    [
        # 6 loads, 2 a run: 6 -> 4 -> 2 for the build; the re-sent load stages no row, so it
        # still counts as waiting afterwards
        (2, LOADS, 4, 1),
        # the re-sent load comes second: its runs stage nothing, the loop stops after the
        # second of them (one may be a rebuild) and the build stages the other 4 loads at once
        (1, 1, 6, 0),
    ],
)
def test_staging_a_few_loads_a_run_equals_one_build(
    tmp_path, per_run, resent_alone_after, runs, left
):
    stepped = tmp_path / "stepped.duckdb"
    write_raw_fixture(stepped)
    _split_into_loads(stepped, resent_alone_after)
    whole = tmp_path / "whole.duckdb"
    shutil.copy(stepped, whole)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        warehouse_path=stepped,
        staging_loads_per_run=per_run,
    )

    def waiting() -> set[int]:
        return {pending_loads(settings, m, raw) for m, raw in EVENT_MODELS.items()}

    assert waiting() == {LOADS + 1}
    assert stage_in_steps(settings) == runs
    for path in (stepped, whole):
        run = run_dbt(["run"], path, tmp_path / "target")
        assert run.result.success, run.log[-3000:]
    assert waiting() == {left}

    got, expected = _rows(stepped), _rows(whole)
    for table in COMPARED:
        assert got[table], f"{table} is empty"
        assert got[table] == expected[table], f"{table} differs from one build"


def test_a_table_staged_with_typed_times_drops_them_and_stages_on(tmp_path):
    # a warehouse staged before usage events kept only their day had typed occurred_at and
    # received_at columns: the next run drops them (the table follows the model) and stages
    # the loads left, as one build stages them
    stepped = tmp_path / "stepped.duckdb"
    write_raw_fixture(stepped)
    _split_into_loads(stepped)
    whole = tmp_path / "whole.duckdb"
    shutil.copy(stepped, whole)
    staged = ["run", "--select", "stg_usage__events"]
    first = run_dbt(staged, stepped, tmp_path / "target", dbt_vars={"staging_loads_per_run": 2})
    assert first.result.success, first.log[-3000:]
    con = duckdb.connect(str(stepped))
    try:
        for column in ("occurred_at", "received_at"):
            con.execute(f"alter table staging.stg_usage__events add column {column} timestamp")
            con.execute(f"update staging.stg_usage__events set {column} = event_date")
    finally:
        con.close()

    for path in (stepped, whole):
        run = run_dbt(staged, path, tmp_path / "target")
        assert run.result.success, run.log[-3000:]

    table = "staging.stg_usage__events"
    got = read_results(
        stepped, {"columns": f"describe {table}", "rows": f"from {table} order by all"}
    )
    expected = read_results(whole, {"rows": f"from {table} order by all"})
    assert not {"occurred_at", "received_at"} & {c[0] for c in got["columns"]}
    assert got["rows"] and got["rows"] == expected["rows"]
