"""The BigQuery gateway against the emulator: the behaviours the DuckDB gateway has.

Round trip of the dtypes predictions and monitoring rows use, atomic replace of a batch,
append, a failed write leaving the previous rows, typed `?` parameters, clear errors, and
labels plus the cost guard on every job. Emulator differences are noted where they matter.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import numpy as np
import pandas as pd
import pytest
from google.api_core import exceptions as gexc

from tests.bigquery.emulators import BigQueryEmulator, free_port
from warehouse import WarehouseError, get_warehouse
from warehouse.bigquery_warehouse import BigQueryWarehouse, translate_error
from warehouse.duckdb_warehouse import DuckDBWarehouse
from warehouse.settings import Settings

LABELS = {"system": "churn", "suite": "tests"}


def bq_settings(emulator: BigQueryEmulator, tmp_path, **extra) -> Settings:
    return Settings(
        target="bigquery",
        data_dir=tmp_path,
        bigquery_project=emulator.project,
        bigquery_api_endpoint=emulator.endpoint,
        bigquery_labels=LABELS,
        bigquery_maximum_bytes_billed=10**9,
        **extra,
    )


@pytest.fixture
def wh(bq_emulator, tmp_path) -> BigQueryWarehouse:
    warehouse = get_warehouse(bq_settings(bq_emulator, tmp_path))
    assert isinstance(warehouse, BigQueryWarehouse)
    return warehouse


@pytest.fixture
def dataset() -> str:
    """A dataset of its own per test (created by the gateway on first write)."""
    return f"t_{uuid.uuid4().hex[:10]}"


def predictions(as_of: dt.date, version: str, n: int = 3) -> pd.DataFrame:
    """Rows shaped like models_ml.scoring.score_frame's, with nulls where they can occur."""
    stamp = pd.Series([dt.datetime(2024, 3, 4, 2, 0, 1, 123456)], dtype="datetime64[us]")
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "as_of_date": np.full(n, as_of, dtype=object),
            "model_name": "churn",
            "model_version": version,
            "churn_probability": np.linspace(0.1, 0.9, n),
            "risk_tier": ["Low", "Medium", "High"][:n] + ["Low"] * max(0, n - 3),
            "risk_rank": np.arange(1, n + 1),
            "driver_1": pd.array(["logins_30d"] + [None] * (n - 1), dtype="string"),
            "run_id": uuid.uuid4().hex,
            "scored_at": np.repeat(stamp.to_numpy(), n),
        }
    )


def monitoring_row() -> pd.DataFrame:
    """A monitoring row with a null of every type (nullable ints and bools, NaN, None)."""
    return pd.DataFrame(
        {
            "job": ["score", "drift"],
            "as_of_date": [dt.date(2024, 3, 4), dt.date(2024, 3, 11)],
            "rows": pd.array([10, None], dtype="Int64"),
            "share": [0.25, np.nan],
            "ok": pd.array([True, None], dtype="boolean"),
            "passed": [True, False],
            "detail": [None, "x" * 3000],
            "finished_at": pd.Series(
                [dt.datetime(2024, 3, 4, 2, 0), dt.datetime(2024, 3, 11, 2, 30, 5)],
                dtype="datetime64[us]",
            ),
            "checked_at": pd.Series(
                [pd.Timestamp("2024-03-04 02:00", tz="UTC"), pd.NaT], dtype="datetime64[us, UTC]"
            ),
        }
    )


def test_get_warehouse_picks_the_target(bq_emulator, tmp_path):
    assert get_warehouse(bq_settings(bq_emulator, tmp_path)).scores_in_warehouse is True
    local = get_warehouse(Settings(data_dir=tmp_path))
    assert isinstance(local, DuckDBWarehouse) and local.scores_in_warehouse is False


