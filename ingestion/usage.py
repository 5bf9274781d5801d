"""Usage event files (`usage/dt=YYYY-MM-DD/events.jsonl`, or `.jsonl.gz`) into `raw.usage_events`.

Volume is the concern here (tens of millions of events), so new files are parsed by DuckDB into
Arrow and handed to dlt as Arrow; Python touches rows only for the new tail of a file that grew
and for a file DuckDB refuses or must not read whole (invalid UTF-8, our delimiter byte, a last
line held back). Every line lands: a line that is not a JSON object lands with null fields and
its text in `_raw_line`; an object with keys beyond KEYS keeps its whole text in `_event_json`
(raw keeps what the source sent); a line whose bytes are not UTF-8 lands with U+FFFD in their
place and `_parse_error` saying so, the other lines of its file untouched.

Which bytes of which file to load is the ledger's business (`ingestion.usage_files`: files are
loaded by content, a grown file's new lines once, a rewritten file whole again). A last line
with no newline yet is held back until it is complete, or until its file has not changed for a
whole run, so no line lands half now and half later. Every file load is recorded in
`raw.usage_file_loads` (one row per file per load: new, appended or rewritten, the bytes
[first_byte, last_byte), the SHA-256 of all bytes loaded so far, the rows), so a data engineer
and the dbt tests can see which file grew or was rewritten.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.common import RELEASE_HINT, col, raw_schema_settings
from ingestion.errors import IngestionError
from ingestion.metadata import add_to_table, metadata_hints
from ingestion.usage_files import (
    APPENDED,
    Ledger,
    Mark,
    Todo,
    UnfinishedGzip,
    decompress,
    is_gzip,
    read_rest,
    scan,
    source_name,
)
from warehouse.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "usage"
KEYS = (
    "event_id",
    "customer_id",
    "user_id",
    "event_type",
    "feature",
    "occurred_at",
    "received_at",
)
SOURCE_FILE = "_source_file"
RAW_LINE = "_raw_line"
EVENT_JSON = "_event_json"
PARSE_ERROR = "_parse_error"
BAD_UTF8 = "invalid UTF-8 bytes"
TEXT_COLUMNS = (*KEYS, SOURCE_FILE, RAW_LINE, EVENT_JSON, PARSE_ERROR)
SCHEMA = pa.schema([(k, pa.string()) for k in TEXT_COLUMNS])
COLUMNS: dict[str, Any] = {
    **{k: col("text") for k in TEXT_COLUMNS},
    **metadata_hints(),
}

FILE_LOADS = "usage_file_loads"
FILE_LOAD_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("change", pa.string(), nullable=False),
        pa.field("first_byte", pa.int64(), nullable=False),
        pa.field("last_byte", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("rows_landed", pa.int64(), nullable=False),
    ]
)
_KNOWN = frozenset(KEYS)

_STRUCT = "{" + ", ".join(f'"{k}": "VARCHAR"' for k in KEYS) + "}"
_SELECT = ", ".join(f"s.{k} as {k}" for k in KEYS)
_KEY_LIST = "[" + ", ".join(f"'{k}'" for k in KEYS) + "]"
# One column per line: a delimiter and quote that never split a line. `ok` is computed on a
# guarded value because DuckDB evaluates both sides of AND/CASE on malformed JSON. A line with
# a key beyond KEYS keeps its text in _event_json; DuckDB refuses invalid UTF-8 (the file then
# goes to the line parser), so _parse_error is always null here.
_QUERY = f"""
with lines as (
    select filename, line
    from read_csv($files, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1),
                  quote = '', escape = '', comment = '', skip = 0, auto_detect = false,
                  filename = true, strict_mode = false, parallel = true)
    where trim(line) <> ''
), checked as (
    select filename, line,
           coalesce(json_type(if(json_valid(line), line, 'null')) = 'OBJECT', false) as ok
    from lines
), parsed as (
    select filename, line, ok, from_json(if(ok, line, '{{}}'), '{_STRUCT}') as s,
           not list_has_all({_KEY_LIST}, json_keys(if(ok, line, '{{}}'))) as extra
    from checked
)
select {_SELECT},
       array_to_string(string_split(replace(filename, chr(92), '/'), '/')[-2:], '/')
           as {SOURCE_FILE},
       if(ok, null, line) as {RAW_LINE},
       if(extra, line, null) as {EVENT_JSON},
       cast(null as varchar) as {PARSE_ERROR}
