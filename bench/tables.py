"""What each table of a DuckDB warehouse takes on disk, largest first.

    python -m bench.tables [PATH] [--top N]

A table's size is the blocks its columns occupy (DuckDB's `pragma_storage_info`) times the
block size: what the file holds for it, compression included, without the free blocks a
dropped or emptied table leaves. Opened read-only, so not while a job writes the file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class TableSize:
    name: str
    rows: int
    bytes: int

    @property
    def bytes_per_row(self) -> float:
        return self.bytes / self.rows if self.rows else 0.0


def table_sizes(path: Path) -> list[TableSize]:
    """Every base table of the file (schema.table), largest first."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block = con.execute("select block_size from pragma_database_size()").fetchone()[0]
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() order by all"
        ).fetchall()
        sizes = []
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            blocks = con.execute(
                "select count(distinct block_id) from pragma_storage_info(?) where block_id >= 0",
                [name],
            ).fetchone()[0]
            rows = con.execute(f"select count(*) from {name}").fetchone()[0]
            sizes.append(TableSize(f"{schema}.{table}", rows, blocks * block))
        return sorted(sizes, key=lambda t: t.bytes, reverse=True)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__)
    parser.add_argument("path", nargs="?", default="data/warehouse.duckdb", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"no warehouse file at {args.path}")
    sizes = table_sizes(args.path)
    for t in sizes[: args.top]:
        gb, per_row = t.bytes / 10**9, t.bytes_per_row
        print(f"{t.name:50s} {t.rows:>14,} rows {gb:8.2f} GB {per_row:6.1f} B/row")
    total = sum(t.bytes for t in sizes) / 10**9
    print(f"{f'all {len(sizes)} tables':50s} {total:29.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