def test_round_trip_keeps_values_and_gives_the_duckdb_dtypes(wh, dataset, tmp_path):
    frame = monitoring_row()
    wh.write_table(frame, f"{dataset}.job_runs")
    back = wh.read_table(f"{dataset}.job_runs").sort_values("job", ignore_index=True)
    expected = frame.sort_values("job", ignore_index=True)

    local = DuckDBWarehouse(tmp_path / "w.duckdb")
    local.write_table(frame, "monitoring.job_runs")
    duck = local.read_table("monitoring.job_runs").sort_values("job", ignore_index=True)

    assert list(back.columns) == list(frame.columns)
    # the same dtypes as the local target, so callers compare dates and nulls the same way
    for column in frame.columns:
        if column != "checked_at":  # a UTC timestamp: DuckDB gives the session's time zone
            assert back[column].dtype == duck[column].dtype, column
    assert str(back["checked_at"].dtype) == "datetime64[us, UTC]"
    assert back["as_of_date"].tolist() == [pd.Timestamp("2024-03-11"), pd.Timestamp("2024-03-04")]
    assert back["rows"].tolist()[1] == 10 and back["rows"].isna().tolist() == [True, False]
    assert back["ok"].isna().tolist() == [True, False] and back["ok"][1]
    assert np.isnan(back["share"][0]) and back["share"][1] == 0.25
    assert back["detail"].tolist() == ["x" * 3000, None]
    assert back["finished_at"].tolist() == expected["finished_at"].tolist()
    assert back["checked_at"].isna().tolist() == [True, False]
    assert back["checked_at"][1] == pd.Timestamp("2024-03-04 02:00", tz="UTC")

    schema = {
        f.name: f.field_type for f in wh.client.get_table(f"test-proj.{dataset}.job_runs").schema
    }
    assert schema["as_of_date"] == "DATE" and schema["finished_at"] == "DATETIME"
    assert schema["checked_at"] == "TIMESTAMP" and schema["rows"] == "INTEGER"


def test_write_table_replaces_data_and_schema_and_labels_the_table(wh, dataset):
    name = f"{dataset}.training_set"
    wh.write_table(pd.DataFrame({"a": [1, 2, 3]}), name)
    wh.write_table(pd.DataFrame({"b": ["x"]}), name)
    assert wh.read_table(name).to_dict("list") == {"b": ["x"]}
    table = wh.client.get_table(f"test-proj.{name}")
    assert table.labels == LABELS
    # an empty frame gives an empty table with its columns (an empty training set)
    wh.write_table(pd.DataFrame({"c": pd.Series([], dtype="float64")}), name)
    empty = wh.read_table(name)
    assert empty.empty and list(empty.columns) == ["c"]
    # staging tables are dropped after each write
    staged = list(wh.client.list_tables(f"test-proj.{wh.settings.bigquery_staging_dataset}"))
    assert not [t for t in staged if t.table_id.startswith(f"{dataset}__")]


def test_replace_rows_replaces_only_the_matching_batch(wh, dataset):
    name = f"{dataset}.churn_predictions"
    monday, next_monday = dt.date(2024, 3, 4), dt.date(2024, 3, 11)
    match = {"as_of_date": monday, "model_name": "churn", "model_version": "1"}
    wh.replace_rows(predictions(monday, "1"), name, match)  # creates the table
    wh.replace_rows(predictions(monday, "2"), name, {**match, "model_version": "2"})
    wh.replace_rows(predictions(next_monday, "1", n=2), name, {**match, "as_of_date": next_monday})

    rerun = predictions(monday, "1", n=5)
    wh.replace_rows(rerun, name, match)
    got = wh.query(
        f"select as_of_date, model_version, count(*) as n, max(run_id) as run_id from {name} "
        "group by 1, 2 order by 1, 2"
    )
    assert got[["model_version", "n"]].values.tolist() == [["1", 5], ["2", 3], ["1", 2]]
    assert got["run_id"][0] == rerun["run_id"][0]
    assert got["as_of_date"].tolist() == [pd.Timestamp(monday)] * 2 + [pd.Timestamp(next_monday)]

    # columns are inserted by name: another order and a missing column (null) are fine
    subset = predictions(next_monday, "3", n=1)[["run_id", "customer_id", "as_of_date"]]
    wh.replace_rows(subset, name, {"as_of_date": next_monday, "model_version": "3"})
    row = wh.query(f"select * from {name} where model_version is null")
    assert len(row) == 1 and row["customer_id"][0] == "c0" and pd.isna(row["risk_tier"][0])


