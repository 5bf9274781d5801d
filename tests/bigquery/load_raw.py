"""Land the dbt raw fixture (tests/dbt/raw_fixture.py) in BigQuery, typed as ingestion lands it.

`load_raw_fixture(client, duckdb_path)` copies every `raw.*` table of a fixture DuckDB file into
the `raw` dataset, with the BigQuery types dlt's bigquery destination gives our column hints
(text -> STRING, bigint -> INT64, json -> JSON, timestamp -> TIMESTAMP, date -> DATE).
`create_python_sources(client)` creates the `ml` and `monitoring` tables that the Python jobs
write and the marts read, with a few rows. Rows go in through streaming inserts
(`insertAll`), the way the emulator accepts them; the data types are what production has.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
from google.cloud import bigquery

# DuckDB type of the fixture -> BigQuery type of the same column as dlt lands it
BIGQUERY_TYPES = {
    "VARCHAR": "STRING",
    "INTEGER": "INT64",
    "BIGINT": "INT64",
    "DOUBLE": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "JSON": "JSON",
}

# the layers' datasets (dbt writes all but raw/ml/monitoring; creating them up front is harmless)
DATASETS = ("raw", "staging", "intermediate", "features", "ml", "monitoring", "marts")


def _json_value(value: Any, bq_type: str) -> Any:
    """A fixture value as the insertAll JSON payload expects it."""
    if value is None:
        return None
    if bq_type == "TIMESTAMP":
        return value.isoformat(sep=" ")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def create_datasets(client: bigquery.Client, location: str = "US") -> None:
    """Create every layer dataset (raw, staging, ..., marts) if it is missing."""
    for name in DATASETS:
        dataset = bigquery.Dataset(f"{client.project}.{name}")
        dataset.location = location
        client.create_dataset(dataset, exists_ok=True)


def insert_rows(
    client: bigquery.Client, table_id: str, schema: list[bigquery.SchemaField], rows: list[dict]
) -> bigquery.Table:
    """Create (or replace) `table_id` with `schema` and stream `rows` into it."""
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(bigquery.Table(table_id, schema=schema))
    return append_rows(client, table_id, schema, rows)


def append_rows(
    client: bigquery.Client, table_id: str, schema: list[bigquery.SchemaField], rows: list[dict]
) -> bigquery.Table:
    """Stream `rows` into the existing table `table_id` (insertAll, 500 rows a request)."""
    table = client.get_table(table_id)
    types = {field.name: field.field_type for field in schema}
    payload = [{k: _json_value(v, types[k]) for k, v in row.items()} for row in rows]
    for start in range(0, len(payload), 500):
        errors = client.insert_rows_json(table, payload[start : start + 500])
        if errors:
            raise RuntimeError(f"insert into {table_id} failed: {errors[:3]}")
    return table


def load_raw_fixture(
    client: bigquery.Client, duckdb_path: str | Path, load_id: str | None = None
) -> dict[str, int]:
    """Copy the `raw.*` tables of a fixture file into the emulator; returns rows per table.

    Without `load_id` every table is (re)created with all its rows, as a first load lands
    them; with `load_id` only that load's rows are appended to the existing tables, as a
    later incremental load lands them.
    """
    create_datasets(client)
    con = duckdb.connect(str(duckdb_path), read_only=True)
    counts: dict[str, int] = {}
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw' order by table_name"
            ).fetchall()
        ]
        for table in tables:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            schema = [bigquery.SchemaField(name, BIGQUERY_TYPES[kind]) for name, kind in columns]
            names = [name for name, _kind in columns]
            where = "" if load_id is None else "where _load_id = ?"
            rows = [
                dict(zip(names, row, strict=True))
                for row in con.execute(
                    f"select * from raw.{table} {where}", [] if load_id is None else [load_id]
                ).fetchall()
            ]
            table_id = f"{client.project}.raw.{table}"
            if load_id is None:
                insert_rows(client, table_id, schema, rows)
            else:
                append_rows(client, table_id, schema, rows)
            counts[table] = len(rows)
    finally:
        con.close()
    return counts


def _fields(spec: str) -> list[bigquery.SchemaField]:
    """`"name TYPE, name TYPE"` -> schema fields."""
    out = []
    for part in spec.split(","):
        name, kind = part.split()
        out.append(bigquery.SchemaField(name, kind))
    return out


PYTHON_SOURCES = {
    "ml.churn_predictions": _fields(
        "customer_id STRING, as_of_date DATE, model_name STRING, model_version STRING, "
        "churn_probability FLOAT64, risk_tier STRING, risk_rank INT64, driver_1 STRING, "
        "driver_2 STRING, driver_3 STRING, run_id STRING, scored_at TIMESTAMP"
    ),
    "ml.model_promotions": _fields(
        "promoted_at TIMESTAMP, model_name STRING, action STRING, alias STRING, "
        "from_version STRING, to_version STRING, actor STRING, reason STRING, metrics STRING, "
        "run_id STRING"
    ),
    "monitoring.drift_checks": _fields(
        "check_id STRING, as_of_date DATE, model_version STRING, reference_rows INT64, "
        "current_rows INT64, features_checked INT64, features_drifted INT64, drift_share FLOAT64, "
        "status STRING, report_path STRING, checked_at TIMESTAMP"
    ),
    "monitoring.model_outcomes": _fields(
        "scoring_month DATE, model_version STRING, scored INT64, churned INT64, "
        "observed_rate FLOAT64, mean_probability FLOAT64, roc_auc FLOAT64, high_tier INT64, "
        "precision_high FLOAT64, recall_high FLOAT64, checked_as_of DATE"
    ),
    "monitoring.job_runs": _fields(
        "job STRING, as_of_date DATE, status STRING, detail STRING, finished_at TIMESTAMP"
    ),
}

# two scored Mondays for the fixture's active customers (C0000002 and C0000005 churned earlier)
SCORED = {
    date(2024, 12, 23): {"C0000001": 0.10, "C0000003": 0.55, "C0000004": 0.30, "C0000006": 0.80},
    date(2024, 12, 30): {"C0000001": 0.12, "C0000003": 0.40, "C0000004": 0.35, "C0000006": 0.85},
}


def _tier(probability: float) -> str:
    return "High" if probability >= 0.5 else "Medium" if probability >= 0.3 else "Low"


def prediction_rows() -> list[dict[str, Any]]:
    """The `ml.churn_predictions` rows the fixture's marts are built from."""
    rows = []
    for as_of, scores in SCORED.items():
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        for rank, (customer_id, probability) in enumerate(ranked, start=1):
            rows.append(
                {
                    "customer_id": customer_id,
                    "as_of_date": as_of,
                    "model_name": "churn_model",
                    "model_version": "1",
                    "churn_probability": probability,
                    "risk_tier": _tier(probability),
                    "risk_rank": rank,
                    "driver_1": "logins_30d",
                    "driver_2": "open_tickets",
                    "driver_3": "mrr",
                    "run_id": "run-1",
                    "scored_at": datetime(as_of.year, as_of.month, as_of.day, 2, 0),
                }
            )
    return rows


