"""`python -m bench.tables`: each table's blocks on disk, largest first."""

from __future__ import annotations

import duckdb

from bench.tables import main, table_sizes


def test_tables_are_sized_by_their_blocks_largest_first(tmp_path, capsys):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    # random ids do not compress; small integers pack in a few bits
    con.execute("create table raw.big as select md5(i::varchar) as id from range(300000) t(i)")
    con.execute("create table main.small as select i % 100 as n from range(300000) t(i)")
    con.execute("create table main.empty (x int)")
    con.close()

    sizes = table_sizes(path)

    assert [t.name for t in sizes][:2] == ["raw.big", "main.small"]
    big, small = sizes[0], sizes[1]
    assert big.rows == small.rows == 300_000
    # 32 hex characters a row: more than 10 bytes each even compressed, under the raw 32
    assert 10 < big.bytes_per_row < 40
    assert small.bytes < big.bytes / 10
    assert sizes[2].rows == 0 and sizes[2].bytes_per_row == 0.0
    assert main([str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "raw.big" in out and "main.small" not in out and "all 3 tables" in out