from parsed
"""


def file_load_columns() -> dict[str, Any]:
    """dlt column hints of `raw.usage_file_loads`, fresh each call (dlt writes into them)."""
    return {
        "source_file": col("text", nullable=False),
        "change": col("text", nullable=False),
        "first_byte": col("bigint", nullable=False),
        "last_byte": col("bigint", nullable=False),
        "sha256": col("text", nullable=False),
        "rows_landed": col("bigint", nullable=False),
        **metadata_hints(),
    }


def list_files(settings: Settings) -> list[Path]:
    """All event files of the release (`events.jsonl` and `events.jsonl.gz`), oldest day
    first."""
    root = settings.usage_path
    if not root.is_dir():
        raise IngestionError(SOURCE, f"no directory {root} — {RELEASE_HINT}")
    return sorted([*root.glob("dt=*/events.jsonl"), *root.glob("dt=*/events.jsonl.gz")])


def read_with_duckdb(paths: Sequence[Path]) -> pa.Table:
    """Parse whole files in one DuckDB query (both cores, no Python per row)."""
    con = duckdb.connect()
    try:
        files = [str(p) for p in paths]
        return con.sql(_QUERY, params={"files": files}).to_arrow_table().cast(SCHEMA)
    finally:
        con.close()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_lines(data: bytes, name: str) -> pa.Table:
    """Slow but forgiving parser of JSON lines (bad bytes, huge lines, a file's new tail).

    Same columns as the DuckDB query; a line whose bytes are not UTF-8 is decoded with
    U+FFFD replacements and marked in `_parse_error`.
    """
    columns: dict[str, list[str | None]] = {n: [] for n in SCHEMA.names}
    for raw in io.BytesIO(data):
        try:
            text, error = raw.decode("utf-8"), None
        except UnicodeDecodeError:
            text, error = raw.decode("utf-8", errors="replace"), BAD_UTF8
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        is_obj = isinstance(obj, dict)
        for key in KEYS:
            columns[key].append(_as_text(obj.get(key)) if is_obj else None)
        columns[SOURCE_FILE].append(name)
        columns[RAW_LINE].append(None if is_obj else text)
        columns[EVENT_JSON].append(text if is_obj and not _KNOWN.issuperset(obj) else None)
        columns[PARSE_ERROR].append(error)
    return pa.table(columns, schema=SCHEMA)


def read_with_python(path: Path) -> pa.Table:
    """A whole file through the line parser (decompressed first if it is gzip)."""
    data = path.read_bytes()
    if is_gzip(path):
        data = decompress(data, source_name(path))
    return parse_lines(data, source_name(path))


def read_files(paths: Sequence[Path]) -> pa.Table:
    """Parse whole files with DuckDB; if it refuses, retry file by file, then line by line.

    The caller sends only files that `scan` found clean (no 0x01 byte, our one-column
    delimiter, which would cut a `_raw_line`; no last line to hold back).
    """
    try:
        return read_with_duckdb(paths)
    except duckdb.Error:
        if len(paths) > 1:
            return pa.concat_tables([read_files([p]) for p in paths])
        log.warning("usage: DuckDB could not parse %s; parsing it line by line", paths[0])
        return read_with_python(paths[0])


@dataclass(frozen=True)
class FileLoad:
    """One file's part of a run: what was asked, the ledger's new mark, the rows landed."""

    todo: Todo
    mark: Mark
    rows: int

    @property
    def landed(self) -> bool:
        """False when an appended file brought no bytes (only touched, or a held-back line)."""
        return self.todo.change != APPENDED or self.mark.loaded > self.todo.start


def _read_rest(todo: Todo) -> tuple[pa.Table, FileLoad] | None:
    """The line parser on the bytes the ledger does not have yet; None if rewritten."""
    piece = read_rest(todo)
    if piece is None:
        return None
    table = parse_lines(piece.data, todo.name)
    return table, FileLoad(todo, piece.mark, table.num_rows)


def _read_whole(todo: Todo) -> tuple[pa.Table, FileLoad]:
    """The line parser on a whole file (it has no loaded prefix to check)."""
    try:
        read = _read_rest(Todo(todo.path, todo.change))
    except UnfinishedGzip as exc:
        raise IngestionError(SOURCE, f"{exc} after it was checked; run again") from exc
    if read is None:
        raise IngestionError(SOURCE, f"{todo.path} changed while it was read; run again")
    return read


def read_batch(batch: Sequence[Todo]) -> tuple[list[pa.Table], list[FileLoad]]:
    """Read a batch of files: new tails line by line, whole files by DuckDB when it may.

    A grown file whose loaded bytes changed is read whole again as rewritten. A file that
    changed between its hash and DuckDB's read (size or mtime moved) is dropped from DuckDB's
    rows and read again by the line parser, which hashes exactly what it parses.
    """
    parsed: list[tuple[pa.Table, FileLoad]] = []
    fast: list[tuple[Todo, Mark]] = []
    for todo in batch:
        if todo.change == APPENDED:
            read = _read_rest(todo)
            if read is not None:
                parsed.append(read)
                continue
            log.warning("usage: %s was rewritten; landing all of it again", todo.name)
            todo = todo.rewritten()
        try:
            mark, clean = scan(todo.path)
        except UnfinishedGzip as exc:
            log.warning("usage: %s; it is read again next run", exc)
            continue
        if clean:
            fast.append((todo, mark))
        else:
            parsed.append(_read_whole(todo))
    tables = [table for table, _ in parsed]
    loads = [load for _, load in parsed]
    if not fast:
        return tables, loads
    table = read_files([todo.path for todo, _ in fast])
    rows = {c["values"]: c["counts"] for c in pc.value_counts(table[SOURCE_FILE]).to_pylist()}
    moved = [todo for todo, mark in fast if not mark.same_stat(todo.path.stat())]
    if moved:
        names = pa.array([todo.name for todo in moved])
        table = table.filter(pc.invert(pc.is_in(table[SOURCE_FILE], value_set=names)))
        for todo in moved:
            log.info("usage: %s changed while it was read; reading it again", todo.name)
            moved_table, load = _read_whole(todo)
            tables.append(moved_table)
            loads.append(load)
    tables.append(table)
    loads += [FileLoad(t, m, rows.get(t.name, 0)) for t, m in fast if t not in moved]
    return tables, loads


def file_loads_table(loads: Sequence[FileLoad]) -> pa.Table:
    """Rows of `raw.usage_file_loads`; `first_byte`..`last_byte` is half-open, [first, last)."""
    return pa.table(
        {
            "source_file": [load.todo.name for load in loads],
            "change": [load.todo.change for load in loads],
            "first_byte": [load.todo.start for load in loads],
            "last_byte": [load.mark.loaded for load in loads],
            "sha256": [load.mark.sha256 for load in loads],
            "rows_landed": [load.rows for load in loads],
        },
        schema=FILE_LOAD_SCHEMA,
    )


@dataclass
class UsageRun:
    """One ingestion run of usage files, made of loads of at most `max_bytes` of files each.

    A first load of years of files would otherwise be one dlt package: all its events
    extracted to disk before any lands (1M customers: 468M events), and lost whole if the
    run stops. `seen` keeps a file to one load per run, so a held-back last line is still
    flushed only after a whole run without change; `left` is what the last load left over.
    """

    max_bytes: int
    seen: set[str] = field(default_factory=set)
    left: int = 0

    def take(self, todo: list[Todo]) -> list[Todo]:
        """This load's files: the planned ones not read yet this run, up to `max_bytes`
        (at least one)."""
        fresh = [t for t in todo if t.name not in self.seen]
        taken, size = [], 0
        for t in fresh:
            size += t.path.stat().st_size - t.start
            if taken and size > self.max_bytes:
                break
            taken.append(t)
        self.seen.update(t.name for t in taken)
        self.left = len(fresh) - len(taken)
        return taken


@dlt.source(name="usage", max_table_nesting=0)
def usage_source(settings: Settings, run: UsageRun | None = None) -> Any:
    """Events into `raw.usage_events`, appended, each byte of a file once; file loads into
    `raw.usage_file_loads`. With `run`, this load takes only its share of the files."""
    raw_schema_settings()

    @dlt.resource(name="usage_events", write_disposition="append", columns=COLUMNS)
    def usage_events() -> Iterator[Any]:
        ledger = Ledger(dlt.current.resource_state())
        known = len(ledger)
        todo = ledger.plan(list_files(settings))
        if run is not None:
            planned = len(todo)
            todo = run.take(todo)
            if run.left or planned > len(todo):
                log.info("usage: this load takes %d of %d planned file(s)", len(todo), planned)
        log.info("usage: %d file(s) to read, %d in the ledger", len(todo), known)
        size = max(1, settings.ingestion_usage_files_per_batch)
        for start in range(0, len(todo), size):
            tables, loads = read_batch(todo[start : start + size])
            for load in loads:
                ledger.record(load.todo.name, load.mark)
            events = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
            if events.num_rows:
                yield add_to_table(events)
            landed = [load for load in loads if load.landed]
            if landed:
                yield dlt.mark.with_table_name(add_to_table(file_loads_table(landed)), FILE_LOADS)

    # the file loads are a table variant of the same resource (one generator, one ledger). A
    # variant starts from the resource's hints: empty its columns first, then declare its own.
    usage_events.apply_hints(table_name=FILE_LOADS, columns={}, create_table_variant=True)
    usage_events.apply_hints(
        table_name=FILE_LOADS,
        write_disposition="append",
        columns=file_load_columns(),
        create_table_variant=True,
    )
    return usage_events