def create_python_sources(client: bigquery.Client) -> dict[str, int]:
    """Create the `ml` / `monitoring` tables the marts read, with a few rows; rows per table."""
    create_datasets(client)
    rows: dict[str, list[dict[str, Any]]] = {
        "ml.churn_predictions": prediction_rows(),
        "ml.model_promotions": [
            {
                "promoted_at": datetime(2024, 12, 22, 23, 0),
                "model_name": "churn_model",
                "action": "promoted",
                "alias": "champion",
                "from_version": None,
                "to_version": "1",
                "actor": "train",
                "reason": "first champion",
                "metrics": json.dumps({"roc_auc": 0.8}),
                "run_id": "run-1",
            }
        ],
        "monitoring.drift_checks": [],
        "monitoring.model_outcomes": [],
        "monitoring.job_runs": [
            {
                "job": "score",
                "as_of_date": date(2024, 12, 30),
                "status": "success",
                "detail": "8 customers scored",
                "finished_at": datetime(2024, 12, 30, 2, 5),
            }
        ],
    }
    for table, schema in PYTHON_SOURCES.items():
        insert_rows(client, f"{client.project}.{table}", schema, rows[table])
    return {table: len(r) for table, r in rows.items()}


DUCKDB_TYPES = {"STRING": "varchar", "INT64": "bigint", "FLOAT64": "double"}


def write_predictions_duckdb(path: str | Path) -> int:
    """Write the same `ml.churn_predictions` rows into a DuckDB file (the local reference)."""
    schema = PYTHON_SOURCES["ml.churn_predictions"]
    columns = ", ".join(f"{f.name} {DUCKDB_TYPES.get(f.field_type, f.field_type)}" for f in schema)
    rows = prediction_rows()
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists ml")
        con.execute(f"create or replace table ml.churn_predictions ({columns})")
        placeholders = ", ".join("?" for _ in schema)
        con.executemany(
            f"insert into ml.churn_predictions values ({placeholders})",
            [[row[f.name] for f in schema] for row in rows],
        )
    finally:
        con.close()
    return len(rows)
