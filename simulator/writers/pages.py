"""Paged JSON files that only grow: full pages are written once, the last page is rewritten.

Records are a prefix of one fixed global order (the order never depends on the release day),
so page k of a later release equals page k of an earlier one whenever the earlier one was full.
With `compress` pages are gzip files (`page-00001.json.gz`); a folder holds one form only.
Records are read PAGES_PER_READ pages at a time by their `seq`, so memory stays flat however
many pages a release writes (a million customers' Stripe history is 23M events).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.writers.files import FileWriter

Render = Callable[[int, list[str], bool, int], str]
PAGES_PER_READ = 500


PLAIN, GZIPPED = ".json", ".json.gz"


def page_path(folder: Path, k: int, compress: bool = False) -> Path:
    """`page-00001.json` (or `.json.gz`) style path of page k (1-based)."""
    return folder / f"page-{k:05d}{GZIPPED if compress else PLAIN}"


def write_pages(
    folder: Path,
    source: Path,
    time_col: str,
    cutoff: int,
    page_size: int,
    render: Render,
    rewrite_all: bool = False,
    compress: bool = False,
) -> int:
    """Write the records of `source` (columns seq, <time_col>, json) with time < cutoff.

    `render(page_no, items, is_last, total)` returns a page's text; `rewrite_all` is for pages
    that show the total (every page changes); `compress` gzips each page (`files.GZIP_LEVEL`), and
    pages of the other form are removed first. Returns the page count.
    """
    folder.mkdir(parents=True, exist_ok=True)
    times = pq.read_table(source, columns=[time_col]).column(time_col)
    total = int(pc.sum(pc.less(times, cutoff)).as_py() or 0)
    n_pages = max(1, -(-total // page_size))
    for p in folder.glob(f"page-*{PLAIN if compress else GZIPPED}"):
        p.unlink()
    existing = sorted(folder.glob(f"page-*{GZIPPED if compress else PLAIN}"))
    for p in existing[n_pages:]:
        p.unlink()
    first = 1 if rewrite_all else max(1, min(len(existing), n_pages))  # last page onwards
    with FileWriter() as writer:
        for start in range(first, n_pages + 1, PAGES_PER_READ):
            stop = min(start + PAGES_PER_READ, n_pages + 1)
            lo, hi = (start - 1) * page_size, min((stop - 1) * page_size, total)
            span = [("seq", ">", lo), ("seq", "<=", hi)]
            rows = pq.read_table(source, columns=["json"], filters=span)
            items = rows.column("json").to_pylist()
            for k in range(start, stop):
                chunk = items[(k - start) * page_size : (k - start + 1) * page_size]
                text = render(k, chunk, k == n_pages, total)
                writer.submit(page_path(folder, k, compress), text)
    return n_pages
