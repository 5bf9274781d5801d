"""Estimate the bytes BigQuery would bill for each dbt node, from a build on the emulator.

bqemulator has no cost model (every job reports 0 bytes processed, every table 0 bytes), and
dbt's `adapter_response.bytes_processed` only repeats it. So the estimate is computed the way
BigQuery bills on-demand queries:

1. the logical size of every column of every table the build wrote or read, measured on the
   emulator with BigQuery's data-size rules (INT64, FLOAT64, DATE, TIMESTAMP: 8 bytes; BOOL:
   1; STRING: 2 + UTF-8 bytes; JSON: its serialized UTF-8 bytes; NULL: 0);
2. the columns each node's compiled SQL reads from each table (sqlglot resolves them);
3. bytes of a node = the sum over the tables it reads of the sizes of the columns it reads,
   at least 10 MB per table referenced (BigQuery's per-table minimum). No partition pruning
   is assumed: an upper bound (a WHERE on a non-partition column prunes nothing anyway).

Run after a build: `python -m tests.bigquery.bytes_estimate <target-dir> <api-endpoint>`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from google.cloud import bigquery
from sqlglot import exp
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

MIN_BYTES_PER_TABLE = 10 * 1024 * 1024  # on-demand minimum per table referenced
FIXED_WIDTH = {
    "INT64": 8, "INTEGER": 8, "FLOAT64": 8, "FLOAT": 8, "NUMERIC": 16, "DATE": 8,
    "DATETIME": 8, "TIMESTAMP": 8, "TIME": 8, "BOOL": 1, "BOOLEAN": 1,
}  # fmt: skip


@dataclass
class TableSize:
    """Rows and logical bytes per column of one table."""

    rows: int
    columns: dict[str, int]

    @property
    def bytes(self) -> int:
        return sum(self.columns.values())


def _size_expression(name: str, kind: str) -> str:
    col = f"`{name}`"
    if kind in FIXED_WIDTH:
        return f"countif({col} is not null) * {FIXED_WIDTH[kind]}"
    if kind == "STRING":
        return f"coalesce(sum(2 + byte_length({col})), 0)"
    if kind == "JSON":
        return f"coalesce(sum(byte_length(to_json_string({col}))), 0)"
    raise ValueError(f"no size rule for {kind} ({name})")


def table_sizes(client: bigquery.Client, datasets: list[str]) -> dict[str, TableSize]:
    """`dataset.table` -> its rows and logical bytes per column, measured on the emulator."""
    sizes: dict[str, TableSize] = {}
    for dataset in datasets:
        for item in client.list_tables(f"{client.project}.{dataset}"):
            table = client.get_table(item.reference)
            if table.table_type != "TABLE" or not table.schema:
                continue
            fields = [(f.name, f.field_type) for f in table.schema]
            selects = ", ".join(
                f"{_size_expression(name, kind)} as c{i}" for i, (name, kind) in enumerate(fields)
            )
            sql = f"select count(*) as n, {selects} from `{table.full_table_id.replace(':', '.')}`"
            row = next(iter(client.query(sql).result()))
            sizes[f"{dataset}.{table.table_id}"] = TableSize(
                rows=int(row["n"]),
                columns={name: int(row[f"c{i}"]) for i, (name, _k) in enumerate(fields)},
            )
    return sizes


def columns_read(sql: str, schema: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """`dataset.table` -> the columns the query reads from it (stars expanded, unused
    projections of CTEs and subqueries pruned)."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    nested: dict = defaultdict(dict)
    for table_id, columns in schema.items():
        dataset, table = table_id.split(".")
        nested[dataset][table] = columns
    tree = qualify(
        tree,
        schema=dict(nested),
        dialect="bigquery",
        validate_qualify_columns=False,
        identify=False,
    )
    # a column a CTE selects but no one downstream uses is not read (BigQuery prunes it too);
    # a star over a relation of unknown columns (a view) keeps every column (upper bound)
    with contextlib.suppress(sqlglot.errors.OptimizeError):
        tree = pushdown_projections(tree.copy())
    read: dict[str, set[str]] = defaultdict(set)
    for scope in traverse_scope(tree):
        tables = {
            alias: source
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table)
        }
        for table in tables.values():
            read.setdefault(f"{table.db}.{table.name}", set())
        for column in scope.columns:
            source = tables.get(column.table)
            if source is not None:
                read[f"{source.db}.{source.name}"].add(column.name)
    return dict(read)


def billed(per_table: dict[str, int]) -> int:
    """Bytes billed for one query that scans `per_table` (10 MB minimum per table)."""
    return sum(max(scanned, MIN_BYTES_PER_TABLE) for scanned in per_table.values())


def node_bytes(manifest: dict, sizes: dict[str, TableSize]) -> dict[str, dict[str, int]]:
    """node id -> bytes scanned per table it reads, for every model and data test built."""
    schema = {
        table_id: {name: "STRING" for name in size.columns} for table_id, size in sizes.items()
    }
    out: dict[str, dict[str, int]] = {}
    views: dict[str, dict[str, int]] = {}

    def depth(node: dict) -> int:  # views that read views come after them
        parents = [manifest["nodes"].get(p) for p in node.get("depends_on", {}).get("nodes", [])]
        return 1 + max((depth(p) for p in parents if p), default=0)

    nodes = sorted(
        manifest["nodes"].items(),
        key=lambda kv: (kv[1].get("config", {}).get("materialized") != "view", depth(kv[1])),
    )
    for uid, node in nodes:
        code = node.get("compiled_code")
        if node["resource_type"] not in ("model", "test") or not code:
            continue
        try:
            read = columns_read(code, schema)
        except sqlglot.errors.SqlglotError:
            continue
        out[uid] = {
            table_id: sum(sizes[table_id].columns.get(c, 0) for c in columns)
            for table_id, columns in read.items()
            if table_id in sizes
        }
        # a view is billed as the tables it reads (upper bound: every column the view reads)
        for table_id in read:
            if table_id not in sizes and table_id in views:
                out[uid].update(views[table_id])
        if node["config"].get("materialized") == "view":
            views[f"{node['schema']}.{node['alias']}"] = out[uid]
    return out


