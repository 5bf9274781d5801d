"""Customer DB tables (and the CS app's own action store) into `raw` via SQLAlchemy.

dlt's `sql_table` reflects the table, so raw columns keep the DB's types, and reads with the
pyarrow backend; the insert-only key keeps every customer version seen once and never
rewrites it. The cursor is ours, not dlt's `incremental` (ingestion/cursor.py): the query
filters `cursor >= stored value`, and the new value is the largest one up to the load's
bound, computed on the Arrow tables, so a row dated in the future lands without hiding the
rows that come after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dlt.sources.sql_database import sql_table

from ingestion.common import INSERT_ONLY, RELEASE_HINT, raw_schema_settings
from ingestion.cursor import Cursor, datetime_key, load_bound
from ingestion.errors import IngestionError
from ingestion.metadata import add_metadata, metadata_hints
from warehouse.settings import Settings

log = logging.getLogger(__name__)


class _MetadataHintWarning(logging.Filter):
    """Drop dlt's warning about our added metadata columns, which are hinted on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "do not match any reflected source columns" not in record.getMessage()


logging.getLogger("dlt").addFilter(_MetadataHintWarning())


@dataclass(frozen=True)
class TableSpec:
    """One source table and how it lands."""

    table: str
    raw_name: str
    cursor: str
    key: tuple[str, ...]
    # an optional table is skipped while the source has not created it (an older store)
    optional: bool = False


CUSTOMER_TABLES = (
    TableSpec("customers", "crm_customers", "updated_at", ("customer_id", "updated_at")),
    TableSpec("cs_actions", "crm_cs_actions", "action_at", ("action_id",)),
)
APP_TABLES = (
    TableSpec("cs_actions", "app_cs_actions", "action_at", ("action_id",)),
    # sign-ins and signed actions (dashboards/audit_log.py); a store written before the app
    # had sign-in has no such table yet
    TableSpec("audit_events", "app_audit_events", "event_at", ("event_id",), optional=True),
)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases or in-memory)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def open_engine(source: str, url: str, hint: str) -> sa.Engine:
    """An engine that is known to connect; SQLite files must already exist.

    SQLite would silently create an empty file for a wrong path, and a wrong Postgres host
    otherwise fails deep inside dlt, so both are checked here with a message saying what to fix.
    """
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise IngestionError(source, f"no database file {path} — {hint}")
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise IngestionError(
            source, f"cannot connect to {safe_url(url)}: {exc.__class__.__name__}: {exc.orig}"
        ) from exc
    return engine


def _encode(value: datetime | date) -> str:
    """How a database cursor value is kept in state: ISO text, naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def _db_value(stored: str, column: sa.Column[Any]) -> datetime | date:
    """The stored cursor as a parameter for `column` (naive UTC unless the column has a zone)."""
    value = datetime.fromisoformat(stored)
    if isinstance(column.type, sa.Date):
        return value.date()
    if getattr(column.type, "timezone", False):
        return value.replace(tzinfo=UTC)
    return value


def capped_max(column: pa.ChunkedArray | pa.Array, bound: datetime) -> Any:
    """The largest value of a timestamp or date column that is <= `bound` (None if none)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        limit = bound.replace(tzinfo=UTC) if kind.tz else bound
        # a coarser unit truncates the bound, which only makes it stricter
        scalar = pa.scalar(limit, type=pa.timestamp("us", tz=kind.tz)).cast(kind, safe=False)
    elif pa.types.is_date(kind):
        scalar = pa.scalar(bound.date(), type=pa.date32()).cast(kind)
    else:
        raise TypeError(f"cursor column type {kind} is not a timestamp or date")
    return pc.max(pc.filter(column, pc.less_equal(column, scalar))).as_py()