def test_append_rows_creates_then_appends(wh, dataset):
    name = f"{dataset}.job_runs"
    wh.append_rows(monitoring_row().head(1), name)
    wh.append_rows(monitoring_row(), name)
    assert wh.query(f"select count(*) as n from {name}")["n"][0] == 3
    assert wh.client.get_table(f"test-proj.{name}").labels == LABELS


def test_a_failed_write_leaves_the_previous_rows(wh, dataset):
    name = f"{dataset}.churn_predictions"
    monday = dt.date(2024, 3, 4)
    match = {"as_of_date": monday, "model_name": "churn", "model_version": "1"}
    first = predictions(monday, "1")
    wh.replace_rows(first, name, match)

    # a column whose values do not fit the table's type (FLOAT64): refused before any change
    bad = predictions(monday, "1").assign(churn_probability=["high", "low", "0.5"])
    with pytest.raises(WarehouseError, match=f"cannot write {name}.*previous rows are in place"):
        wh.replace_rows(bad, name, match)
    # a column the table does not have: the MERGE fails as one statement, nothing deleted
    extra = predictions(monday, "1").assign(new_col=1.0)
    with pytest.raises(WarehouseError, match=f"writing rows to {name}"):
        wh.replace_rows(extra, name, match)
    with pytest.raises(WarehouseError):
        wh.append_rows(extra, name)
    kept = wh.read_table(name).sort_values("customer_id", ignore_index=True)
    assert kept["run_id"].tolist() == first["run_id"].tolist()
    assert kept["churn_probability"].tolist() == first["churn_probability"].tolist()

    # write_table: a frame that cannot be loaded leaves the old table as it was
    whole = f"{dataset}.training_set"
    wh.write_table(pd.DataFrame({"a": [1, 2]}), whole)
    with pytest.raises(WarehouseError, match="cannot write"):
        wh.write_table(pd.DataFrame({"a": [object(), 1]}), whole)
    assert wh.read_table(whole)["a"].tolist() == [1, 2]


def test_query_parameters_are_typed(wh, dataset):
    name = f"{dataset}.churn_predictions"
    monday = dt.date(2024, 3, 4)
    wh.write_table(predictions(monday, "7"), name)
    rows = wh.query(
        f"select customer_id from {name} where as_of_date = ? and model_version = ? "
        "and churn_probability > ? and risk_rank >= ? and scored_at < ? order by 1",
        [monday, "7", 0.2, np.int64(2), pd.Timestamp("2025-01-01")],
    )
    assert rows["customer_id"].tolist() == ["c1", "c2"]
    # numpy/pandas scalars, bools, timestamps with a zone and arrays all get a type
    got = wh.query(
        "select ? as b, ? as ts, ? as f, array_length(?) as n",
        [True, pd.Timestamp("2024-03-04 10:00", tz="UTC"), np.float32(1.5), [1, 2, 3]],
    )
    assert got.to_dict("records") == [
        {"b": True, "ts": pd.Timestamp("2024-03-04 10:00", tz="UTC"), "f": 1.5, "n": 3}
    ]
    with pytest.raises(WarehouseError, match="is None.*is null"):
        wh.query("select ? as x", [None])
    with pytest.raises(WarehouseError, match="has no BigQuery type"):
        wh.query("select ? as x", [object()])


def _job_configs(wh: BigQueryWarehouse) -> list[dict]:
    """Record the configuration of every job the client sends (query inserts and load-job
    uploads), passing each request through unchanged. The emulator does not keep a job's
    labels or maximum_bytes_billed (jobs.get returns neither), so they are read on the wire."""
    sent: list[dict] = []
    http = wh.client._http
    request = http.request

    def recording(method, url, data=None, *args, **kwargs):
        if method == "POST" and "/jobs" in url and data:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
            body, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
            sent.append(body["configuration"])
        return request(method, url, data, *args, **kwargs)

    http.request = recording
    return sent


def test_every_job_carries_labels_and_the_bytes_billed_guard(wh, dataset):
    name = f"{dataset}.t"
    sent = _job_configs(wh)
    wh.write_table(pd.DataFrame({"a": [1]}), name)
    wh.replace_rows(pd.DataFrame({"a": [2]}), name, {"a": 1})
    wh.append_rows(pd.DataFrame({"a": [3]}), name)
    wh.query(f"select * from {name} where a > ?", [0])
    kinds = [next(k for k in ("query", "load") if k in config) for config in sent]
    assert kinds == ["load", "query", "load", "query", "load", "query", "query"]
    assert all(config["labels"] == LABELS for config in sent)
    queries = [config["query"] for config in sent if "query" in config]
    assert all(int(q["maximumBytesBilled"]) == 10**9 for q in queries)
    assert "merge" in queries[1]["query"] and queries[1]["queryParameters"]