# production scale: 1M customers with two years of weekly history
CUSTOMERS = 1_000_000
WEEKS = 104
# the simulator's usage rate (9.3M events for 20k customers over two years, README)
EVENTS = int(CUSTOMERS * WEEKS * 4.5)
# the fixture: 7 customers, usage from 2024-07-01 to 2025-01-24 (29 weeks)
FIXTURE_CUSTOMERS = 7
FIXTURE_WEEKS = 29
EVENT_TABLES = ("raw.usage_events", "staging.stg_usage__events")
USAGE_TABLES = ("intermediate.int_usage_daily", "intermediate.int_usage_member_weeks")
SPINE = "intermediate.int_customer_weeks"
# every customer scored every week (the fixture has only two scored weeks); the list is latest
SCORED_TABLES = {
    "ml.churn_predictions": CUSTOMERS * WEEKS,
    "marts.customer_risk_history": CUSTOMERS * WEEKS,
    "marts.at_risk_customers": CUSTOMERS,
}
PRICE_PER_TIB = 6.25  # on-demand, US multi-region


def scaled_rows(table_id: str, sizes: dict[str, TableSize]) -> float:
    """Rows of a table at production scale, from its rows on the fixture.

    Events: the simulator's rate. Daily usage and member-weeks: the fixture's ratio to events.
    Tables of grain customer x as_of_date: every customer in every week (an upper bound);
    predictions: every customer scored every week.
    Everything else: in proportion to customers x weeks.
    """
    if table_id in SCORED_TABLES:
        return SCORED_TABLES[table_id]
    rows = sizes[table_id].rows
    events = sizes[EVENT_TABLES[1]].rows
    if table_id in EVENT_TABLES:
        return EVENTS * rows / events
    if table_id in USAGE_TABLES:
        return EVENTS * rows / events
    if {"customer_id", "as_of_date"} <= set(sizes[table_id].columns):
        return CUSTOMERS * WEEKS * rows / sizes[SPINE].rows
    return rows * (CUSTOMERS / FIXTURE_CUSTOMERS) * (WEEKS / FIXTURE_WEEKS)


def scaled_node_bytes(per_table: dict[str, int], sizes: dict[str, TableSize]) -> dict[str, float]:
    """Bytes a node scans per table at production scale (same share of each table's bytes)."""
    out = {}
    for table_id, scanned in per_table.items():
        size = sizes[table_id]
        if not size.rows or not size.bytes:
            out[table_id] = 0.0
            continue
        out[table_id] = scanned / size.rows * scaled_rows(table_id, sizes)
    return out


def main(target_dir: str, endpoint: str, project: str = "test-proj") -> None:
    """Print table sizes and bytes scanned per node of the build in `target_dir`."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    client = bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )
    sizes = table_sizes(
        client, ["raw", "staging", "intermediate", "features", "ml", "monitoring", "marts"]
    )
    print("table\trows\tlogical bytes\tbytes per row")
    for table_id, size in sorted(sizes.items()):
        per_row = size.bytes / size.rows if size.rows else 0
        print(f"{table_id}\t{size.rows}\t{size.bytes}\t{per_row:.0f}")
    manifest = json.loads((Path(target_dir) / "manifest.json").read_text())
    print("\nnode\tbytes scanned\tbytes billed (10 MB minimum per table)\ttables")
    scanned = node_bytes(manifest, sizes)
    for uid, per_table in sorted(scanned.items(), key=lambda kv: -sum(kv[1].values())):
        tables = ",".join(sorted(per_table))
        print(f"{uid}\t{sum(per_table.values())}\t{billed(per_table)}\t{tables}")

    print(f"\nat {CUSTOMERS:,} customers x {WEEKS} weeks ({EVENTS:,} events)")
    print("table\trows\tGB")
    for table_id, size in sorted(sizes.items()):
        rows = scaled_rows(table_id, sizes)
        gb = size.bytes / size.rows * rows / 1e9 if size.rows else 0
        print(f"{table_id}\t{rows:,.0f}\t{gb:.2f}")
    totals: dict[str, float] = defaultdict(float)
    print("\nnode\tGB billed per run")
    lines = []
    for uid, per_table in scanned.items():
        at_scale = scaled_node_bytes(per_table, sizes)
        gb = billed({t: int(b) for t, b in at_scale.items()}) / 1e9
        totals[uid.split(".")[0]] += gb
        lines.append((gb, uid))
    for gb, uid in sorted(lines, reverse=True)[:25]:
        print(f"{uid}\t{gb:.2f}")
    for kind, gb in totals.items():
        print(f"total {kind}s\t{gb:.1f} GB\t${gb * 1e9 / 2**40 * PRICE_PER_TIB:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
