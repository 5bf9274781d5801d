"""API pages, read from disk (`<dir>/page-00001.json`, ...) or fetched: one `Page` each.

A page on disk may be gzipped (`page-00001.json.gz`, as large exports are). One that does not
decompress to its end is quarantined as one row holding its bytes in base64, like a page
that is not JSON, and read again next run.

A page that cannot be read whole never stops the others: bytes that are not UTF-8 are
decoded with U+FFFD (the records that contain it go to quarantine), and a page that is not
JSON, or holds no list of records, is kept as text with the reason (quarantined as one row).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.common.json import json as fast_json

from ingestion.errors import IngestionError

# a JSON escape of a UTF-16 surrogate: valid JSON, but alone it is not valid Unicode
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# 19 digits in a row may be an integer beyond 64 bits, which dlt's fast parser (orjson)
# turns into a float; the standard parser keeps it an int (then quarantined as out of range).
# Found by mapping every digit to "0" and anything else to " " (~20x faster than a regex).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_DIGIT_RUN = b"0" * 19
# resource state key: {page file: [size, mtime_ns]} of the pages read by earlier runs
PAGE_MARKS = "page_files"


@dataclass(frozen=True)
class Page:
    """One page of records and where it came from.

    `name` is what a quarantine row and an error message call it: the file's path relative
    to the source's pages directory (`tickets/page-00003.json`), or the endpoint and page
    number within this run. `error` says why the page itself could not be read; then
    `records` is empty and `text` holds what was read.
    """

    name: str
    records: list[Any] = field(default_factory=list)
    error: str | None = None
    text: str | None = None
    bad_utf8: bool = False
    odd_unicode: bool = False


def records_of(name: str, body: Any, key: str) -> Page:
    """The page's list under `key`; a page without it is empty, one that is not a list fails."""
    records = body.get(key) if isinstance(body, dict) else None
    if records is None and isinstance(body, dict):
        return Page(name)
    if not isinstance(records, list):
        return Page(name, error=f"page is not a JSON object with a {key!r} list")
    return Page(name, records)


def api_page(source: str, name: str, body: Any, key: str) -> Page:
    """A fetched page; one without its list of records breaks the API's contract and fails."""
    page = records_of(name, body, key)
    if page.error:
        raise IngestionError(source, f"GET {name}: {page.error}")
    return page


def page_files(source: str, directory: Path, hint: str) -> list[Path]:
    """The page files (`.json` or `.json.gz`) in order; a clear error when the directory is
    missing."""
    if not directory.is_dir():
        raise IngestionError(source, f"no directory {directory} — {hint}")
    return sorted([*directory.glob("page-*.json"), *directory.glob("page-*.json.gz")])


def parse_json(text: str, data: bytes) -> Any:
    """The JSON value of `text` (read from `data`): what `json.loads` returns, ~2x faster.

    dlt's parser (orjson) refuses what it would read differently (NaN, 1e400, lone
    surrogates) and those pages, and any with a possible 65-bit integer, go to `json.loads`,
    which also words the error of a page that is not JSON.
    """
    if _LONG_DIGIT_RUN not in data.translate(_DIGITS_AS_ZERO):
        try:
            return fast_json.loads(text)
        except ValueError:
            pass
    return json.loads(text)


def read_page(path: Path, root: Path, key: str) -> Page:
    """One page file, named relative to `root`, never raising on its content."""
    name = path.relative_to(root).as_posix()
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            text = base64.b64encode(data).decode("ascii")
            return Page(name, error=f"page is not a whole gzip file ({exc})", text=text)
    try:
        text = data.decode("utf-8")
        bad_utf8 = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        bad_utf8 = True
    try:
        body = parse_json(text, data)
    except json.JSONDecodeError as exc:
        return Page(name, error=f"page is not valid JSON: {exc}", text=text)
    page = records_of(name, body, key)
    # only a page with a \u escape can hold a lone surrogate (a byte search, then the regex)
    odd = bad_utf8 or (b"\\u" in data and _SURROGATE_ESCAPE.search(text) is not None)
    if page.error:
        return Page(name, error=page.error, text=text)
    return Page(name, page.records, bad_utf8=bad_utf8, odd_unicode=odd)


def disk_pages(
    source: str,
    root: Path,
    entity: str,
    key: str,
    hint: str,
    state: dict[str, Any] | None = None,
) -> Iterator[Page]:
    """Each page file of `root/entity` in file-name order.

    With `state` (the resource's dlt state, saved with the load) a page file read by an
    earlier run and unchanged since (same size and mtime) is not read again: its records
    are behind the cursor, and a release rewrites only its last page and adds new ones, so
    a week's run reads the new pages instead of years of them (at a million customers,
    233k Stripe pages). A page that could not be read is read again every run.
    """
    marks: dict[str, list[int]] = state.get(PAGE_MARKS, {}) if state is not None else {}
    kept: dict[str, list[int]] = {}
    for path in page_files(source, root / entity, hint):
        name = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
            mark = [stat.st_size, stat.st_mtime_ns]
            if marks.get(name) == mark:
                kept[name] = mark
                continue
            page = read_page(path, root, key)
        except OSError as exc:
            raise IngestionError(source, f"cannot read page {path}: {exc}") from exc
        yield page
        if page.error is None:
            kept[name] = mark
    if state is not None:
        state[PAGE_MARKS] = kept