class _TableCursor:
    """Our cursor for one `sql_table` resource: a WHERE clause in, a capped max out.

    dlt calls the query adapter when the extraction starts, so that is where the stored
    value is read (and an old dlt `incremental` state upgraded); each Arrow table then
    passes through `observe` before it is stamped and written.
    """

    def __init__(self, source: str, spec: TableSpec, settings: Settings) -> None:
        self.source = source
        self.spec = spec
        self.settings = settings
        self.cursor: Cursor | None = None

    def _open(self) -> Cursor:
        if self.cursor is None:
            state = dlt.current.resource_state(self.spec.raw_name)
            bound = load_bound(self.settings)
            self.cursor = Cursor(state, self.spec.cursor, datetime_key, bound, _encode)
        return self.cursor

    def adapt_query(self, query: Any, table: sa.Table, *_: Any) -> Any:
        """`where <cursor> >= :stored` (everything on the first run)."""
        cursor = self._open()
        if cursor.start is None:
            return query
        column = table.c[self.spec.cursor]
        return query.where(column >= _db_value(cursor.start, column))

    def observe(self, item: Any) -> Any:
        """Move the cursor to the table's largest value within the bound; pass the item on."""
        if isinstance(item, pa.RecordBatch):
            item = pa.Table.from_batches([item])
        if isinstance(item, pa.Table) and item.num_rows:
            cursor = self._open()
            try:
                value = capped_max(item.column(self.spec.cursor), load_bound(self.settings))
            except (KeyError, TypeError) as exc:
                raise IngestionError(
                    self.source, f"table {self.spec.table!r}, cursor {self.spec.cursor}: {exc}"
                ) from exc
            if value is not None:
                cursor.observe(value)
        return item


def table_resource(source: str, engine: sa.Engine, spec: TableSpec, settings: Settings) -> Any:
    """An incremental (our cursor), insert-only dlt resource for one table."""
    cursor = _TableCursor(source, spec, settings)
    resource = sql_table(
        credentials=engine,
        table=spec.table,
        backend="pyarrow",
        incremental=None,
        query_adapter_callback=cursor.adapt_query,
        primary_key=list(spec.key),
        write_disposition=INSERT_ONLY,
        reflection_level="full",
    ).with_name(spec.raw_name)
    # The hints type the columns `add_metadata` appends (naive UTC `_loaded_at`); they do
    # apply, though sql_table warns that they are not reflected columns (filtered below).
    resource.apply_hints(columns=metadata_hints())
    return resource.add_map(cursor.observe).add_map(add_metadata)


def _check_tables(
    source: str, engine: sa.Engine, specs: tuple[TableSpec, ...], hint: str
) -> tuple[TableSpec, ...]:
    """The specs to load: every required table must exist; a missing optional one is left out."""
    inspector = sa.inspect(engine)
    present = []
    for spec in specs:
        if inspector.has_table(spec.table):
            present.append(spec)
        elif spec.optional:
            log.info("%s: no table %r yet, skipping it", source, spec.table)
        else:
            raise IngestionError(
                source, f"table {spec.table!r} not found in {safe_url(str(engine.url))} — {hint}"
            )
    return tuple(present)


@dlt.source(name="customer_db", max_table_nesting=0)
def customer_db_source(settings: Settings) -> Any:
    """`customers` and `cs_actions` into `raw.crm_customers` / `raw.crm_cs_actions`."""
    raw_schema_settings()
    hint = f"{RELEASE_HINT}, or set CHURN_CUSTOMER_DB_URL"
    engine = open_engine("customer_db", settings.customer_db, hint)
    _check_tables("customer_db", engine, CUSTOMER_TABLES, hint)
    return [table_resource("customer_db", engine, spec, settings) for spec in CUSTOMER_TABLES]


def app_store_ready(settings: Settings) -> bool:
    """False (with a log line) while the CS app has not created its store yet."""
    path = sqlite_file(settings.app_actions_db)
    if path is not None and not path.is_file():
        log.info("app_actions: no store at %s yet, skipping", path)
        return False
    return True


@dlt.source(name="app_actions", max_table_nesting=0)
def app_actions_source(settings: Settings) -> Any:
    """The CS app's own `cs_actions` and `audit_events` into `raw.app_cs_actions` and
    `raw.app_audit_events`."""
    raw_schema_settings()
    hint = "the CS app creates it on its first action; or set CHURN_APP_ACTIONS_DB_URL"
    engine = open_engine("app_actions", settings.app_actions_db, hint)
    tables = _check_tables("app_actions", engine, APP_TABLES, hint)
    return [table_resource("app_actions", engine, spec, settings) for spec in tables]
