"""Usage events as daily JSON Lines files by arrival day, written once per day.

DuckDB builds the JSON lines of many days in one vectorised query (per-day COPY statements
cost more in overhead than in writing); Python only splits them by day and writes the files.
A query holds its lines in memory twice (Arrow, then each day's joined bytes), so days are
grouped up to a row budget, not a fixed count: 28 days of a million customers (~18M events)
took more than 20 GB when the lines were Python strings.
Non-JSON lines (dirt) are half of a JSON object, as a cut-off delivery would leave them.
With `compress` a day is `events.jsonl.gz` instead (gzip, `files.GZIP_LEVEL`), written whole once.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator import formats
from simulator.storage import SimPaths
from simulator.writers.files import FileWriter

DAYS_PER_QUERY = 28
ROWS_PER_QUERY = 2_000_000  # events; ~1-1.5 GB of lines held at once
PLAIN, GZIPPED = "events.jsonl", "events.jsonl.gz"


def write(paths: SimPaths, as_of: date, folder: Path, compress: bool = False) -> int:
    """Write every missing `dt=YYYY-MM-DD/events.jsonl` (`.jsonl.gz` with `compress`) for
    arrival days before `as_of`; a day already written in either form is left alone.

    Files of days on or after `as_of` (left by a later release) are removed. Returns the
    number of files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cut = as_of.isoformat()
    for d in folder.glob("dt=*"):
        if d.name[3:] >= cut:
            shutil.rmtree(d)
    todo = [
        src
        for src in sorted(paths.usage_dir.glob("*.parquet"))
        if src.stem < cut and not _written(folder, src.stem)
    ]
    name = GZIPPED if compress else PLAIN
    con = formats.connect()
    with FileWriter() as writer:
        for batch in _batches(todo):
            t = con.sql(formats.usage_lines_query([p.as_posix() for p in batch])).to_arrow_table()
            days = t.column("dt").cast(pa.date32()).to_numpy()
            lines = t.column("line").cast(pa.large_string()).combine_chunks()
            for src in batch:
                day = np.datetime64(src.stem, "D")
                lo = int(np.searchsorted(days, day, side="left"))
                hi = int(np.searchsorted(days, day, side="right"))
                writer.submit(folder / f"dt={src.stem}" / name, joined_lines(lines[lo:hi]))
    return len(todo)


def forget_released(paths: SimPaths, folder: Path) -> int:
    """Remove the private history of every day whose file `folder` holds; return the bytes
    freed. A release writes only the days it has not written, so it never reads these again
    (a released file deleted later is then not written again). For a run short of disk: two
    years of a million customers' usage history are 6 GB."""
    freed = 0
    for src in paths.usage_dir.glob("*.parquet"):
        if _written(folder, src.stem):
            freed += src.stat().st_size
            src.unlink()
    return freed


def _written(folder: Path, day: str) -> bool:
    """Whether `folder` holds the file of `day` (YYYY-MM-DD), plain or gzipped."""
    return any((folder / f"dt={day}" / name).exists() for name in (PLAIN, GZIPPED))


def joined_lines(lines: pa.Array) -> bytes:
    """The lines, each ending in a newline, as UTF-8: joined by Arrow, where a Python list
    of the lines and a join of them were a quarter of a release's CPU time."""
    if len(lines) == 0:
        return b""
    one_list = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines)
    joined = pc.binary_join(one_list, pa.scalar("\n", pa.large_string()))
    return joined.cast(pa.large_binary())[0].as_py() + b"\n"


def _batches(days: list[Path]) -> list[list[Path]]:
    """Consecutive days, at most DAYS_PER_QUERY and ROWS_PER_QUERY events a batch (a day
    larger than the budget alone)."""
    batches: list[list[Path]] = []
    rows = 0
    for day in days:
        n = pq.ParquetFile(day).metadata.num_rows
        if batches and len(batches[-1]) < DAYS_PER_QUERY and rows + n <= ROWS_PER_QUERY:
            batches[-1].append(day)
            rows += n
        else:
            batches.append([day])
            rows = n
    return batches