def test_clear_errors_name_the_table_and_what_to_check(wh, dataset, bq_emulator, tmp_path):
    with pytest.raises(WarehouseError, match=rf"table {dataset}.missing does not exist.*dbt build"):
        wh.read_table(f"{dataset}.missing")
    assert wh.table_exists(f"{dataset}.missing") is False
    with pytest.raises(WarehouseError, match="invalid table name"):
        wh.read_table("features.customer_features; drop table x")
    with pytest.raises(WarehouseError, match="use 'schema.table'"):
        wh.write_table(pd.DataFrame({"a": [1]}), "no_schema")
    with pytest.raises(WarehouseError, match=rf"query.*{dataset}.*not found.*churn ingest"):
        wh.query(f"select * from {dataset}.nope")
    with pytest.raises(WarehouseError, match="rejected the SQL"):
        wh.query("selec 1")

    read_only = get_warehouse(bq_settings(bq_emulator, tmp_path), read_only=True)
    with pytest.raises(WarehouseError, match="read-only"):
        read_only.write_table(pd.DataFrame({"a": [1]}), f"{dataset}.t")


def test_an_unreachable_endpoint_fails_clearly_after_the_retry_deadline(tmp_path):
    down = Settings(
        target="bigquery",
        bigquery_project="p",
        bigquery_api_endpoint=f"http://127.0.0.1:{free_port()}",
        bigquery_retry_seconds=1.0,
    )
    with pytest.raises(WarehouseError, match="features.customer_features: cannot reach BigQuery"):
        get_warehouse(down).table_exists("features.customer_features")


def test_errors_bigquery_raises_that_the_emulator_does_not():
    """Permission and bytes-billed failures: the emulator enforces neither (no IAM, and it
    reports no bytes billed), so the translation is checked on BigQuery's own error shapes."""
    settings = Settings(target="bigquery", bigquery_project="prod", bigquery_maximum_bytes_billed=5)
    billed = gexc.BadRequest(
        "Query exceeded limit for bytes billed: 5. 10485760 or higher required.",
        errors=[{"reason": "bytesBilledLimitExceeded", "message": "..."}],
    )
    text = str(translate_error(billed, "query q", settings))
    assert text.startswith("query q: the job would bill more than")
    assert "CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED=5" in text
    denied = gexc.Forbidden(
        "Access Denied: Table prod:ml.churn_predictions: User does not have permission",
        errors=[{"reason": "accessDenied"}],
    )
    text = str(translate_error(denied, "table ml.churn_predictions", settings))
    assert text.startswith("table ml.churn_predictions: permission denied on project prod")
    assert "BigQuery Data Editor" in text and "CHURN_BIGQUERY_TOKEN" in text


def test_credentials_and_bigframes_options_come_from_the_settings(tmp_path):
    """Client construction without a network call: a token, or an emulator endpoint."""
    from google.oauth2.credentials import Credentials

    token = Settings(
        target="bigquery",
        bigquery_project="prod-proj",
        bigquery_location="EU",
        bigquery_token="ya29.token",
    )
    wh = BigQueryWarehouse(token)
    assert isinstance(wh.client._credentials, Credentials)
    assert wh.client._credentials.token == "ya29.token"
    assert wh.client.project == "prod-proj" and wh.client.location == "EU"
    options = wh.bigframes_options()
    assert (options.project, options.location) == ("prod-proj", "EU")
    assert options.credentials.token == "ya29.token"
    with pytest.raises(WarehouseError, match="CHURN_BIGQUERY_PROJECT"):
        _ = BigQueryWarehouse(
            Settings(target="bigquery", bigquery_api_endpoint="http://127.0.0.1:1")
        ).client


