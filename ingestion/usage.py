"""Usage event files (`usage/dt=YYYY-MM-DD/events.jsonl`) into `raw.usage_events`.

Volume is the concern here (tens of millions of events), so files are parsed by DuckDB into
Arrow and handed to dlt as Arrow; Python never touches a row unless DuckDB refuses a file
(e.g. invalid UTF-8), in which case that file is parsed line by line instead. Every line
lands: a line that is not a JSON object lands with null fields and its text in `_raw_line`.
Each file is loaded exactly once, remembered in dlt resource state (the ledger).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa

from ingestion.common import RELEASE_HINT, col, raw_schema_settings
from ingestion.errors import IngestionError
from ingestion.metadata import add_to_table, metadata_hints
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
SCHEMA = pa.schema([(k, pa.string()) for k in (*KEYS, SOURCE_FILE, RAW_LINE)])
COLUMNS: dict[str, Any] = {
    **{k: col("text") for k in (*KEYS, SOURCE_FILE, RAW_LINE)},
    **metadata_hints(),
}
LEDGER = "loaded_files"
_DELIMITER = b"\x01"

_STRUCT = "{" + ", ".join(f'"{k}": "VARCHAR"' for k in KEYS) + "}"
_SELECT = ", ".join(f"s.{k} as {k}" for k in KEYS)
# One column per line: a delimiter and quote that never split a line. `ok` is computed on a
# guarded value because DuckDB evaluates both sides of AND/CASE on malformed JSON.
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
    select filename, line, ok, from_json(if(ok, line, '{{}}'), '{_STRUCT}') as s from checked
)
select {_SELECT},
       array_to_string(string_split(replace(filename, chr(92), '/'), '/')[-2:], '/')
           as {SOURCE_FILE},
       if(ok, null, line) as {RAW_LINE}
from parsed
"""


def source_name(path: Path) -> str:
    """The ledger key and `_source_file` value of a file: `dt=YYYY-MM-DD/events.jsonl`."""
    return f"{path.parent.name}/{path.name}"


def list_files(settings: Settings) -> list[Path]:
    """All event files of the release, oldest day first."""
    root = settings.usage_path
    if not root.is_dir():
        raise IngestionError(SOURCE, f"no directory {root} — {RELEASE_HINT}")
    return sorted(root.glob("dt=*/events.jsonl"))


def read_with_duckdb(paths: Sequence[Path]) -> pa.Table:
    """Parse files in one DuckDB query (both cores, no Python per row)."""
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


def read_with_python(path: Path) -> pa.Table:
    """Slow but forgiving parser for a file DuckDB could not read (bad bytes, huge lines)."""
    columns: dict[str, list[str | None]] = {name: [] for name in SCHEMA.names}
    name = source_name(path)
    with path.open("rb") as handle:
        for raw in handle:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
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
    return pa.table(columns, schema=SCHEMA)


def read_files(paths: Sequence[Path]) -> pa.Table:
    """Parse a batch of files; if DuckDB refuses it, retry file by file, then line by line.

    A file holding the byte 0x01 (our one-column delimiter, never valid inside JSON) goes to
    the line parser directly, so its `_raw_line` text is not cut at that byte.
    """
    odd = [p for p in paths if _DELIMITER in p.read_bytes()]
    if odd:
        rest = [p for p in paths if p not in odd]
        parts = [read_with_python(p) for p in odd] + ([read_files(rest)] if rest else [])
        return pa.concat_tables(parts)
    try:
        return read_with_duckdb(paths)
    except duckdb.Error:
        if len(paths) > 1:
            return pa.concat_tables([read_files([p]) for p in paths])
        log.warning("usage: DuckDB could not parse %s; parsing it line by line", paths[0])
        return read_with_python(paths[0])


@dlt.source(name="usage", max_table_nesting=0)
def usage_source(settings: Settings) -> Any:
    """Events into `raw.usage_events`, appended, each file once."""
    raw_schema_settings()

    @dlt.resource(name="usage_events", write_disposition="append", columns=COLUMNS)
    def usage_events() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        ledger: list[str] = state.setdefault(LEDGER, [])
        done = set(ledger)
        todo = [p for p in list_files(settings) if source_name(p) not in done]
        log.info("usage: %d new file(s), %d already loaded", len(todo), len(done))
        size = max(1, settings.ingestion_usage_files_per_batch)
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            table = read_files(batch)
            ledger.extend(source_name(p) for p in batch)
            if table.num_rows:
                yield add_to_table(table)

    return usage_events
