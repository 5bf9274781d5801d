"""The production target: the warehouse gateway on BigQuery (google-cloud-bigquery).

Same interface as `DuckDBWarehouse`; `schema.table` names a table in dataset `schema` of
`settings.bigquery_project`. Every job carries `settings.bigquery_labels` and the cost guard
`settings.bigquery_maximum_bytes_billed`. Writes are atomic:

- `write_table` loads the frame into a staging table, then replaces the target with one
  `CREATE OR REPLACE TABLE ... AS SELECT` (one statement: readers see the old table or the new);
- `replace_rows` / `append_rows` load into a staging table typed like the target (a type
  conflict fails in the load, before the target is touched), then one `MERGE` deletes the
  matching rows and inserts the new ones (or one `INSERT` when nothing is matched). A single
  DML statement is atomic in BigQuery, and the emulator runs it in one DuckDB transaction;
- `insert_new_rows` stages the same way, then one `MERGE ... WHEN NOT MATCHED THEN INSERT`
  adds only the rows whose key is new (stored rows are never touched).

Staging tables live in `settings.bigquery_staging_dataset` (tables there expire after a day,
so a crashed job leaves nothing behind for long) and are dropped after each write.

Reads go over the Storage Read API on BigQuery and over REST on an emulator endpoint;
`read_table` uses BigQuery DataFrames (bigframes) on BigQuery when enabled, and so do
`snapshot_counts` and `read_sample`: the sample is chosen by bigframes operations (a filter on
a FARM_FINGERPRINT bucket) and only the chosen rows reach `to_pandas`. On an emulator, which
bigframes cannot use, the same selection runs as one SQL query. Frames come back
with the dtypes `DuckDBWarehouse` gives (dates as datetime64, nullable ints as Int64, ...), so
callers behave the same on both targets.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from warehouse.interface import (
    SAMPLE_BUCKETS,
    StratifiedSample,
    WarehouseError,
    check_name,
    new_rows,
)
from warehouse.settings import Settings

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
STAGING_EXPIRATION_MS = 24 * 3600 * 1000
EMULATOR_UPLOAD_CONTENT_TYPE = "application/octet-stream"


def use_emulator_uploads() -> None:
    """Let load jobs upload to a BigQuery emulator.

    google-cloud-bigquery sends the file part of a load-job upload as `*/*`, which bqemulator
    rejects ("unsupported Content-Type"); it accepts `application/octet-stream`. The library
    keeps the type in a module constant, so this sets it for the process. Only called when
    `settings.bigquery_api_endpoint` is set (dlt's BigQuery loads go through the same code).
    """
    from google.cloud.bigquery import client as bq_client

    bq_client._GENERIC_CONTENT_TYPE = EMULATOR_UPLOAD_CONTENT_TYPE


def credentials_for(settings: Settings) -> tuple[Any, str | None]:
    """(credentials, project found with them): token, else anonymous on an emulator, else ADC.

    Raises WarehouseError naming what to set when no credentials can be found.
    """
    if settings.bigquery_token is not None:
        from google.oauth2.credentials import Credentials

        return Credentials(settings.bigquery_token.get_secret_value()), None
    if settings.bigquery_api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), None
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, project = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as exc:
        raise WarehouseError(
            f"no Google credentials for BigQuery: {exc}. Set up Application Default "
            "Credentials (GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default "
            "login`) or set CHURN_BIGQUERY_TOKEN to an OAuth access token"
        ) from exc
    return credentials, project


def make_client(settings: Settings):  # -> google.cloud.bigquery.Client
    """A google-cloud-bigquery client for the settings (project, location, endpoint)."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    credentials, found_project = credentials_for(settings)
    project = settings.bigquery_project or found_project
    if not project:
        raise WarehouseError(
            "no BigQuery project: set CHURN_BIGQUERY_PROJECT (the project holding the datasets)"
        )
    options = None
    if settings.bigquery_api_endpoint:
        use_emulator_uploads()
        options = ClientOptions(api_endpoint=settings.bigquery_api_endpoint)
    return bigquery.Client(
        project=project,
        credentials=credentials,
        location=settings.bigquery_location,
        client_options=options,
    )


# ---------- query parameters


def _scalar_type(value: Any) -> str:
    """The BigQuery type of a Python parameter value (`?` in SQL)."""
    if isinstance(value, bool | np.bool_):
        return "BOOL"
    if isinstance(value, int | np.integer):
        return "INT64"
    if isinstance(value, float | np.floating):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "BIGNUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return "DATETIME" if value.tzinfo is None else "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    raise WarehouseError(
        f"query parameter {value!r} ({type(value).__name__}) has no BigQuery type: pass a "
        "bool, int, float, Decimal, str, bytes, date, datetime or time (or a list of one)"
    )


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as the Python values google-cloud-bigquery serialises."""
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).to_pydatetime()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_query_parameter(value: Any, name: str | None = None):
    """A typed BigQuery query parameter (positional when `name` is None)."""
    from google.cloud import bigquery

    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        items = [_plain(v) for v in value]
        if not items or any(v is None for v in items):
            raise WarehouseError(
                f"query parameter {name or '?'}: an array must be non-empty and hold no nulls"
            )
        return bigquery.ArrayQueryParameter(name, _scalar_type(items[0]), items)
    value = _plain(value)
    if value is None or value is pd.NaT:
        raise WarehouseError(
            f"query parameter {name or '?'} is None: BigQuery needs a type for every "
            "parameter; write `is null` in the SQL instead"
        )
    return bigquery.ScalarQueryParameter(name, _scalar_type(value), value)


# ---------- frames with the dtypes of the DuckDB gateway


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as DuckDB's `.df()` types it: dates and datetimes as datetime64[us],
    timestamps in UTC, ints int64 (Int64 with nulls), bools bool (boolean with nulls),
    numerics float64, text object."""
    columns: dict[str, pd.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_date(kind):
            series = pd.Series(column.cast(pa.timestamp("us")).to_pandas(), name=name)
        elif pa.types.is_timestamp(kind):
            target = pa.timestamp("us", tz="UTC" if kind.tz else None)
            series = column.cast(target).to_pandas()
        elif pa.types.is_integer(kind):
            series = column.to_pandas(types_mapper={kind: pd.Int64Dtype()}.get)
            series = series.astype("int64") if not series.isna().any() else series
        elif pa.types.is_boolean(kind):
            series = column.to_pandas(types_mapper={kind: pd.BooleanDtype()}.get)
            series = series.astype("bool") if not series.isna().any() else series
        elif pa.types.is_decimal(kind):
            series = column.cast(pa.float64()).to_pandas()
        elif pa.types.is_null(kind):
            series = pd.Series([None] * len(column), dtype=object)
        else:
            series = column.to_pandas()
        columns[name] = pd.Series(series, name=name).reset_index(drop=True)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


# ---------- errors


def _reasons(exc: Exception) -> set[str]:
    errors = getattr(exc, "errors", None) or []
    return {str(e.get("reason", "")) for e in errors if isinstance(e, dict)}


def translate_error(exc: Exception, what: str, settings: Settings) -> WarehouseError:
    """A BigQuery failure as a WarehouseError naming `what` (a table or a query) and what to
    check."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        exc = exc.cause  # retried until the deadline: say why it kept failing
    reasons = _reasons(exc)
    project = settings.bigquery_project
    message = getattr(exc, "message", None) or str(exc)
    if "bytesBilledLimitExceeded" in reasons or "bytes billed" in message.lower():
        hint = (
            f"the job would bill more than CHURN_BIGQUERY_MAXIMUM_BYTES_BILLED="
            f"{settings.bigquery_maximum_bytes_billed:,} bytes: narrow the query (partition "
            "filter, fewer columns) or raise the limit"
        )
    elif isinstance(exc, gexc.NotFound):
        hint = (
            f"not found in project {project}: run the job that builds it (`churn ingest` for "
            "raw, `dbt build` for features and marts), and check CHURN_BIGQUERY_PROJECT and "
            f"CHURN_BIGQUERY_LOCATION={settings.bigquery_location}"
        )
    elif isinstance(exc, gexc.Forbidden | gexc.Unauthorized | auth_exc.GoogleAuthError):
        hint = (
            f"permission denied on project {project}: the account needs BigQuery Job User and "
            "BigQuery Read Session User on the project and BigQuery Data Editor on the "
            "datasets; check Application Default Credentials or CHURN_BIGQUERY_TOKEN (tokens "
            "expire after an hour)"
        )
    elif isinstance(exc, gexc.Conflict):
        hint = "it was changed concurrently by another job: rerun this one"
    elif isinstance(exc, gexc.BadRequest):
        hint = "BigQuery rejected the SQL or the data (types, column names)"
    elif isinstance(exc, ConnectionError | OSError):
        endpoint = settings.bigquery_api_endpoint or "bigquery.googleapis.com"
        hint = f"cannot reach BigQuery at {endpoint}: check the network or the endpoint"
    else:
        hint = "see the cause below"
    return WarehouseError(f"{what}: {hint}. BigQuery said: {message}")


def _api_errors() -> tuple[type[BaseException], ...]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from requests.exceptions import RequestException

    return (GoogleAPIError, GoogleAuthError, RequestException, ConnectionError)


# ---------- the gateway


class BigQueryWarehouse:
    """The production target: one dataset per schema in `settings.bigquery_project`."""

    # predictions can be computed inside the warehouse (BigQuery ML), not only in Python
    scores_in_warehouse: bool = True

    def __init__(self, settings: Settings, read_only: bool = False) -> None:
        self.settings = settings
        self.read_only = read_only
        self._client = None
        self._bigframes_session = None

    # ----- plumbing

    @property
    def client(self):  # -> google.cloud.bigquery.Client
        """The google-cloud-bigquery client, created on first use."""
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    @property
    def retry(self):  # -> google.api_core.retry.Retry
        """Retry of every API call: transient errors, up to `bigquery_retry_seconds`."""
        from google.cloud import bigquery

        return bigquery.DEFAULT_RETRY.with_deadline(self.settings.bigquery_retry_seconds)

    @property
    def project(self) -> str:
        return str(self.client.project)

    @property
    def on_emulator(self) -> bool:
        """True on a non-Google endpoint: REST reads only, no bigframes."""
        return bool(self.settings.bigquery_api_endpoint)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.settings.bigquery_labels)

    def table_id(self, name: str) -> str:
        """`project.dataset.table` of `schema.table` (a bare `table` is refused here: BigQuery
        has no default schema)."""
        check_name(name)
        if "." not in name:
            raise WarehouseError(
                f"invalid table name {name!r}: use 'schema.table' (the schema is the dataset)"
            )
        return f"{self.project}.{name}"

    def _job_config(self, config=None, params: list[Any] | None = None):
        from google.cloud import bigquery

        config = config or bigquery.QueryJobConfig()
        config.labels = self.labels
        config.maximum_bytes_billed = self.settings.bigquery_maximum_bytes_billed
        if params is not None:
            config.query_parameters = params
        return config

    def _run(self, sql: str, what: str, params: list[Any] | None = None):
        """Run one query job to completion; its RowIterator."""
        try:
            config = self._job_config(params=params)
            job = self.client.query(sql, job_config=config, retry=self.retry)
            return job.result(retry=self.retry)
        except _api_errors() as exc:
            raise translate_error(exc, what, self.settings) from exc

    def _arrow(self, rows) -> pa.Table:
        return rows.to_arrow(create_bqstorage_client=not self.on_emulator)

    def ensure_dataset(self, dataset: str, expiration_ms: int | None = None) -> None:
        """Create the dataset in `settings.bigquery_location` if it does not exist."""
        from google.cloud import bigquery

        ds = bigquery.Dataset(f"{self.project}.{dataset}")
        ds.location = self.settings.bigquery_location
        ds.labels = self.labels
        if expiration_ms:
            ds.default_table_expiration_ms = expiration_ms
        try:
            self.client.create_dataset(ds, exists_ok=True, retry=self.retry)
        except _api_errors() as exc:
            raise translate_error(exc, f"dataset {dataset}", self.settings) from exc

    def _get_table(self, name: str):
        """The table's metadata, or None when it (or its dataset) does not exist."""
        from google.api_core.exceptions import NotFound

        table_id = self.table_id(name)
        try:
            return self.client.get_table(table_id, retry=self.retry)
        except NotFound:
            return None
        except _api_errors() as exc:
            raise translate_error(exc, f"table {name}", self.settings) from exc

    def _missing(self, name: str) -> WarehouseError:
        return WarehouseError(
            f"table {name} does not exist in BigQuery project {self.project}: run the job that "
            "builds it (`dbt build` for features and marts)"
        )

    # ----- reads

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query (`?` for positional parameters, typed from the Python values) and
        return its rows."""
        typed = [to_query_parameter(v) for v in (params or [])]
        rows = self._run(sql, f"query {sql[:200]!r}", typed)
        try:
            return _arrow_to_pandas(self._arrow(rows))
        except _api_errors() as exc:
            raise translate_error(exc, f"query {sql[:200]!r}", self.settings) from exc

    def table_exists(self, name: str) -> bool:
        """True when dataset.table exists in the project."""
        return self._get_table(name) is not None

    def sample(self, sql: str, params: list[Any] | None, rows: int, seed: int = 7) -> pd.DataFrame:
        """At most `rows` rows of a query, the same ones for the same data and seed (ordered
        by a fingerprint of each row, so nothing but the sample leaves BigQuery)."""
        return self.query(
            f"select * from ({sql}) as sampled "
            f"order by farm_fingerprint(concat(to_json_string(sampled), '{int(seed)}')) "
            f"limit {int(rows)}",
            params,
        )

    def table_rows(self, schemas: list[str]) -> pd.DataFrame:
        """table_schema, table_name, row_count of every table and view in the datasets
        `schemas` (from table metadata: no scan; views count 0; dlt's tables left out)."""
        from google.api_core.exceptions import NotFound

        out = []
        for schema in schemas:
            try:
                listed = list(self.client.list_tables(f"{self.project}.{schema}", retry=self.retry))
            except NotFound:
                continue
            except _api_errors() as exc:
                raise translate_error(exc, f"dataset {schema}", self.settings) from exc
            for item in sorted(listed, key=lambda t: t.table_id):
                if item.table_id.startswith("_dlt"):
                    continue
                table = self.client.get_table(item.reference, retry=self.retry)
                out.append((schema, item.table_id, int(table.num_rows or 0)))
        return pd.DataFrame(out, columns=["table_schema", "table_name", "row_count"])

    def columns(self, name: str) -> list[str]:
        """A table's column names in order, from its metadata: free, where a `select *`
        (even with `limit 0`) would be billed for every column it names."""
        table = self._get_table(name)
        if table is None:
            raise self._missing(name)
        return [field.name for field in table.schema]

    def read_table(self, name: str) -> pd.DataFrame:
        """All rows of a table; a clear error when it is missing. BigQuery DataFrames
        (bigframes) on BigQuery when `bigquery_read_with_bigframes`, otherwise the table's
        rows over the Storage Read API (REST on an emulator, which bigframes cannot use)."""
        table = self._get_table(name)
        if table is None:
            raise self._missing(name)
        if self.uses_bigframes:
            return self._read_with_bigframes(name, lambda frame: frame)
        try:
            return _arrow_to_pandas(self._arrow(self.client.list_rows(table, retry=self.retry)))
        except _api_errors() as exc:
            raise translate_error(exc, f"table {name}", self.settings) from exc

    def snapshot_counts(
        self, name: str, date_column: str, label_column: str, until: dt.date
    ) -> pd.DataFrame:
        """`date_column`, n_rows, n_positive (label true) per snapshot up to `until`, oldest
        first: the cheap query that plans a sample (two columns scanned, a row per date)."""
        if self._get_table(name) is None:
            raise self._missing(name)
        day, label = check_name(date_column), check_name(label_column)
        if self.uses_bigframes:
            counts = self._read_with_bigframes(
                name,
                lambda frame: bigframes_snapshot_counts(frame, day, label, until),
                columns=[day, label],
            )
        else:
            counts = self.query(
                f"select cast(`{day}` as date) as `{day}`, count(*) as n_rows, "
                f"countif(ifnull(safe_cast(`{label}` as bool), false)) as n_positive "
                f"from `{self.table_id(name)}` where `{day}` <= ? group by 1",
                [until],
            )
        return counts.sort_values(day, ignore_index=True)

    def read_sample(self, name: str, sample: StratifiedSample) -> pd.DataFrame:
        """The rows of `name` that `sample` selects, chosen inside BigQuery (bigframes
        operations on BigQuery, one SQL query on an emulator): only they are downloaded."""
        if self._get_table(name) is None:
            raise self._missing(name)
        if self.uses_bigframes:
            return self._read_with_bigframes(name, lambda frame: bigframes_sample(frame, sample))
        return self.query(
            f"select * from `{self.table_id(name)}` where {bigquery_sample_condition(sample)}"
        )

    @property
    def uses_bigframes(self) -> bool:
        """True when reads go through BigQuery DataFrames (real BigQuery, when enabled)."""
        return self.settings.bigquery_read_with_bigframes and not self.on_emulator

    def bigframes_options(self):  # -> bigframes.BigQueryOptions
        """Session options of BigQuery DataFrames: this warehouse's project, location and
        credentials."""
        import bigframes

        credentials, _ = credentials_for(self.settings)
        return bigframes.BigQueryOptions(
            credentials=credentials,
            project=self.project,
            location=self.settings.bigquery_location,
        )

    def _read_with_bigframes(
        self, name: str, select: Callable[[Any], Any], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """`select` applied to the table as a bigframes DataFrame (real BigQuery only), then
        downloaded; its jobs labelled and capped like every other job. The table is read
        without a default index, so bigframes adds no row numbering over the whole table."""
        import bigframes
        import bigframes.enums

        try:
            if self._bigframes_session is None:
                self._bigframes_session = bigframes.connect(self.bigframes_options())
            with bigframes.option_context(
                "compute.maximum_bytes_billed",
                self.settings.bigquery_maximum_bytes_billed,
                "compute.extra_query_labels",
                self.labels,
            ):
                table = self._bigframes_session.read_gbq_table(
                    self.table_id(name),
                    columns=columns or (),
                    index_col=bigframes.enums.DefaultIndexKind.NULL,
                )
                frame = select(table).to_pandas()
        except _api_errors() as exc:
            raise translate_error(exc, f"table {name}", self.settings) from exc
        # bigframes types columns with pyarrow-backed dtypes: give the gateway's dtypes
        return _arrow_to_pandas(pa.Table.from_pandas(frame, preserve_index=False))

    # ----- writes

    def _stage(self, df: pd.DataFrame, name: str, schema=None) -> str:
        """Load `df` into a new staging table (typed by `schema` where given); its id."""
        from google.cloud import bigquery

        dataset = self.settings.bigquery_staging_dataset
        self.ensure_dataset(dataset, STAGING_EXPIRATION_MS)
        staging = f"{self.project}.{dataset}.{name.replace('.', '__')}_{uuid.uuid4().hex[:12]}"
        config = bigquery.LoadJobConfig(
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            labels=self.labels,
        )
        if schema:
            config.schema = [
                bigquery.SchemaField(f.name, f.field_type, mode="NULLABLE", fields=f.fields)
                for f in schema
                if f.name in df.columns
            ]
        frame = df.reset_index(drop=True)
        try:
            load = self.client.load_table_from_dataframe(frame, staging, job_config=config)
            load.result(retry=self.retry)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            self._drop(staging)
            raise WarehouseError(
                f"cannot write {name}: a column does not convert to the table's type ({exc}). "
                "Nothing was written; the previous rows are in place"
            ) from exc
        except _api_errors() as exc:
            self._drop(staging)
            raise translate_error(exc, f"loading rows for {name}", self.settings) from exc
        return staging

    def _drop(self, table_id: str) -> None:
        try:
            self.client.delete_table(table_id, not_found_ok=True, retry=self.retry)
        except _api_errors():
            pass  # staging tables expire on their own

    def _check_writable(self, name: str) -> str:
        if self.read_only:
            raise WarehouseError(f"cannot write {name}: this warehouse was opened read-only")
        table_id = self.table_id(name)
        self.ensure_dataset(name.split(".")[0])
        return table_id

    def _label(self, name: str, table=None) -> None:
        """Put the settings' labels on the table (metadata only)."""
        table = table or self._get_table(name)
        if table is None or all(table.labels.get(k) == v for k, v in self.labels.items()):
            return
        table.labels = {**table.labels, **self.labels}
        try:
            self.client.update_table(table, ["labels"], retry=self.retry)
        except _api_errors() as exc:
            raise translate_error(exc, f"labelling table {name}", self.settings) from exc

    def write_table(self, df: pd.DataFrame, name: str) -> None:
        """Replace the whole table (data and schema) in one statement."""
        table_id = self._check_writable(name)
        staging = self._stage(df, name)
        try:
            self._run(
                f"create or replace table `{table_id}` as select * from `{staging}`",
                f"writing table {name}",
            )
        finally:
            self._drop(staging)
        self._label(name)

    def _stage_rows(self, df: pd.DataFrame, name: str, table_id: str) -> str:
        """Load `df` into a staging table typed like `name` and return it; on first use the
        table `name` is created with the staged schema. The staging table is dropped again if
        the creation fails; otherwise the caller drops it after its statement."""
        from google.cloud import bigquery

        for column in df.columns:
            if not str(column) or any(ch in str(column) for ch in "`\\\n"):
                raise WarehouseError(f"cannot write {name}: invalid column name {column!r}")
        target = self._get_table(name)
        staging = self._stage(df, name, target.schema if target is not None else None)
        if target is None:
            try:
                fields = self.client.get_table(staging, retry=self.retry).schema
                created = bigquery.Table(table_id, schema=fields)
                created.labels = self.labels
                self.client.create_table(created, exists_ok=True, retry=self.retry)
            except _api_errors() as exc:
                self._drop(staging)
                raise translate_error(exc, f"writing rows to {name}", self.settings) from exc
            except BaseException:
                self._drop(staging)
                raise
        return staging

    def replace_rows(self, df: pd.DataFrame, name: str, match: Mapping[str, Any]) -> None:
        """Delete the rows matching `match` and insert `df`, in one atomic statement.

        Columns of `df` are inserted by name; columns of the table missing from `df` get
        nulls. The frame is loaded typed like the table, so a column whose values do not fit
        the table's type fails before anything is changed.
        """
        table_id = self._check_writable(name)
        for column in match:
            check_name(column)
        params = [to_query_parameter(v, f"m{i}") for i, v in enumerate(match.values())]
        staging = self._stage_rows(df, name, table_id)
        try:
            columns = ", ".join(f"`{c}`" for c in df.columns)
            source = ", ".join(f"S.`{c}`" for c in df.columns)
            if match:
                where = " and ".join(f"T.`{c}` = @m{i}" for i, c in enumerate(match))
                sql = (
                    f"merge `{table_id}` T using `{staging}` S on false "
                    f"when not matched by source and {where} then delete "
                    f"when not matched then insert ({columns}) values ({source})"
                )
            else:
                sql = f"insert into `{table_id}` ({columns}) select {source} from `{staging}` S"
            self._run(sql, f"writing rows to {name}", params)
        except _api_errors() as exc:
            raise translate_error(exc, f"writing rows to {name}", self.settings) from exc
        finally:
            self._drop(staging)

    def append_rows(self, df: pd.DataFrame, name: str) -> None:
        """Append rows (creating the table on first use) in one statement."""
        self.replace_rows(df, name, {})

    def insert_new_rows(self, df: pd.DataFrame, name: str, key: Sequence[str]) -> int:
        """Insert the rows of `df` whose `key` is not in the table yet (creating it on first
        use) in one MERGE; returns how many were inserted. Stored rows are never changed."""
        table_id = self._check_writable(name)
        incoming = new_rows(df, name, key)
        staging = self._stage_rows(incoming, name, table_id)
        try:
            columns = ", ".join(f"`{c}`" for c in incoming.columns)
            source = ", ".join(f"S.`{c}`" for c in incoming.columns)
            matched = " and ".join(f"T.`{c}` = S.`{c}`" for c in key)
            rows = self._run(
                f"merge `{table_id}` T using `{staging}` S on {matched} "
                f"when not matched then insert ({columns}) values ({source})",
                f"inserting new rows into {name}",
            )
        finally:
            self._drop(staging)
        return int(getattr(rows, "num_dml_affected_rows", None) or 0)


# ---------- samples chosen inside BigQuery


def fingerprint_bucket_sql(sample: StratifiedSample, id_sql: str, date_sql: str) -> str:
    """BigQuery SQL of a row's sampling bucket in [0, SAMPLE_BUCKETS): FARM_FINGERPRINT of
    id|date|seed. The same expression in the bigframes selection and the emulator query."""
    key = f"concat(cast({id_sql} as string), '|', cast(cast({date_sql} as date) as string), '|', "
    return f"abs(mod(farm_fingerprint({key}'{int(sample.seed)}')), {SAMPLE_BUCKETS}))"


def bigquery_sample_condition(sample: StratifiedSample) -> str:
    """The WHERE clause of a sample in BigQuery SQL (what `bigframes_sample` selects)."""
    day = f"`{sample.date_column}`"
    where = f"{day} in ({sample.date_literals()})"
    if sample.is_everything:
        return where
    bucket = fingerprint_bucket_sql(sample, f"`{sample.id_column}`", day)
    not_false = f"ifnull(safe_cast(`{sample.label_column}` as bool), true)"
    return (
        f"{where} and {bucket} < "
        f"if({not_false}, {sample.positive_threshold}, {sample.negative_threshold})"
    )


def fingerprint_bucket(frame, sample: StratifiedSample):  # -> bigframes.series.Series
    """The sampling bucket of every row of a bigframes DataFrame, computed in BigQuery."""
    import bigframes.bigquery as bbq

    template = fingerprint_bucket_sql(sample, "{0}", "{1}")
    columns = [frame[sample.id_column], frame[sample.date_column]]
    return bbq.sql_scalar(template, columns, output_dtype=pd.Int64Dtype())


def _label_flags(label):  # -> tuple[Series, Series | None]
    """(is true, is false) of a bigframes label column; is-false is None for a label that is
    neither boolean nor integer (nothing is then sampled away: the caller's checks judge it)."""
    if pd.api.types.is_bool_dtype(label.dtype):
        return label.fillna(False), (label == False).fillna(False)  # noqa: E712
    if pd.api.types.is_integer_dtype(label.dtype):
        return (label == 1).fillna(False), (label == 0).fillna(False)
    return label.isna() & label.notna(), None


def bigframes_sample(
    frame, sample: StratifiedSample, bucket: Callable[[Any, StratifiedSample], Any] | None = None
):  # -> bigframes.dataframe.DataFrame
    """The rows of a bigframes DataFrame that `sample` selects, as bigframes operations (lazy:
    BigQuery runs them when the result is downloaded). `bucket` computes each row's sampling
    bucket (default: `fingerprint_bucket`, in BigQuery)."""
    frame = frame[frame[sample.date_column].isin(list(sample.dates))]
    if sample.is_everything:
        return frame
    keyed = (bucket or fingerprint_bucket)(frame, sample)
    _, is_false = _label_flags(frame[sample.label_column])
    keep = keyed < sample.positive_threshold
    if is_false is not None:
        keep = (~is_false & keep) | (is_false & (keyed < sample.negative_threshold))
    return frame[keep]


def bigframes_snapshot_counts(frame, date_column: str, label_column: str, until: dt.date):
    """`date_column`, n_rows, n_positive per snapshot up to `until` of a bigframes
    DataFrame, as one grouped query."""
    frame = frame[frame[date_column] <= until]
    is_true, _ = _label_flags(frame[label_column])
    flags = frame[[date_column]].assign(n_positive=is_true.astype("Int64"))
    return flags.groupby(date_column, as_index=False).agg(
        n_rows=("n_positive", "size"), n_positive=("n_positive", "sum")
    )