def test_the_app_snapshot_is_published_from_bigquery_marts(bq_emulator, tmp_path):
    """dashboards.snapshot copies the app's marts through the gateway on non-local targets."""
    from dashboards.snapshot import publish_app_snapshot, read_app_table

    # a project of its own: other suites build `marts` in the emulator's default project
    settings = bq_settings(bq_emulator, tmp_path).model_copy(
        update={"bigquery_project": f"snapshot-{uuid.uuid4().hex[:6]}"}
    )
    wh = BigQueryWarehouse(settings)
    with pytest.raises(WarehouseError, match="no marts tables yet"):
        publish_app_snapshot(settings)
    wh.write_table(predictions(dt.date(2024, 3, 4), "1"), "marts.at_risk_customers")
    wh.write_table(monitoring_row(), "marts.recent_job_runs")
    result = publish_app_snapshot(settings)
    assert result.rows == {"at_risk_customers": 3, "recent_job_runs": 2}
    at_risk = read_app_table("at_risk_customers", settings)
    assert at_risk is not None and sorted(at_risk["customer_id"]) == ["c0", "c1", "c2"]
    assert at_risk["as_of_date"].tolist() == [pd.Timestamp("2024-03-04")] * 3


def test_frames_from_bigframes_get_the_gateway_dtypes():
    """bigframes' to_pandas types columns with pyarrow-backed dtypes (checked here on such a
    frame: bigframes itself cannot run against the emulator); the gateway converts them."""
    import pyarrow as pa

    from warehouse.bigquery_warehouse import _arrow_to_pandas

    frame = pd.DataFrame(
        {
            "as_of_date": pd.array([dt.date(2024, 3, 4), None], dtype=pd.ArrowDtype(pa.date32())),
            "customer_id": pd.array(["c1", None], dtype="string[pyarrow]"),
            "rows": pd.array([1, 2], dtype="Int64"),
            "score": pd.array([0.5, None], dtype="Float64"),
            "churned": pd.array([True, False], dtype="boolean"),
        },
        index=[7, 9],
    )
    out = _arrow_to_pandas(pa.Table.from_pandas(frame, preserve_index=False))
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        "as_of_date": "datetime64[us]",
        "customer_id": "object",
        "rows": "int64",
        "score": "float64",
        "churned": "bool",
    }
    assert out["as_of_date"][0] == pd.Timestamp("2024-03-04") and pd.isna(out["as_of_date"][1])
    assert out["customer_id"].tolist() == ["c1", None] and np.isnan(out["score"][1])


def test_sample_is_bounded_and_repeatable_like_duckdb(wh, dataset, tmp_path):
    frame = predictions(dt.date(2024, 3, 4), "1", n=40)
    wh.write_table(frame, f"{dataset}.preds")
    local = DuckDBWarehouse(tmp_path / "local.duckdb")
    local.write_table(frame, f"{dataset}.preds")
    sql = f"select * from {dataset}.preds where risk_rank > ?"
    for warehouse in (wh, local):
        first = warehouse.sample(sql, [10], rows=5)
        again = warehouse.sample(sql, [10], rows=5)
        assert len(first) == 5
        assert (first.risk_rank > 10).all()
        assert sorted(first.customer_id) == sorted(again.customer_id)
        assert len(warehouse.sample(sql, [10], rows=100)) == 30


def test_table_rows_lists_tables_per_dataset_like_duckdb(wh, dataset, tmp_path):
    frame = predictions(dt.date(2024, 3, 4), "1", n=4)
    local = DuckDBWarehouse(tmp_path / "local.duckdb")
    for warehouse in (wh, local):
        warehouse.write_table(frame, f"{dataset}.preds")
        warehouse.write_table(frame.head(1), f"{dataset}.one")
        rows = warehouse.table_rows([dataset, "no_such_dataset"])
        assert rows.values.tolist() == [[dataset, "one", 1], [dataset, "preds", 4]]


def test_columns_come_from_metadata_like_duckdb(wh, dataset, tmp_path):
    frame = predictions(dt.date(2024, 3, 4), "1", n=2)
    local = DuckDBWarehouse(tmp_path / "local.duckdb")
    for warehouse in (wh, local):
        warehouse.write_table(frame, f"{dataset}.preds")
        assert warehouse.columns(f"{dataset}.preds") == list(frame.columns)
        with pytest.raises(WarehouseError, match="does not exist"):
            warehouse.columns(f"{dataset}.missing")
